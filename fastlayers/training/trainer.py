"""The trainer: epochs of shuffled mini-batches through a tutorial-style network.

The network is driven through its own interface: for every batch the
trainer hands ``net.forward()`` the batch through a data layer of its own
and calls ``net.backward()``; evaluation reads the loss of
``net.forward()`` in the test phase; predictions are ``net.test(x)``.  The
network's ``data_layer`` and ``loss_layer`` are replaced only for the
duration of one such call and restored after it.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time

import numpy as np

from .._precompile import precompile
from ..base import Phase
from ..optimizers import _factory, check_optimizer_hooks, trainable_layers
from ..parallel import get_num_threads, set_num_threads
from ._data import Data, check_net, infer_classes, network_dtype, positive_int
from .callbacks import ProgressBar
from .results import EpochStats, Evaluation, TrainingDivergedError, TrainingResult

__all__ = ["Trainer", "evaluate", "predict", "predict_proba", "train"]

_REDUCTIONS = ("mean", "sum")


class _Feed:
    """The data layer the trainer lends the network: one prepared batch."""

    def __init__(self, x, labels):
        self.x, self.labels = x, labels

    def forward(self):
        return self.x, self.labels


class _LossTap:
    """The network's loss layer, seen through the trainer.

    ``forward`` keeps the logits it is given (the predicted classes of an
    evaluation); ``backward`` divides the error by ``scale`` when one is
    given (the per-sample mean loss of ``reduction="mean"``).
    """

    def __init__(self, loss_layer, scale=None):
        self.loss_layer = loss_layer
        self.scale = scale
        self.logits = None

    def forward(self, x, labels):
        self.logits = x
        return self.loss_layer.forward(x, labels)

    def backward(self, labels):
        error = self.loss_layer.backward(labels)
        return error if self.scale is None else error / self.scale

    def predict(self, x):
        return self.loss_layer.predict(x)


@contextlib.contextmanager
def _feeding(net, x, labels, scale=None):
    """Lend ``net`` a data layer holding ``(x, labels)`` and a tapped loss layer."""
    saved = net.data_layer, net.loss_layer, getattr(net, "label_tensor", None)
    tap = _LossTap(net.loss_layer, scale)
    net.data_layer = _Feed(x, labels)
    net.loss_layer = tap
    try:
        yield tap
    finally:
        net.data_layer, net.loss_layer, net.label_tensor = saved


def _train_step(net, x, labels, reduction):
    """Forward, backward and update on one batch; return the mean loss per sample."""
    batch = x.shape[0]
    with _feeding(net, x, labels, batch if reduction == "mean" else None):
        loss = float(net.forward())
        net.backward()
    return loss / batch


def _warm_up_step(net, batches, reduction, x_test):
    """Training steps on ``batches`` and one test-phase prediction: the work of a warm-up."""
    for layer in net.layers:
        layer.phase = Phase.train
    for x, labels in batches:
        _train_step(net, x, labels, reduction)
    with _TestPhase(net.layers):
        net.test(x_test)


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
    """Mean loss, accuracy and predicted classes of ``net`` on ``data``."""
    total = 0.0
    predictions = np.empty(len(data), dtype=np.int64)
    with _TestPhase(net.layers):
        for start in range(0, len(data), batch_size):
            index = slice(start, start + batch_size)
            with _feeding(net, data.inputs(index), data.labels(index)) as tap:
                total += float(net.forward())
            predictions[index] = np.argmax(tap.logits, axis=1)
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
    check_net(net, "evaluate")
    batch_size = positive_int(batch_size, "evaluate", "batch_size")
    dtype = network_dtype(net) if dtype is None else np.dtype(dtype)
    return _evaluate(net, Data(x, y, dtype, infer_classes(net), "evaluate", "data"), batch_size)


def predict_proba(net, x, *, batch_size=1000, dtype=None):
    """Return the loss layer's prediction (class probabilities) for ``x``.

    ``net.test(x)`` in batches, with ``uint8`` images accepted; the layers'
    phases are restored afterwards.
    """
    check_net(net, "predict_proba")
    batch_size = positive_int(batch_size, "predict_proba", "batch_size")
    dtype = network_dtype(net) if dtype is None else np.dtype(dtype)
    dummy = np.zeros(len(x), dtype=np.int64)
    data = Data(x, dummy, dtype, None, "predict_proba", "data")
    parts = []
    with _TestPhase(net.layers):
        for start in range(0, len(data), batch_size):
            parts.append(net.test(data.inputs(slice(start, start + batch_size))))
    return np.concatenate(parts)


def predict(net, x, *, batch_size=1000, dtype=None):
    """Return the predicted class (index of the largest output) of every input."""
    return np.argmax(predict_proba(net, x, batch_size=batch_size, dtype=dtype), axis=1)


class Trainer:
    """Mini-batch training of a tutorial-style network.

    Parameters
    ----------
    net : NeuralNetwork
        Any network with the tutorial's ``layers``, ``loss_layer``,
        ``forward()``, ``backward()`` and ``test(x)``, e.g. from
        :func:`fastlayers.models.lenet`.  Its ``data_layer`` is not used:
        the trainer lends it one of its own for each call.
    optimizer : Optimizer, callable or None, default None
        Given to every trainable layer, each getting its own copy (see
        :func:`fastlayers.optimizers.set_optimizer`), which the layer
        applies at the end of ``backward`` (fast and reference layers
        alike).  None keeps what the layers have: the tutorial's plain SGD
        with each layer's ``learning_rate`` unless an optimizer was
        assigned before.
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
        check_net(net, owner)
        self.net = net
        self.batch_size = positive_int(batch_size, owner, "batch_size")
        self.eval_batch_size = positive_int(eval_batch_size, owner, "eval_batch_size")
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
        self.n_classes = None if n_classes is None else positive_int(n_classes, owner, "n_classes")
        self.stop_on_nonfinite = bool(stop_on_nonfinite)
        if isinstance(lr_decay, (bool, np.bool_)) or not isinstance(
            lr_decay, (int, float, np.integer, np.floating)
        ):
            raise TypeError(f"{owner}: expected lr_decay as a number, got {lr_decay!r}")
        if not 0.0 < lr_decay <= 1.0:
            raise ValueError(f"{owner}: expected lr_decay in (0, 1], got {lr_decay!r}")
        self.lr_decay = float(lr_decay)
        make = None if optimizer is None else _factory(optimizer, owner)
        if make is not None:
            layers = trainable_layers(net)
            check_optimizer_hooks(layers, owner)
        if threads is not None:
            set_num_threads(threads)
        self.threads = get_num_threads()
        self.dtype = network_dtype(net)
        self.optimizer = optimizer
        if make is not None:
            for layer in layers:
                layer.optimizer = make()
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
        return [
            layer if getattr(layer, "optimizer", None) is None else layer.optimizer
            for layer in trainable_layers(self.net)
        ]

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
        for layer in self.net.layers:
            layer.phase = Phase.train
        return _train_step(self.net, x, labels, self.reduction)

    # -- loops ---------------------------------------------------------------

    def _data(self, x, y, what):
        n_classes = self.n_classes if self.n_classes is not None else infer_classes(self.net)
        return Data(x, y, self.dtype, n_classes, "Trainer", what)

    def _batches(self, n):
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        stop = n - n % self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            yield order[start : start + self.batch_size]

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
        data = x if isinstance(x, Data) else self._data(x, y, "warm-up data")
        start = time.perf_counter()
        state = np.random.get_state()
        try:
            # The copy leaves out the data layer, which may hold a whole data set.
            net = copy.deepcopy(self.net, memo={id(self.net.data_layer): None})
            # A full batch and, when the epoch ends with a shorter one, a
            # batch of that size too: smaller work may run on other (one-
            # thread) kernels, which would otherwise compile mid-epoch.
            sizes = [min(self.batch_size, len(data))]
            tail = len(data) % self.batch_size
            if tail and not self.drop_last and len(data) > self.batch_size:
                sizes.append(tail)
            batches = [(data.inputs(slice(0, n)), data.labels(slice(0, n))) for n in sizes]
            x_test = data.inputs(slice(0, min(self.eval_batch_size, len(data))))
            # The kernels are compiled before the copy runs, in two
            # processes where a second core is free: most of a first run's
            # warm-up is compilation.
            precompile(_warm_up_step, net, batches, self.reduction, x_test)
            _warm_up_step(net, batches, self.reduction, x_test)
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
        epochs = positive_int(epochs, "Trainer.fit", "epochs")
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
        net = self.net
        for _ in range(epochs):
            self.epoch += 1
            for callback in self.callbacks:
                callback.on_epoch_begin(self, self.epoch, samples_per_epoch)
            for layer in net.layers:
                layer.phase = Phase.train
            loss_sum = 0.0
            seen = steps = 0
            elapsed = 0.0
            for index in self._batches(n):
                xb, yb = train.inputs(index), train.labels(index)
                start = time.perf_counter()
                loss = _train_step(net, xb, yb, self.reduction)
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
