"""Passeur: self-hosted French→English news translation with bullet summaries.

Importing this package is cheap: it never imports torch or transformers. The heavy
pieces load when a model is loaded (``service.pipeline.translate``, ``service.pipeline.summaries``).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
