"""Measurement: the benchmark, the evaluations and the random-weight model builders.

Never imported by the product (an import contract checks it): only `service.cli` reaches in.
"""
