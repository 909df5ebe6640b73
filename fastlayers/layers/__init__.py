"""The layers, with the tutorial's class names, signatures and shapes."""

from ..base import BaseLayer, Phase
from .activations import ReLU, Sigmoid, TanH
from .batchnorm import BatchNorm
from .conv import ConvolutionalLayer
from .dropout import DropOut
from .flatten import FlattenLayer
from .fully_connected import FullyConnectedLayer
from .loss import SoftMaxCrossEntropyLoss
from .pooling import AvgPoolLayer, MaxPoolLayer

__all__ = [
    "AvgPoolLayer",
    "BaseLayer",
    "BatchNorm",
    "ConvolutionalLayer",
    "DropOut",
    "FlattenLayer",
    "FullyConnectedLayer",
    "MaxPoolLayer",
    "Phase",
    "ReLU",
    "Sigmoid",
    "SoftMaxCrossEntropyLoss",
    "TanH",
]
