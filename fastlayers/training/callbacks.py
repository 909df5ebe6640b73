"""Objects that follow a training run: the callback base, a progress bar, an epoch log."""

from __future__ import annotations

import sys

__all__ = ["Callback", "EpochLogger", "ProgressBar"]


class Callback:
    """Base class of objects that follow training; override what you need."""

    def on_train_begin(self, trainer, epochs, samples):
        """Before the first epoch of :meth:`Trainer.fit`."""

    def on_epoch_begin(self, trainer, epoch, samples):
        """Before the first step of an epoch of ``samples`` training samples."""

    def on_step_end(self, trainer, step, loss, batch_size):
        """After each step: global step number, its mean loss per sample."""

    def on_epoch_end(self, trainer, stats):
        """After each epoch (and its evaluation), with :class:`EpochStats`."""

    def on_train_end(self, trainer, result):
        """After the last epoch, with the :class:`TrainingResult`."""


class ProgressBar(Callback):
    """A tqdm progress bar per epoch, showing the running loss and samples/s.

    Parameters
    ----------
    file : file object, optional
        Where the bar is drawn; default ``sys.stderr``.
    leave : bool, default False
        Keep each epoch's finished bar on screen.

    Raises
    ------
    ImportError
        If tqdm is not installed.
    """

    def __init__(self, file=None, leave=False):
        from tqdm.auto import tqdm  # noqa: F401  (fail early if missing)

        self._tqdm = tqdm
        self.file = file
        self.leave = leave
        self._bar = None
        self._epochs = None
        self._loss_sum = 0.0
        self._count = 0

    def on_train_begin(self, trainer, epochs, samples):
        self._epochs = trainer.epoch + epochs

    def on_epoch_begin(self, trainer, epoch, samples):
        self._loss_sum = 0.0
        self._count = 0
        self._bar = self._tqdm(
            total=samples,
            desc=f"epoch {epoch}/{self._epochs}",
            unit=" samples",
            file=self.file if self.file is not None else sys.stderr,
            leave=self.leave,
            dynamic_ncols=True,
        )

    def on_step_end(self, trainer, step, loss, batch_size):
        self._loss_sum += loss * batch_size
        self._count += batch_size
        self._bar.set_postfix_str(f"loss={self._loss_sum / self._count:.4f}", refresh=False)
        self._bar.update(batch_size)

    def on_epoch_end(self, trainer, stats):
        self.close()

    def on_train_end(self, trainer, result):
        self.close()

    def close(self):
        """Close the current bar, if any."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class EpochLogger(Callback):
    """Print one line per epoch: losses, test accuracy, time and samples/s.

    Parameters
    ----------
    file : file object, optional
        Default ``sys.stdout``.
    """

    def __init__(self, file=None):
        self.file = file
        self._epochs = None

    def on_train_begin(self, trainer, epochs, samples):
        self._epochs = trainer.epoch + epochs

    def on_epoch_end(self, trainer, stats):
        width = len(str(self._epochs))
        line = f"epoch {stats.epoch:>{width}}/{self._epochs}  train loss {stats.train_loss:.4f}"
        if stats.test_accuracy is not None:
            line += (
                f"  test loss {stats.test_loss:.4f}  test accuracy {100 * stats.test_accuracy:.2f}%"
            )
        line += f"  ({stats.seconds:.1f} s, {stats.samples_per_second:,.0f} samples/s)"
        print(line, file=self.file if self.file is not None else sys.stdout, flush=True)
