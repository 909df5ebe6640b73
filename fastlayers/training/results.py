"""What a training run produces: per-epoch statistics, the run's result, an evaluation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = ["EpochStats", "Evaluation", "TrainingDivergedError", "TrainingResult"]


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite."""


@dataclass
class EpochStats:
    """What one epoch did.

    Attributes
    ----------
    epoch : int
        1-based epoch number (counting across :meth:`Trainer.fit` calls).
    steps : int
        Mini-batches trained on.
    samples : int
        Training samples seen.
    train_loss : float
        Mean loss per training sample over the epoch.
    seconds : float
        Wall time of the training steps (evaluation excluded).
    samples_per_second : float
        ``samples / seconds``.
    test_loss, test_accuracy : float or None
        On the test data after the epoch, if any was given.
    eval_seconds : float
        Wall time of that evaluation.
    learning_rate : float or None
        Learning rate used during the epoch (of the first trainable layer).
    """

    epoch: int
    steps: int
    samples: int
    train_loss: float
    seconds: float
    samples_per_second: float
    test_loss: float | None = None
    test_accuracy: float | None = None
    eval_seconds: float = 0.0
    learning_rate: float | None = None


@dataclass
class TrainingResult:
    """Outcome of :meth:`Trainer.fit`.

    Attributes
    ----------
    step_losses : list of float
        Mean loss per sample of every mini-batch, in order.
    epochs : list of EpochStats
    train_seconds : float
        Wall time of all training steps (no evaluation, no warm-up).
    samples : int
        Training samples processed.
    warmup_seconds : float
        Time of the warm-up step (kernel compilation), 0 if none was run.
    threads : int
        Kernel threads used.
    settings : dict
        Batch size, reduction, seed, optimizer and the like.
    """

    step_losses: list = field(default_factory=list)
    epochs: list = field(default_factory=list)
    train_seconds: float = 0.0
    samples: int = 0
    warmup_seconds: float = 0.0
    threads: int = 1
    settings: dict = field(default_factory=dict)

    @property
    def epoch_losses(self):
        """Mean training loss per sample of each epoch."""
        return [e.train_loss for e in self.epochs]

    @property
    def test_accuracies(self):
        """Test accuracy after each epoch (None where no test data was given)."""
        return [e.test_accuracy for e in self.epochs]

    @property
    def final_test_accuracy(self):
        """Test accuracy after the last epoch, or None."""
        return self.epochs[-1].test_accuracy if self.epochs else None

    @property
    def samples_per_second(self):
        """Training throughput over all epochs."""
        return self.samples / self.train_seconds if self.train_seconds > 0 else float("nan")

    def to_dict(self):
        """Return a JSON-serialisable dict of everything recorded."""
        return {
            "epochs": [asdict(e) for e in self.epochs],
            "step_losses": list(self.step_losses),
            "final_test_accuracy": self.final_test_accuracy,
            "train_seconds": self.train_seconds,
            "samples": self.samples,
            "samples_per_second": self.samples_per_second,
            "warmup_seconds": self.warmup_seconds,
            "threads": self.threads,
            "settings": dict(self.settings),
        }


@dataclass
class Evaluation:
    """Loss and accuracy of a network on a data set.

    Attributes
    ----------
    loss : float
        Mean loss per sample.
    accuracy : float
        Fraction of samples whose largest output is the true class.
    samples : int
    predictions : numpy.ndarray
        Predicted class of every sample.
    """

    loss: float
    accuracy: float
    samples: int
    predictions: np.ndarray
