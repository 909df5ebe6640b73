"""The ``fastlayers`` command line: ``fastlayers train`` trains LeNet on MNIST.

::

    fastlayers train                          # bundled subset, about 97% in seconds
    fastlayers train --data full --epochs 3   # the full set (downloaded once)
    python -m fastlayers train --help

The run's results go to ``--output-dir``: ``metrics.json``,
``loss_accuracy.png``, ``predictions.png`` and the trained weights
``model.npz`` (load them with :func:`fastlayers.serialization.load_model`).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["main"]

PROG = "fastlayers"

#: Learning rate used when --learning-rate is not given.
DEFAULT_LEARNING_RATES = {"sgd": 0.1, "momentum": 0.01, "adam": 1e-3}

DEFAULTS = {
    "epochs": 5,
    "batch_size": 32,
    "optimizer": "adam",
    "momentum": 0.9,
    "weight_decay": 0.0,
    "lr_decay": 0.5,
    "dtype": "float32",
    "backend": "fast",
    "data": "bundled",
    "seed": 0,
}


# --------------------------------------------------------------------------
# Argument types: each raises ArgumentTypeError, which argparse turns into
# "argument --x: message" and exit status 2.


def _int(text, minimum=None, maximum=None, what="an integer"):
    try:
        value = int(text, 10)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if minimum is not None and value < minimum:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    if maximum is not None and value > maximum:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text):
    return _int(text, minimum=1, what="a positive integer")


def seed_int(text):
    return _int(text, minimum=0, maximum=2**32 - 1, what="an integer from 0 to 2**32-1")


def thread_count(text):
    import numba

    limit = numba.config.NUMBA_NUM_THREADS
    return _int(
        text,
        minimum=1,
        maximum=limit,
        what=f"a thread count from 1 to {limit} (NUMBA_NUM_THREADS)",
    )


def _float(text, what, check):
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not math.isfinite(value) or not check(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_float(text):
    return _float(text, "a positive number", lambda v: v > 0)


def nonnegative_float(text):
    return _float(text, "a number >= 0", lambda v: v >= 0)


def momentum_float(text):
    return _float(text, "a number in [0, 1)", lambda v: 0 <= v < 1)


def decay_float(text):
    return _float(text, "a number in (0, 1]", lambda v: 0 < v <= 1)


# --------------------------------------------------------------------------
# Parser


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    # Options whose default depends on others (None here) describe it in
    # their own help text; appending "(default: None)" would contradict it.
    def _get_help_string(self, action):
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def build_parser():
    """Return the ``fastlayers`` argument parser."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Numba-compiled CNN layers with the FAU tutorial's interface.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    train = commands.add_parser(
        "train",
        help="train the tutorial's LeNet on MNIST",
        description=(
            "Train the tutorial's LeNet on MNIST, print the test accuracy after every "
            "epoch and write metrics.json, loss_accuracy.png, predictions.png and "
            "model.npz into the output directory. Learning rates apply to the "
            "per-sample mean loss."
        ),
        formatter_class=_DefaultsFormatter,
    )
    d = DEFAULTS
    train.add_argument(
        "--epochs", type=positive_int, default=d["epochs"], help="passes over the training set"
    )
    train.add_argument(
        "--batch-size", type=positive_int, default=d["batch_size"], help="samples per mini-batch"
    )
    train.add_argument(
        "--learning-rate",
        "--lr",
        type=positive_float,
        default=None,
        help="step size (default: {})".format(
            ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LEARNING_RATES.items())
        ),
    )
    train.add_argument(
        "--optimizer",
        choices=("sgd", "momentum", "adam"),
        default=d["optimizer"],
        help="plain SGD, SGD with momentum, or Adam",
    )
    train.add_argument(
        "--momentum",
        type=momentum_float,
        default=None,
        help=f"momentum of --optimizer momentum (default {d['momentum']})",
    )
    train.add_argument(
        "--nesterov", action="store_true", help="Nesterov momentum (with --optimizer momentum)"
    )
    train.add_argument(
        "--lr-decay",
        type=decay_float,
        default=d["lr_decay"],
        help="multiply the learning rate by this after every epoch (1 keeps it constant)",
    )
    train.add_argument(
        "--weight-decay",
        type=nonnegative_float,
        default=d["weight_decay"],
        help="L2 penalty coefficient",
    )
    train.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default=d["dtype"],
        help="floating-point type of parameters and computation",
    )
    train.add_argument(
        "--backend",
        choices=("fast", "reference"),
        default=d["backend"],
        help="numba layers, or the (slow) SciPy reference layers",
    )
    train.add_argument(
        "--data",
        default=d["data"],
        metavar="{bundled,full,PATH}",
        help="'bundled': the 6,000/1,000-image subset shipped with fastlayers; "
        "'full': all of MNIST, downloaded once into the cache directory "
        "($FASTLAYERS_DATA/mnist or ~/.cache/fastlayers/mnist); "
        "PATH: a folder with the four MNIST IDX files (nothing is "
        "downloaded; write ./full for a folder named 'full')",
    )
    train.add_argument(
        "--threads",
        type=thread_count,
        default=None,
        help="kernel threads (default: all, NUMBA_NUM_THREADS)",
    )
    train.add_argument(
        "--seed", type=seed_int, default=d["seed"], help="seed of initialization and shuffling"
    )
    train.add_argument(
        "--output-dir",
        "-o",
        type=Path,
        default=None,
        help="where results go (default: runs/lenet-<date>-<time>)",
    )
    train.add_argument(
        "--limit-train",
        type=positive_int,
        default=None,
        metavar="N",
        help="use only the first N training images",
    )
    train.add_argument(
        "--limit-test",
        type=positive_int,
        default=None,
        metavar="N",
        help="use only the first N test images",
    )
    train.add_argument(
        "--no-plots", action="store_true", help="skip loss_accuracy.png and predictions.png"
    )
    train.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    train.set_defaults(func=_train_command, subparser=train)
    return parser


# --------------------------------------------------------------------------
# The train command


class _Failure(Exception):
    """An error to report in one line, with exit status 1."""


def _load_data(args, parser):
    from .datasets import DownloadError, IDXFormatError, load_bundled_mnist, load_mnist
    from .datasets.mnist import MNIST_FILES, default_data_dir

    choice = args.data
    if choice == "bundled":
        return load_bundled_mnist(), "bundled subset", None
    if choice == "full":
        directory = default_data_dir()
        try:
            data = load_mnist(directory, download=True, progress=not args.quiet)
        except DownloadError as error:
            raise _Failure(
                f"could not download MNIST into {directory}: {error}\n"
                "Download the four files by hand into that folder (or set FASTLAYERS_DATA), "
                "or pass --data PATH."
            ) from None
        except (IDXFormatError, ValueError, OSError) as error:
            raise _Failure(f"could not read MNIST from {directory}: {error}") from None
        return data, "full MNIST", str(directory)
    path = Path(choice).expanduser()
    if not path.exists():
        parser.error(
            f"argument --data: no such directory: {choice!r} "
            "(expected 'bundled', 'full' or a folder with the four MNIST IDX files)"
        )
    if not path.is_dir():
        parser.error(f"argument --data: {choice!r} is not a directory")
    missing = [
        stem
        for stem in MNIST_FILES
        if not (path / stem).is_file() and not (path / (stem + ".gz")).is_file()
    ]
    if missing:
        parser.error(
            f"argument --data: {choice!r} lacks the MNIST file"
            f"{'s' if len(missing) > 1 else ''} {', '.join(m + '[.gz]' for m in missing)} "
            "(use --data full to download MNIST)"
        )
    try:
        data = load_mnist(path, download=False)
    except FileNotFoundError as error:
        parser.error(f"argument --data: {error}")
    except (IDXFormatError, ValueError, OSError) as error:
        parser.error(f"argument --data: cannot read MNIST from {choice!r}: {error}")
    return data, f"MNIST from {path}", str(path.resolve())


def _output_dir(args, parser, create):
    if args.output_dir is not None:
        path = args.output_dir.expanduser()
    else:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = Path("runs") / f"lenet-{stamp}"
        suffix = 1
        while path.exists():
            suffix += 1
            path = Path("runs") / f"lenet-{stamp}-{suffix}"
    if path.exists() and not path.is_dir():
        parser.error(f"argument --output-dir: {str(path)!r} exists and is not a directory")
    if not create:
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        parser.error(
            f"argument --output-dir: cannot create {str(path)!r}: {error.strerror or error}"
        )
    if not os.access(path, os.W_OK):
        parser.error(f"argument --output-dir: {str(path)!r} is not writable")
    return path


def _optimizer(args):
    from .optimizers import SGD, Adam

    lr = (
        args.learning_rate
        if args.learning_rate is not None
        else DEFAULT_LEARNING_RATES[args.optimizer]
    )
    if args.optimizer == "adam":
        return Adam(lr, weight_decay=args.weight_decay), lr
    if args.optimizer == "momentum":
        momentum = DEFAULTS["momentum"] if args.momentum is None else args.momentum
        return SGD(
            lr, momentum=momentum, weight_decay=args.weight_decay, nesterov=args.nesterov
        ), lr
    return SGD(lr, weight_decay=args.weight_decay), lr


def _train_command(args, parser):
    from .parallel import get_num_threads, set_num_threads

    threads = get_num_threads()
    try:
        return _train(args, parser)
    finally:
        # main() may be called in-process; leave the thread count as found.
        set_num_threads(threads)


def _train(args, parser):
    # Option combinations argparse cannot express.
    if args.momentum is not None and args.optimizer != "momentum":
        parser.error("argument --momentum: only applies to --optimizer momentum")
    if args.nesterov and args.optimizer != "momentum":
        parser.error("argument --nesterov: only applies to --optimizer momentum")
    if args.nesterov and args.momentum == 0:
        parser.error("argument --nesterov: needs a --momentum above 0")

    _output_dir(args, parser, create=False)  # fail early, before loading data
    mnist, data_label, data_dir = _load_data(args, parser)
    out = _output_dir(args, parser, create=True)

    import numpy as np

    from . import threading_layer
    from .models import lenet
    from .serialization import save_weights
    from .training import EpochLogger, Trainer, run_metrics, write_metrics

    train_images, train_labels = mnist.train_images, mnist.train_labels
    test_images, test_labels = mnist.test_images, mnist.test_labels
    if args.limit_train is not None:
        train_images, train_labels = (
            train_images[: args.limit_train],
            train_labels[: args.limit_train],
        )
    if args.limit_test is not None:
        test_images, test_labels = test_images[: args.limit_test], test_labels[: args.limit_test]
    if len(test_images) == 0 or len(train_images) == 0:
        raise _Failure(
            f"the {data_label} has no {'test' if len(train_images) else 'training'} images"
        )
    optimizer, lr = _optimizer(args)

    say = (lambda *a, **k: None) if args.quiet else (lambda *a, **k: print(*a, **k, flush=True))
    started = datetime.now(timezone.utc)
    net = lenet(10, backend=args.backend, dtype=args.dtype, seed=args.seed)
    callbacks = [] if args.quiet else [EpochLogger()]
    trainer = Trainer(
        net,
        optimizer=optimizer,
        batch_size=args.batch_size,
        seed=args.seed,
        threads=args.threads,
        lr_decay=args.lr_decay,
        callbacks=callbacks,
        progress=not args.quiet,
    )
    where = (
        f"{trainer.threads} thread{'s' if trainer.threads != 1 else ''}"
        if args.backend == "fast"
        else "SciPy, slow"
    )
    say(
        f"LeNet on {data_label}: {len(train_images):,} training / {len(test_images):,} test "
        f"images; {args.backend} layers ({where}), {args.dtype}"
    )
    config = optimizer.get_config()
    details = [f"learning rate {lr:g}"]
    if args.lr_decay != 1:
        details.append(f"x{args.lr_decay:g} per epoch")
    if config.get("momentum"):
        details.append(
            f"momentum {config['momentum']:g}" + (" (Nesterov)" if config["nesterov"] else "")
        )
    if args.weight_decay:
        details.append(f"weight decay {args.weight_decay:g}")
    say(
        f"{args.optimizer} ({', '.join(details)}), batch size {args.batch_size}, "
        f"{args.epochs} epoch{'s' if args.epochs != 1 else ''}, seed {args.seed}; output in {out}"
    )
    t0 = time.perf_counter()
    # Overflow on the way to a diverged loss is reported as such below,
    # not as NumPy warnings.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        result = trainer.fit(
            train_images,
            train_labels,
            epochs=args.epochs,
            test_data=(test_images, test_labels),
            warm_up=True,
        )
    total_seconds = time.perf_counter() - t0
    evaluation = trainer.last_evaluation
    say(
        f"final test accuracy {100 * result.final_test_accuracy:.2f}% "
        f"({evaluation.samples:,} images); training {result.train_seconds:.1f} s at "
        f"{result.samples_per_second:,.0f} samples/s, warm-up {result.warmup_seconds:.1f} s, "
        f"total {total_seconds:.1f} s"
    )

    files = {"metrics": "metrics.json", "weights": "model.npz"}
    save_weights(net, out / files["weights"])
    plot_error = None
    if not args.no_plots:
        try:
            from .plots import plot_history, plot_predictions

            title = (
                f"LeNet, {data_label}, {args.optimizer} lr {lr:g}, batch {args.batch_size}, "
                f"{args.dtype}"
            )
            plot_history(result, out / "loss_accuracy.png", title=title)
            files["loss_accuracy_plot"] = "loss_accuracy.png"
            plot_predictions(
                test_images,
                test_labels,
                evaluation.predictions,
                out / "predictions.png",
                seed=args.seed,
                title=f"test images: prediction / truth (accuracy "
                f"{100 * result.final_test_accuracy:.2f}%)",
            )
            files["predictions_plot"] = "predictions.png"
        except ImportError as error:
            plot_error = str(error)
            print(f"{PROG} train: warning: no plots written: {error}", file=sys.stderr)

    settings = {
        "model": "lenet",
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": lr,
        "optimizer": args.optimizer,
        "optimizer_config": {"name": type(optimizer).__name__, **optimizer.get_config()},
        "momentum": optimizer.get_config().get("momentum"),
        "weight_decay": args.weight_decay,
        "lr_decay": args.lr_decay,
        "reduction": trainer.reduction,
        "dtype": args.dtype,
        "backend": args.backend,
        "data": args.data,
        "data_description": data_label,
        "data_dir": data_dir,
        "n_train": int(len(train_images)),
        "n_test": int(len(test_images)),
        "limit_train": args.limit_train,
        "limit_test": args.limit_test,
        "threads": trainer.threads,
        "seed": args.seed,
        "output_dir": str(out),
    }
    metrics = run_metrics(
        trainer,
        result,
        test_labels=test_labels,
        n_classes=10,
        settings=settings,
        command=" ".join([PROG] + list(args._argv)),
        started_at=started,
        total_seconds=total_seconds,
        threading_layer=threading_layer() if args.backend == "fast" else None,
        files=files,
    )
    if plot_error:
        metrics["plot_error"] = plot_error
    write_metrics(out / files["metrics"], metrics)
    say("wrote " + ", ".join(str(out / name) for name in files.values()))
    return 0


def main(argv=None) -> int:
    """Run the ``fastlayers`` command; return the exit status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success, 2 for bad options (with a message on stderr), 1 when
        the run fails (download error, diverged training, unwritable
        files), 130 when interrupted.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    prefix = PROG
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_usage(sys.stderr)
            print(
                f"{PROG}: error: a command is required (try '{PROG} train --help')", file=sys.stderr
            )
            return 2
        prefix = f"{PROG} {args.command}"
        args._argv = argv
        return args.func(args, args.subparser)
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except KeyboardInterrupt:
        print(f"\n{prefix}: interrupted", file=sys.stderr)
        return 130
    except (_Failure, FloatingPointError, OSError) as error:
        # FloatingPointError: the training diverged (TrainingDivergedError).
        print(f"{prefix}: error: {error}", file=sys.stderr)
        return 1
