"""Build the MNIST subset bundled in ``fastlayers/datasets/bundled``.

The subset is stratified: a fixed number of images per digit is drawn with a
fixed seed from each of the standard training and test splits, and kept in
their original order. The output is deterministic, so re-running the script
on the standard files reproduces the bundled files byte for byte (given the
same zlib version).

Usage::

    python scripts/build_bundled_mnist.py [SOURCE_DIR] [--output DIR]

SOURCE_DIR holds the four standard gzipped MNIST files; it defaults to
``../shared/data/mnist`` relative to the repository root. The files' SHA-256
must match the published MNIST files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
# Importing from the checkout (not an installed copy) makes the subset come
# from this version's reader and writer.
sys.path.insert(0, str(REPO_ROOT))

from fastlayers.datasets import (  # noqa: E402
    MNIST_FILES,
    MNIST_SHA256,
    load_mnist,
    sha256sum,
    write_idx,
)

DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "data" / "mnist"
DEFAULT_OUTPUT = REPO_ROOT / "fastlayers" / "datasets" / "bundled"
TRAIN_PER_CLASS = 600
TEST_PER_CLASS = 100
SEED = 19980501


def stratified_indices(labels, per_class: int, rng) -> np.ndarray:
    """Pick `per_class` indices of each label, returned in ascending order."""
    chosen = [
        rng.choice(np.flatnonzero(labels == digit), per_class, replace=False) for digit in range(10)
    ]
    return np.sort(np.concatenate(chosen))


def build(source: Path, output: Path) -> list[Path]:
    """Write the subset's four gzipped IDX files into `output`.

    Parameters
    ----------
    source : pathlib.Path
        Directory with the four standard gzipped MNIST files.
    output : pathlib.Path
        Destination directory; created if missing.

    Returns
    -------
    list of pathlib.Path
        The files written, in the order of ``MNIST_FILES``.

    Raises
    ------
    ValueError
        If a source file is not the published MNIST file.
    """
    for name, expected in MNIST_SHA256.items():
        found = sha256sum(source / name)
        if found != expected:
            raise ValueError(
                f"build_bundled_mnist.build: expected the standard MNIST file "
                f"{source / name} (SHA-256 {expected}), got SHA-256 {found}"
            )
    mnist = load_mnist(source, download=False)
    rng = np.random.default_rng(SEED)
    # Drawing the training subset first fixes the random stream for both.
    train = stratified_indices(mnist.train_labels, TRAIN_PER_CLASS, rng)
    test = stratified_indices(mnist.test_labels, TEST_PER_CLASS, rng)
    arrays = (
        mnist.train_images[train],
        mnist.train_labels[train],
        mnist.test_images[test],
        mnist.test_labels[test],
    )
    output.mkdir(parents=True, exist_ok=True)
    return [
        write_idx(output / f"{stem}.gz", array)
        for stem, array in zip(MNIST_FILES, arrays, strict=True)
    ]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "source",
        nargs="?",
        type=Path,
        default=DEFAULT_SOURCE,
        help=f"directory with the standard MNIST files (default: {DEFAULT_SOURCE})",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"destination directory (default: {DEFAULT_OUTPUT})",
    )
    args = parser.parse_args(argv)
    for path in build(args.source, args.output):
        print(f"{path}  {path.stat().st_size} bytes  sha256 {sha256sum(path)}")


if __name__ == "__main__":
    main()
