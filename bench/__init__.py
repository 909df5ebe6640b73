"""Benchmarks of fastlayers against the reference layers, NumPy im2col, PyTorch and JAX.

Run ``python -m bench.report`` for the full report (Markdown and PNG plots
in ``bench/results``, and the README's benchmark section; ``--smoke`` checks
the whole pipeline in about two minutes); ``python -m pytest bench`` runs
every benchmark once, untimed, as a test.
"""
