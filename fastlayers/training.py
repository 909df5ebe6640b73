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
"""

from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .base import Phase
from .datasets.mnist import one_hot
from .models import layer_arrays
from .optimizers import _factory, supports_optimizer, trainable_layers

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
    "train",
]

_REDUCTIONS = ("mean", "sum")


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
            line += f"  test loss {stats.test_loss:.4f}  test accuracy {100 * stats.test_accuracy:.2f}%"
        line += f"  ({stats.seconds:.1f} s, {stats.samples_per_second:,.0f} samples/s)"
        print(line, file=self.file if self.file is not None else sys.stdout, flush=True)


# --------------------------------------------------------------------------
# Data


def _network_dtype(net):
    dtype = getattr(net, "dtype", None)
    if dtype is not None:
        return np.dtype(dtype)
    for layer in trainable_layers(net):
        layer_dtype = getattr(layer, "dtype", None)
        if layer_dtype is not None:
            return np.dtype(layer_dtype)
    return np.dtype(np.float64)


def _infer_classes(net):
    for layer in reversed(list(net.layers)):
        size = getattr(layer, "output_size", None)
        if isinstance(size, (int, np.integer)):
            return int(size)
        if hasattr(layer, "weights"):
            break
    return None


class _Data:
    """Inputs and labels, converted to the network's dtype batch by batch."""

    def __init__(self, x, y, dtype, n_classes, owner, what="training data"):
        if not isinstance(x, np.ndarray):
            x = np.asarray(x)
        if x.dtype.kind not in "fiu" or x.ndim < 2:
            raise ValueError(
                f"{owner}: expected {what} inputs as a numeric array of shape (n, ...), "
                f"got {x.dtype} of shape {x.shape}"
            )
        y = np.asarray(y)
        if len(x) != len(y):
            raise ValueError(f"{owner}: {what} has {len(x)} inputs but {len(y)} labels")
        if len(x) == 0:
            raise ValueError(f"{owner}: {what} is empty")
        if y.ndim == 1:
            if y.dtype.kind not in "iu":
                raise ValueError(
                    f"{owner}: expected {what} labels as integer classes (n,) or one-hot rows "
                    f"(n, classes), got dtype {y.dtype}"
                )
            n_classes = int(y.max()) + 1 if n_classes is None else n_classes
            if y.min() < 0 or y.max() >= n_classes:
                raise ValueError(
                    f"{owner}: {what} labels must lie in 0..{n_classes - 1}, "
                    f"found {y.min()}..{y.max()}"
                )
            self.classes = y.astype(np.int64)
        elif y.ndim == 2:
            if n_classes is not None and y.shape[1] != n_classes:
                raise ValueError(
                    f"{owner}: {what} labels have {y.shape[1]} columns, the network has "
                    f"{n_classes} outputs"
                )
            n_classes = y.shape[1]
            self.classes = np.argmax(y, axis=1)
        else:
            raise ValueError(
                f"{owner}: expected {what} labels of shape (n,) or (n, classes), got {y.shape}"
            )
        self.x, self.y = x, y
        self.dtype = dtype
        self.n_classes = n_classes

    def __len__(self):
        return len(self.x)

    def inputs(self, index):
        xb = self.x[index]
        if xb.dtype == np.uint8:
            # As datasets.images_to_float: convert, then divide by 255.
            xb = xb.astype(self.dtype)
            xb /= 255
        else:
            xb = np.asarray(xb, dtype=self.dtype)
        if xb.ndim == 3:
            xb = xb[:, np.newaxis]
        return np.ascontiguousarray(xb)

    def labels(self, index):
        if self.y.ndim == 1:
            return one_hot(self.classes[index], self.n_classes, dtype=self.dtype)
        return np.ascontiguousarray(self.y[index], dtype=self.dtype)


def _forward(layers, x):
    for layer in layers:
        x = layer.forward(x)
    return x


def _check_net(net, owner):
    if not hasattr(net, "layers"):
        raise TypeError(
            f"{owner}: expected a NeuralNetwork (with 'layers' and 'loss_layer'), "
            f"got {type(net).__name__}"
        )
    if getattr(net, "loss_layer", None) is None:
        raise ValueError(f"{owner}: the network has no loss_layer; set net.loss_layer first")


def _positive_int(value, owner, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner}: expected {name} as an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{owner}: expected {name} of at least 1, got {value!r}")
    return int(value)


class _TestPhase:
    """Context: every layer in the test phase, previous phases restored after."""

    def __init__(self, layers):
        self.layers = list(layers)

    def __enter__(self):
        self.saved = [getattr(layer, "phase", None) for layer in self.layers]
        for layer in self.layers:
            layer.phase = Phase.test

    def __exit__(self, *exc):
        for layer, phase in zip(self.layers, self.saved):
            if phase is not None:
                layer.phase = phase


def _evaluate(net, data, batch_size):
    layers = list(net.layers)
    total = 0.0
    predictions = np.empty(len(data), dtype=np.int64)
    with _TestPhase(layers):
        for start in range(0, len(data), batch_size):
            index = slice(start, start + batch_size)
            logits = _forward(layers, data.inputs(index))
            total += float(net.loss_layer.forward(logits, data.labels(index)))
            predictions[index] = np.argmax(logits, axis=1)
    n = len(data)
    return Evaluation(
        loss=total / n,
        accuracy=float(np.mean(predictions == data.classes)),
        samples=n,
        predictions=predictions,
    )


def evaluate(net, x, y, *, batch_size=1000, dtype=None):
    """Return the mean loss and the accuracy of ``net`` on ``(x, y)``.

    The layers run in the test phase (their phases are restored after).

    Parameters
    ----------
    net : NeuralNetwork
    x : numpy.ndarray
        ``uint8`` images or float inputs (see the module notes).
    y : numpy.ndarray
        Integer classes ``(n,)`` or one-hot rows ``(n, classes)``.
    batch_size : int, default 1000
        Samples per forward pass (bounds the memory used).
    dtype : float32 or float64, optional
        Default: the network's dtype.

    Returns
    -------
    Evaluation
    """
    _check_net(net, "evaluate")
    batch_size = _positive_int(batch_size, "evaluate", "batch_size")
    dtype = _network_dtype(net) if dtype is None else np.dtype(dtype)
    return _evaluate(net, _Data(x, y, dtype, _infer_classes(net), "evaluate", "data"), batch_size)


def predict_proba(net, x, *, batch_size=1000, dtype=None):
    """Return the loss layer's prediction (class probabilities) for ``x``.

    Like ``net.test(x)`` but in batches and with ``uint8`` images accepted;
    the layers' phases are restored afterwards.
    """
    _check_net(net, "predict_proba")
    batch_size = _positive_int(batch_size, "predict_proba", "batch_size")
    dtype = _network_dtype(net) if dtype is None else np.dtype(dtype)
    dummy = np.zeros(len(x), dtype=np.int64)
    data = _Data(x, dummy, dtype, None, "predict_proba", "data")
    layers = list(net.layers)
    parts = []
    with _TestPhase(layers):
        for start in range(0, len(data), batch_size):
            logits = _forward(layers, data.inputs(slice(start, start + batch_size)))
            parts.append(net.loss_layer.predict(logits))
    return np.concatenate(parts)


def predict(net, x, *, batch_size=1000, dtype=None):
    """Return the predicted class (index of the largest output) of every input."""
    return np.argmax(predict_proba(net, x, batch_size=batch_size, dtype=dtype), axis=1)


# --------------------------------------------------------------------------
# The trainer


class Trainer:
    """Mini-batch training of a tutorial-style network.

    Parameters
    ----------
    net : NeuralNetwork
        Any network with ``layers`` and a ``loss_layer`` whose layers follow
        the tutorial's interface, e.g. from :func:`fastlayers.models.lenet`.
        Its ``data_layer`` is not used.
    optimizer : Optimizer, callable or None, default None
        Given to every trainable layer, each getting its own copy (see
        :func:`fastlayers.optimizers.set_optimizer`).  Fast layers apply it
        in ``backward``; for layers without that hook (the reference
        layers) the trainer sets their ``learning_rate`` to 0 during
        ``backward`` and applies the optimizer afterwards.  None keeps what
        the layers have: the tutorial's plain SGD with each layer's
        ``learning_rate`` unless an optimizer was assigned before.
    batch_size : int, default 32
    reduction : {"mean", "sum"}, default "mean"
        Divide the loss gradient by the batch size ("mean") or not ("sum",
        the tutorial's convention).
    seed : int, optional
        Seeds the shuffling and NumPy's global random state (see the module
        notes).  Without a seed the order is random.
    threads : int, optional
        Kernel threads, 1 to ``numba.config.NUMBA_NUM_THREADS``; set with
        :func:`fastlayers.set_num_threads` for the calling thread.
        Default: leave the current setting.
    shuffle : bool, default True
        Reshuffle the training set every epoch.
    drop_last : bool, default False
        Skip the last, smaller batch of an epoch.
    eval_batch_size : int, default 1000
        Batch size of the evaluation after each epoch.
    n_classes : int, optional
        Number of classes for integer labels; default: the output size of
        the last layer.
    callbacks : iterable of Callback
    progress : bool, default False
        Show a :class:`ProgressBar` (ignored if tqdm is not installed).
    stop_on_nonfinite : bool, default True
        Raise :class:`TrainingDivergedError` as soon as a loss is NaN or
        infinite.
    lr_decay : float, default 1
        Multiply every learning rate by this factor after each epoch
        (exponential decay, in ``(0, 1]``): the optimizers' learning rates,
        or the layers' own where they take the plain step.

    Attributes
    ----------
    epoch : int
        Epochs trained so far.
    step : int
        Steps trained so far.
    history : list of TrainingResult
        One per :meth:`fit` call.
    last_evaluation : Evaluation or None
        The evaluation on the test data after the latest epoch, with the
        predicted class of every test sample.
    """

    def __init__(
        self,
        net,
        *,
        optimizer=None,
        batch_size=32,
        reduction="mean",
        seed=None,
        threads=None,
        shuffle=True,
        drop_last=False,
        eval_batch_size=1000,
        n_classes=None,
        callbacks=(),
        progress=False,
        stop_on_nonfinite=True,
        lr_decay=1.0,
    ):
        owner = "Trainer"
        _check_net(net, owner)
        self.net = net
        self.batch_size = _positive_int(batch_size, owner, "batch_size")
        self.eval_batch_size = _positive_int(eval_batch_size, owner, "eval_batch_size")
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{owner}: expected reduction 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction
        if seed is not None:
            if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
                raise TypeError(f"{owner}: expected seed as an int, got {seed!r}")
            if not 0 <= seed < 2**32:
                raise ValueError(f"{owner}: expected seed in 0..2**32-1, got {seed!r}")
            seed = int(seed)
        self.seed = seed
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.n_classes = None if n_classes is None else _positive_int(n_classes, owner, "n_classes")
        self.stop_on_nonfinite = bool(stop_on_nonfinite)
        if isinstance(lr_decay, (bool, np.bool_)) or not isinstance(
            lr_decay, (int, float, np.integer, np.floating)
        ):
            raise TypeError(f"{owner}: expected lr_decay as a number, got {lr_decay!r}")
        if not 0.0 < lr_decay <= 1.0:
            raise ValueError(f"{owner}: expected lr_decay in (0, 1], got {lr_decay!r}")
        self.lr_decay = float(lr_decay)
        make = None if optimizer is None else _factory(optimizer, owner)
        if threads is not None:
            from .parallel import set_num_threads

            set_num_threads(threads)
        from .parallel import get_num_threads

        self.threads = get_num_threads()
        self.dtype = _network_dtype(net)
        self.optimizer = optimizer
        self._external = []  # (layer, optimizer) for layers without the hook
        if make is not None:
            for layer in trainable_layers(net):
                if supports_optimizer(layer):
                    layer.optimizer = make()
                else:
                    self._external.append((layer, make()))
        self.callbacks = list(callbacks)
        if progress:
            try:
                self.callbacks.insert(0, ProgressBar())
            except ImportError:
                pass
        self.rng = np.random.default_rng(seed)
        if seed is not None:
            np.random.seed(seed)
        self.epoch = 0
        self.step = 0
        self.history = []
        self.last_evaluation = None

    # -- learning rates ------------------------------------------------------

    def _rate_holders(self):
        """The objects whose ``learning_rate`` drives each trainable layer."""
        external = {id(layer): optimizer for layer, optimizer in self._external}
        holders = []
        for layer in trainable_layers(self.net):
            if id(layer) in external:
                holders.append(external[id(layer)])
            elif getattr(layer, "optimizer", None) is not None:
                holders.append(layer.optimizer)
            else:
                holders.append(layer)
        return holders

    @property
    def learning_rate(self):
        """Learning rate of the first trainable layer (None if there is none)."""
        holders = self._rate_holders()
        return float(holders[0].learning_rate) if holders else None

    def scale_learning_rate(self, factor):
        """Multiply the learning rate of every trainable layer by ``factor``."""
        for holder in self._rate_holders():
            holder.learning_rate = holder.learning_rate * factor

    # -- one step ----------------------------------------------------------

    def train_step(self, x, labels):
        """Train on one batch; return its mean loss per sample.

        Parameters
        ----------
        x : numpy.ndarray
            Network input, already in the network's dtype.
        labels : numpy.ndarray
            One-hot labels ``(batch, classes)``.
        """
        layers = self.net.layers
        loss_layer = self.net.loss_layer
        for layer in layers:
            layer.phase = Phase.train
        return _step(layers, loss_layer, self._external, self.reduction, x, labels)

    # -- loops ---------------------------------------------------------------

    def _data(self, x, y, what):
        n_classes = self.n_classes if self.n_classes is not None else _infer_classes(self.net)
        return _Data(x, y, self.dtype, n_classes, "Trainer", what)

    def _batches(self, n):
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        stop = n - n % self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            yield order[start:start + self.batch_size]

    def warm_up(self, x, y):
        """Compile the kernels by training a throw-away copy on one batch.

        The network, the optimizers and all random states are left as they
        were, so a run with a warm-up gives the same results as one
        without; it only moves the one-off compilation time out of the
        measured epochs.

        Returns
        -------
        float
            Seconds taken.
        """
        data = x if isinstance(x, _Data) else self._data(x, y, "warm-up data")
        start = time.perf_counter()
        state = np.random.get_state()
        try:
            net, external = copy.deepcopy((self.net, self._external))
            index = slice(0, min(self.batch_size, len(data)))
            for layer in net.layers:
                layer.phase = Phase.train
            _step(net.layers, net.loss_layer, external, self.reduction,
                  data.inputs(index), data.labels(index))
            with _TestPhase(net.layers):
                _forward(net.layers, data.inputs(slice(0, min(self.eval_batch_size, len(data)))))
        finally:
            np.random.set_state(state)
        return time.perf_counter() - start

    def fit(self, x, y, *, epochs=1, test_data=None, warm_up=False):
        """Train for ``epochs`` passes over ``(x, y)``.

        Parameters
        ----------
        x : numpy.ndarray
            Training inputs: ``uint8`` images or float arrays.
        y : numpy.ndarray
            Integer classes ``(n,)`` or one-hot rows ``(n, classes)``.
        epochs : int, default 1
        test_data : (inputs, labels), optional
            Evaluated after every epoch (loss and accuracy).
        warm_up : bool, default False
            Run :meth:`warm_up` first, so that compilation does not count
            towards the measured time.

        Returns
        -------
        TrainingResult

        Raises
        ------
        TrainingDivergedError
            If the loss becomes NaN or infinite (with ``stop_on_nonfinite``).
        """
        epochs = _positive_int(epochs, "Trainer.fit", "epochs")
        train = self._data(x, y, "training data")
        test = None
        if test_data is not None:
            if not (isinstance(test_data, (tuple, list)) and len(test_data) == 2):
                raise TypeError("Trainer.fit: expected test_data as a pair (inputs, labels)")
            test = self._data(test_data[0], test_data[1], "test data")
        result = TrainingResult(threads=self.threads, settings=self.settings())
        if warm_up:
            result.warmup_seconds = self.warm_up(train, None)
        n = len(train)
        samples_per_epoch = n - n % self.batch_size if self.drop_last else n
        for callback in self.callbacks:
            callback.on_train_begin(self, epochs, samples_per_epoch)
        layers = self.net.layers
        loss_layer = self.net.loss_layer
        for _ in range(epochs):
            self.epoch += 1
            for callback in self.callbacks:
                callback.on_epoch_begin(self, self.epoch, samples_per_epoch)
            for layer in layers:
                layer.phase = Phase.train
            loss_sum = 0.0
            seen = steps = 0
            elapsed = 0.0
            for index in self._batches(n):
                xb, yb = train.inputs(index), train.labels(index)
                start = time.perf_counter()
                loss = _step(layers, loss_layer, self._external, self.reduction, xb, yb)
                elapsed += time.perf_counter() - start
                self.step += 1
                steps += 1
                batch = len(index)
                seen += batch
                loss_sum += loss * batch
                result.step_losses.append(loss)
                if self.stop_on_nonfinite and not math.isfinite(loss):
                    for callback in self.callbacks:
                        if isinstance(callback, ProgressBar):
                            callback.close()
                    raise TrainingDivergedError(
                        f"the training loss became {loss} at step {self.step} "
                        f"(epoch {self.epoch}); try a smaller learning rate"
                    )
                for callback in self.callbacks:
                    callback.on_step_end(self, self.step, loss, batch)
            stats = EpochStats(
                epoch=self.epoch,
                steps=steps,
                samples=seen,
                train_loss=loss_sum / seen if seen else float("nan"),
                seconds=elapsed,
                samples_per_second=seen / elapsed if elapsed > 0 else float("nan"),
                learning_rate=self.learning_rate,
            )
            if self.lr_decay != 1.0:
                self.scale_learning_rate(self.lr_decay)
            result.train_seconds += elapsed
            result.samples += seen
            if test is not None:
                start = time.perf_counter()
                evaluation = _evaluate(self.net, test, self.eval_batch_size)
                stats.eval_seconds = time.perf_counter() - start
                stats.test_loss = evaluation.loss
                stats.test_accuracy = evaluation.accuracy
                self.last_evaluation = evaluation
            result.epochs.append(stats)
            for callback in self.callbacks:
                callback.on_epoch_end(self, stats)
        for callback in self.callbacks:
            callback.on_train_end(self, result)
        self.history.append(result)
        return result

    def evaluate(self, x, y):
        """Mean loss and accuracy on ``(x, y)``; see :func:`evaluate`."""
        return _evaluate(self.net, self._data(x, y, "data"), self.eval_batch_size)

    def predict(self, x):
        """Predicted classes of ``x``; see :func:`predict`."""
        return predict(self.net, x, batch_size=self.eval_batch_size, dtype=self.dtype)

    def settings(self):
        """The trainer's configuration as a JSON-serialisable dict."""
        optimizer = self.optimizer
        if optimizer is None:
            optimizer_info = None
        elif hasattr(optimizer, "get_config"):
            optimizer_info = {"name": type(optimizer).__name__, **optimizer.get_config()}
        else:
            optimizer_info = {"name": repr(optimizer)}
        return {
            "batch_size": self.batch_size,
            "reduction": self.reduction,
            "seed": self.seed,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
            "dtype": self.dtype.name,
            "threads": self.threads,
            "optimizer": optimizer_info,
            "lr_decay": self.lr_decay,
        }


def _step(layers, loss_layer, external, reduction, x, labels):
    """Forward, backward and update on one batch; return the mean loss."""
    batch = x.shape[0]
    activation = _forward(layers, x)
    loss = float(loss_layer.forward(activation, labels))
    error = loss_layer.backward(labels)
    if reduction == "mean":
        error = error / batch
    saved = [(layer, layer.learning_rate) for layer, _ in external]
    try:
        for layer, _ in saved:
            layer.learning_rate = 0.0
        for layer in reversed(layers[1:]):
            error = layer.backward(error)
        if layers:
            first = layers[0]
            getattr(first, "backward_parameters", first.backward)(error)
    finally:
        for layer, rate in saved:
            layer.learning_rate = rate
    for layer, optimizer in external:
        _external_update(layer, optimizer)
    return loss / batch


def _external_update(layer, optimizer):
    """Apply ``optimizer`` to a layer that only knows the plain SGD step."""
    for name in layer_arrays(layer):
        if name == "weights":
            grad = layer.get_gradient_weights()
        elif name == "bias":
            grad = layer.get_gradient_bias()
        else:
            continue
        if grad is None:
            continue
        param = np.array(getattr(layer, name), copy=True)
        optimizer.update(name, param, grad)
        setattr(layer, name, param)


def train(
    net,
    data,
    *,
    epochs=1,
    batch_size=32,
    optimizer=None,
    reduction="mean",
    seed=None,
    threads=None,
    progress=False,
    callbacks=(),
    warm_up=False,
    lr_decay=1.0,
):
    """Train ``net`` on a data set and evaluate it after every epoch.

    Parameters
    ----------
    net : NeuralNetwork
    data : tuple
        ``(train_images, train_labels, test_images, test_labels)``, e.g.
        :func:`fastlayers.datasets.load_bundled_mnist` or
        :func:`~fastlayers.datasets.load_mnist`; or a pair
        ``(train_images, train_labels)`` to train without evaluation.
    epochs, batch_size, optimizer, reduction, seed, threads, progress, callbacks, lr_decay
        See :class:`Trainer`.
    warm_up : bool, default False
        See :meth:`Trainer.fit`.

    Returns
    -------
    TrainingResult
    """
    if not isinstance(data, tuple) or len(data) not in (2, 4):
        raise TypeError(
            "train: expected data as (train_images, train_labels, test_images, test_labels) "
            f"or (train_images, train_labels), got {type(data).__name__}"
        )
    trainer = Trainer(
        net,
        optimizer=optimizer,
        batch_size=batch_size,
        reduction=reduction,
        seed=seed,
        threads=threads,
        progress=progress,
        callbacks=callbacks,
        lr_decay=lr_decay,
    )
    test = (data[2], data[3]) if len(data) == 4 else None
    return trainer.fit(data[0], data[1], epochs=epochs, test_data=test, warm_up=warm_up)
