"""Models behind one protocol (`protocol.Seq2SeqBackend`): the transformers and CTranslate2
backends, conversion, batching, language identification, and the one place that builds a
backend from the settings (`build`). Importing this package loads no model library."""
