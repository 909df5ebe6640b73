"""The exercise's ``Optimization`` package: optimizers, the loss and the regularizers."""

__all__ = ["Optimizers", "Loss", "Constraints"]
