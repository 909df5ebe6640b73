"""Reference layers: the straightforward SciPy/NumPy implementations.

Same classes and interface as :mod:`fastlayers.layers`, written the way the
FAU tutorial "How to Build a Deep Learning Framework" intends: NumPy for the
dense layers, activations, loss and batch normalization, Python loops over
``scipy.signal.correlate`` / ``convolve`` for the convolution and over the
windows for max pooling.  They share no numeric code with
:mod:`fastlayers.kernels` and are kept as the oracle for the tests and as the
naive side of the benchmarks; they are slow by design.  What they share
with the fast layers holds no arithmetic on activations: parameter storage,
dtypes and the update (:mod:`fastlayers.parameters`), the argument checks,
a pooling layer's arguments and output shape (:mod:`fastlayers.base`) and
the dropout mask's random draw.
"""

from ..base import BaseLayer, Phase
from ..initializers import Const, Glorot, He, Initializer, UniformRandom, Xavier
from .activations import ReLU, Sigmoid, TanH
from .batchnorm import BatchNorm
from .conv import ConvolutionalLayer
from .dropout import DropOut
from .flatten import FlattenLayer
from .fully_connected import FullyConnectedLayer
from .loss import SoftMaxCrossEntropyLoss
from .network import NeuralNetwork
from .pooling import AvgPoolLayer, MaxPoolLayer

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
    "SoftMaxCrossEntropyLoss",
    "Sigmoid",
    "TanH",
    "UniformRandom",
    "Xavier",
]
