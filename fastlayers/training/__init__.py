"""Training a network on a data set: epochs, mini-batches, evaluation.

:class:`Trainer` runs the loop the tutorial's ``NeuralNetwork.train``
leaves to the user: epochs over the whole training set in shuffled
mini-batches, an optimizer per layer, the test accuracy after each epoch
and the loss history::

    from fastlayers.datasets import load_bundled_mnist
    from fastlayers.models import lenet
    from fastlayers.optimizers import Adam
    from fastlayers.training import Trainer

    mnist = load_bundled_mnist()
    net = lenet(dtype="float32", seed=0)
    trainer = Trainer(net, optimizer=Adam(1e-3), batch_size=32, seed=0, progress=True)
    result = trainer.fit(mnist.train_images, mnist.train_labels, epochs=5,
                         test_data=(mnist.test_images, mnist.test_labels))
    print(result.final_test_accuracy)

Conventions
-----------
* Inputs may be ``uint8`` images (scaled to ``[0, 1]`` batch by batch, as
  :func:`fastlayers.datasets.images_to_float` does) or float arrays; a 3-D
  array ``(n, height, width)`` gets a channel axis.  Labels may be integer
  classes ``(n,)`` or one-hot rows ``(n, classes)``.  Batches are converted
  to the network's dtype.
* ``reduction="mean"`` (the default) divides the loss gradient by the batch
  size, so learning rates refer to the per-sample mean loss and need no
  retuning when the batch size changes; ``reduction="sum"`` keeps the
  tutorial's summed gradient.  The recorded losses are always the mean
  loss per sample of each batch.
* Reproducibility: with a ``seed`` the shuffling uses
  ``numpy.random.default_rng(seed)`` and NumPy's global random state (which
  the initializers and ``DropOut`` draw from) is seeded with it.  The same
  seed, network, data and thread count give a bitwise-identical loss
  history, on the fast layers too.

Layout: :mod:`~fastlayers.training.trainer` (the trainer, ``train``,
``evaluate``, ``predict``), :mod:`~fastlayers.training.results` (what a run
produces), :mod:`~fastlayers.training.callbacks` (progress bar, epoch log)
and :mod:`~fastlayers.training.metrics` (the ``metrics.json`` record).
"""

from .callbacks import Callback, EpochLogger, ProgressBar
from .metrics import run_metrics, write_metrics
from .results import EpochStats, Evaluation, TrainingDivergedError, TrainingResult
from .trainer import Trainer, evaluate, predict, predict_proba, train

__all__ = [
    "Callback",
    "EpochLogger",
    "EpochStats",
    "Evaluation",
    "ProgressBar",
    "Trainer",
    "TrainingDivergedError",
    "TrainingResult",
    "evaluate",
    "predict",
    "predict_proba",
    "run_metrics",
    "train",
    "write_metrics",
]
