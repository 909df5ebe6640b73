"""The exercise's ``Layers`` package: one module per layer, each holding the class of its name."""

__all__ = [
    "Base",
    "FullyConnected",
    "ReLU",
    "SoftMax",
    "Conv",
    "Pooling",
    "Flatten",
    "Initializers",
    "TanH",
    "Sigmoid",
    "Dropout",
    "BatchNormalization",
    "RNN",
    "LSTM",
]
