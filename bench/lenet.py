"""The tutorial's LeNet, its parameters and a fixed batch: shared by every benchmark.

The network is :func:`fastlayers.models.lenet` (see :mod:`bench.networks`).
Only NumPy is imported at module level, so that the compile-time and
memory measurements start a process that imports what a user's script
would: NumPy and fastlayers.
"""

from .networks import FixedBatch, batch_data, build, parameters, train_step, tutorial_loop_step

__all__ = [
    "FixedBatch",
    "fastlayers_lenet",
    "lenet_batch",
    "lenet_learning_rate",
    "lenet_params",
    "train_step",
    "tutorial_loop_step",
]


def lenet_params(seed=0):
    """Initial parameters of ``fastlayers.models.lenet(seed=seed)`` in float64.

    A list of (weights, bias) for conv1, conv2, fc1, fc2, fc3; fully
    connected weights as (inputs, outputs).
    """
    return parameters("lenet", seed)


def lenet_batch(batch, seed=0):
    """A fixed batch: images (batch, 1, 28, 28) in [0, 1) and one-hot labels (batch, 10)."""
    return batch_data("lenet", batch, seed)


def lenet_learning_rate(batch):
    """Step size for the loss summed over the batch: 0.01 per sample on average."""
    from .networks import learning_rate

    return learning_rate(batch)


def fastlayers_lenet(batch, dtype, seed=0, backend="fast"):
    """``fastlayers.models.lenet`` of ``seed`` with the fixed batch of ``batch`` images as data layer."""
    return build("lenet", backend, dtype, seed, batch)
