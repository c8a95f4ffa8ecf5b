"""Pure text functions: segmentation, guards, grounding, extractive summaries.

No model library is imported here, and nothing from the layers above.
"""
