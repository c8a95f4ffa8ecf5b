"""The HTTP API (FastAPI): jobs, synchronous translation, models, probes, metrics and the
web page. Importing it never imports torch or transformers, and builds no app: call
:func:`create_app` with the settings and the job store.
"""

from service.api.app import create_app

__all__ = ["create_app"]
