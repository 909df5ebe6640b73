"""Pictures of a training run: loss and accuracy curves, labelled test images.

Both functions write a PNG file and need matplotlib, which is imported
only when they are called (``pip install "fastlayers[train]"``).  They draw
on their own :class:`~matplotlib.figure.Figure` with the Agg canvas, so
they neither need a display nor change the pyplot backend of the caller.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_history", "plot_predictions"]


def _figure(figsize):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            'plotting needs matplotlib; install it with: pip install "fastlayers[train]"'
        ) from error
    figure = Figure(figsize=figsize)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path, dpi):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi, format="png")
    return path


def _history(history):
    """Return (step_losses, epochs as dicts) from a result or a metrics dict."""
    if hasattr(history, "to_dict"):
        history = history.to_dict()
    if not isinstance(history, dict):
        raise TypeError(
            "plot_history: expected a TrainingResult or a metrics dict, "
            f"got {type(history).__name__}"
        )
    epochs = history.get("epochs") or []
    steps = history.get("step_losses") or []
    if not epochs and not steps:
        raise ValueError("plot_history: the history has neither epochs nor step losses")
    return np.asarray(steps, dtype=float), list(epochs)


def plot_history(history, path, *, title=None, dpi=100):
    """Plot the loss per step and per epoch, and the test accuracy per epoch.

    Parameters
    ----------
    history : TrainingResult or dict
        A :class:`fastlayers.training.TrainingResult`, or its ``to_dict()``
        form (e.g. the contents of a ``metrics.json`` written by
        ``fastlayers train``).
    path : str or os.PathLike
        PNG file to write.
    title : str, optional
        Title above both panels.
    dpi : int, default 100

    Returns
    -------
    pathlib.Path
        The file written.
    """
    steps, epochs = _history(history)
    figure = _figure((11, 4.2))
    loss_axes, accuracy_axes = figure.subplots(1, 2)

    epoch_numbers = [e["epoch"] for e in epochs]
    steps_per_epoch = [e.get("steps", 0) for e in epochs]
    # x axis in epochs: step i of the run ends at fraction (i+1)/steps of its epoch.
    if steps.size:
        positions = []
        first = epoch_numbers[0] - 1 if epoch_numbers else 0
        for offset, count in enumerate(steps_per_epoch):
            positions.extend(first + offset + (np.arange(count) + 1) / max(count, 1))
        if len(positions) != steps.size:
            positions = (np.arange(steps.size) + 1) / max(steps.size, 1) * max(len(epochs), 1)
        loss_axes.plot(
            positions,
            steps,
            color="tab:blue",
            alpha=0.3,
            linewidth=0.8,
            label="train loss (per step)",
        )
    if epochs:
        loss_axes.plot(
            epoch_numbers,
            [e["train_loss"] for e in epochs],
            "o-",
            color="tab:blue",
            label="train loss (epoch mean)",
        )
        test_losses = [e.get("test_loss") for e in epochs]
        if any(v is not None for v in test_losses):
            loss_axes.plot(
                epoch_numbers,
                [np.nan if v is None else v for v in test_losses],
                "s-",
                color="tab:orange",
                label="test loss",
            )
    loss_axes.set_xlabel("epoch")
    loss_axes.set_ylabel("cross-entropy loss per sample")
    positive = steps[np.isfinite(steps) & (steps > 0)] if steps.size else steps
    if positive.size and positive.max() / positive.min() > 50:
        loss_axes.set_yscale("log")
    loss_axes.grid(True, alpha=0.3)
    loss_axes.legend()
    loss_axes.set_title("loss")

    accuracies = [e.get("test_accuracy") for e in epochs]
    if any(v is not None for v in accuracies):
        values = [np.nan if v is None else 100 * v for v in accuracies]
        accuracy_axes.plot(epoch_numbers, values, "o-", color="tab:green")
        for x, y in zip(epoch_numbers, values):
            if np.isfinite(y):
                accuracy_axes.annotate(
                    f"{y:.2f}%",
                    (x, y),
                    textcoords="offset points",
                    xytext=(0, 6),
                    ha="center",
                    fontsize=8,
                )
        accuracy_axes.set_ylabel("test accuracy (%)")
        accuracy_axes.set_title("test accuracy")
    else:
        accuracy_axes.text(
            0.5, 0.5, "no test data", ha="center", va="center", transform=accuracy_axes.transAxes
        )
    accuracy_axes.set_xlabel("epoch")
    if epoch_numbers:
        accuracy_axes.set_xticks(epoch_numbers)
    accuracy_axes.grid(True, alpha=0.3)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, path, dpi)


def plot_predictions(
    images,
    true_labels,
    predicted_labels,
    path,
    *,
    n_images=24,
    columns=8,
    seed=0,
    indices=None,
    title=None,
    dpi=100,
):
    """Draw a grid of test images, each titled ``"pred X / true Y"``.

    Wrong predictions get a red title.

    Parameters
    ----------
    images : numpy.ndarray
        ``(n, height, width)`` or ``(n, 1, height, width)``, ``uint8`` or float.
    true_labels, predicted_labels : array_like of int
        Class of every image and the network's prediction.
    path : str or os.PathLike
        PNG file to write.
    n_images : int, default 24
        How many images to show (at most ``n``).
    columns : int, default 8
    seed : int, default 0
        Which images are shown: a random choice made with this seed.
    indices : array_like of int, optional
        Show exactly these images instead of a random choice.
    title : str, optional
    dpi : int, default 100

    Returns
    -------
    pathlib.Path
        The file written.
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3:
        raise ValueError(
            "plot_predictions: expected images of shape (n, height, width) or "
            f"(n, 1, height, width), got {images.shape}"
        )
    true_labels = np.asarray(true_labels)
    predicted_labels = np.asarray(predicted_labels)
    if true_labels.shape != (len(images),) or predicted_labels.shape != (len(images),):
        raise ValueError(
            f"plot_predictions: expected {len(images)} true and predicted labels, got shapes "
            f"{true_labels.shape} and {predicted_labels.shape}"
        )
    if indices is None:
        count = min(int(n_images), len(images))
        if count < 1:
            raise ValueError("plot_predictions: nothing to show")
        indices = np.sort(np.random.default_rng(seed).choice(len(images), count, replace=False))
    else:
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if indices.size == 0:
            raise ValueError("plot_predictions: nothing to show")
    columns = max(1, min(int(columns), len(indices)))
    rows = -(-len(indices) // columns)
    figure = _figure((1.45 * columns, 1.65 * rows + (0.4 if title else 0.0)))
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    if images.dtype == np.uint8:
        vmax = 255
    else:
        vmax = 1.0 if float(np.nanmax(images[indices])) <= 1.0 else None
    for ax in axes:
        ax.set_axis_off()
    for ax, index in zip(axes, indices):
        predicted, truth = int(predicted_labels[index]), int(true_labels[index])
        ax.imshow(images[index], cmap="gray", vmin=0, vmax=vmax, interpolation="nearest")
        ax.set_title(
            f"pred {predicted} / true {truth}",
            fontsize=9,
            color="black" if predicted == truth else "red",
        )
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, path, dpi)
