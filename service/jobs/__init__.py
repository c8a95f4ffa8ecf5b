"""Durable jobs: the stores (`store/`), the worker loop and the supervision of worker
processes. Nothing here imports the pipeline or the engines: a worker is handed a
pipeline factory."""
