"""The FAU "Deep Learning" exercise framework (exercises 1 to 3) on fastlayers.

The package mirrors the exercise's ``src_to_implement/`` folder: a student
keeps the course's test files and ``__init__.py`` files and replaces the body
of each of their own files by one import, e.g. in ``Layers/Conv.py``::

    from fastlayers.compat.fau.Layers.Conv import *

Every module holds the class of the same name (``Layers.Conv.Conv``,
``Optimization.Optimizers.Adam``, ``NeuralNetwork.NeuralNetwork``...).  The
classes compute in float64 unless given float32 data and parameters, draw
their random numbers from NumPy's global ``np.random`` state (the course's
tests reseed it) and update their parameters only through an optimizer set
on them, each parameter with its own deep copy of it.
"""
