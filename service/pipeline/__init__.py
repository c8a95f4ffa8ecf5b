"""One article end to end: routing, translation, reassembly, guards, summaries.

The pipeline receives its engines; it never looks up the registry or a store.
"""
