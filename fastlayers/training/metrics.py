"""The record of a training run, as ``fastlayers train`` writes it to ``metrics.json``.

:func:`run_metrics` gathers what a :class:`~fastlayers.training.Trainer`
measured (per-epoch losses and accuracies, throughput, the final
evaluation and its confusion matrix) with the software and machine it ran
on; :func:`write_metrics` stores it as strict JSON.
"""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path

import numpy as np

__all__ = ["METRICS_VERSION", "confusion_matrix", "environment", "run_metrics", "write_metrics"]

#: Version of the layout of the record; raised when a key changes meaning.
METRICS_VERSION = 1


def confusion_matrix(true, predicted, classes):
    """Return ``counts[true class][predicted class]`` as nested lists of ints."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(true, np.int64), np.asarray(predicted, np.int64)), 1)
    return matrix.tolist()


def environment():
    """Return ``{"versions": ..., "platform": ...}`` of the running process."""
    import numba
    import scipy

    from .. import __version__

    versions = {
        "fastlayers": __version__,
        "numpy": np.__version__,
        "numba": numba.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
    }
    for name in ("matplotlib", "tqdm"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        versions[name] = getattr(module, "__version__", "unknown")
    return {
        "versions": versions,
        "platform": {
            "system": platform.system(),
            "machine": platform.machine(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
        },
    }


def run_metrics(
    trainer,
    result,
    *,
    test_labels=None,
    n_classes=None,
    settings=None,
    command=None,
    started_at=None,
    total_seconds=None,
    threading_layer=None,
    files=None,
):
    """Return the JSON-serialisable record of one :meth:`Trainer.fit` run.

    Parameters
    ----------
    trainer : Trainer
        The trainer that ran; its ``last_evaluation`` gives the final test
        loss and predictions.
    result : TrainingResult
        What :meth:`Trainer.fit` returned.
    test_labels : array_like, optional
        Integer classes of the test set, for the confusion matrix.
    n_classes : int, optional
        Size of the confusion matrix; default: the trainer's ``n_classes``,
        else one more than the largest class seen.
    settings : dict, optional
        Settings to record; default ``trainer.settings()``.
    command : str, optional
        The command line that started the run.
    started_at : datetime.datetime, optional
    total_seconds : float, optional
        Wall time of the whole run (compilation and evaluation included).
    threading_layer : str, optional
        numba's threading layer, where the layers ran on it.
    files : dict, optional
        Names of the files the run wrote.

    Returns
    -------
    dict
    """
    evaluation = trainer.last_evaluation
    confusion = None
    if evaluation is not None and test_labels is not None:
        true = np.asarray(test_labels)
        if n_classes is None:
            n_classes = trainer.n_classes
        if n_classes is None:
            n_classes = int(max(true.max(), evaluation.predictions.max())) + 1
        confusion = confusion_matrix(true, evaluation.predictions, n_classes)
    summary = result.to_dict()
    record = {
        "fastlayers_metrics_version": METRICS_VERSION,
        "command": command,
        "started_at": None if started_at is None else started_at.isoformat(timespec="seconds"),
        "settings": trainer.settings() if settings is None else settings,
        "epochs": summary["epochs"],
        "epoch_losses": result.epoch_losses,
        "test_accuracies": result.test_accuracies,
        "final_test_accuracy": result.final_test_accuracy,
        "final_test_loss": None if evaluation is None else evaluation.loss,
        "confusion_matrix": confusion,
        "samples_per_second": result.samples_per_second,
        "train_seconds": result.train_seconds,
        "warmup_seconds": result.warmup_seconds,
        "total_seconds": total_seconds,
        "step_losses": result.step_losses,
        "threads": result.threads,
        "threading_layer": threading_layer,
        **environment(),
    }
    if files is not None:
        record["files"] = dict(files)
    return record


def _finite(value):
    """``value`` with NaN and infinities replaced by None (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def write_metrics(path, metrics):
    """Write ``metrics`` to ``path`` as strict JSON (NaN and infinities as null).

    Written to a temporary file first and then renamed, so an existing file
    is never left half-written.  Returns the path as a :class:`pathlib.Path`.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(_finite(metrics), handle, indent=2, allow_nan=False)
        handle.write("\n")
    os.replace(tmp, path)
    return path
