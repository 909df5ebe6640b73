"""Benchmarks of fastlayers against the reference layers, NumPy im2col and PyTorch.

Run ``python -m bench.report`` for the full report (Markdown and PNG plots
in ``bench/results``); ``python -m pytest bench --benchmark-disable`` runs
every benchmark once, untimed, as a test.
"""
