"""fastlayers: numba-compiled CNN layers with the FAU tutorial's interface.

Swap the imports of a tutorial script for these and it runs unchanged,
only faster::

    from fastlayers import (NeuralNetwork, ConvolutionalLayer, MaxPoolLayer,
                            FlattenLayer, FullyConnectedLayer, ReLU,
                            SoftMaxCrossEntropyLoss, He, Const)

The scipy-based implementations of the same classes live in
:mod:`fastlayers.reference`; the compiled kernels in :mod:`fastlayers.kernels`.
"""

from importlib import metadata as _metadata

from . import functional  # noqa: F401  (fastlayers.functional, imported with the package)
from ._precompile import precompile
from .base import BaseLayer, Phase
from .dtypes import default_dtype, get_default_dtype, set_default_dtype
from .initializers import Const, Glorot, He, Initializer, UniformRandom, Xavier
from .layers import (
    AvgPoolLayer,
    BatchNorm,
    ConvolutionalLayer,
    DropOut,
    FlattenLayer,
    FullyConnectedLayer,
    MaxPoolLayer,
    ReLU,
    Sigmoid,
    SoftMaxCrossEntropyLoss,
    TanH,
)
from .memory import _apply_default as _retain_memory
from .network import NeuralNetwork
from .parallel import get_num_threads, set_num_threads, threading_layer

_retain_memory()

try:
    # One source of the version: the installed package's metadata.
    __version__ = _metadata.version("fastlayers")
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "AvgPoolLayer",
    "BaseLayer",
    "BatchNorm",
    "Const",
    "ConvolutionalLayer",
    "DropOut",
    "FlattenLayer",
    "FullyConnectedLayer",
    "Glorot",
    "He",
    "Initializer",
    "MaxPoolLayer",
    "NeuralNetwork",
    "Phase",
    "ReLU",
    "Sigmoid",
    "SoftMaxCrossEntropyLoss",
    "TanH",
    "UniformRandom",
    "Xavier",
    "default_dtype",
    "get_default_dtype",
    "get_num_threads",
    "precompile",
    "set_default_dtype",
    "set_num_threads",
    "threading_layer",
]
