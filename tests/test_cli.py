"""The ``fastlayers train`` command."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastlayers as fl
from fastlayers.cli import main
from fastlayers.datasets import MNIST_FILES, load_bundled_mnist, write_idx
from fastlayers.models import load_model
from fastlayers.training import evaluate

REPO = Path(__file__).resolve().parents[1]
QUICK = ["--limit-train", "256", "--limit-test", "100", "--epochs", "1"]


@pytest.fixture(autouse=True)
def _restore_thread_count():
    """Some tests choose a thread count; later tests get the one they found."""
    before = fl.get_num_threads()
    yield
    fl.set_num_threads(before)


def run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_quick_run_writes_all_outputs(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "run"
    code, stdout, stderr = run(["train", *QUICK, "--epochs", "2", "-o", str(out)], capsys)
    assert code == 0, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stdout.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2 and all("test accuracy" in line for line in lines)
    assert "final test accuracy" in stdout
    for name in ("metrics.json", "loss_accuracy.png", "predictions.png", "model.npz"):
        assert (out / name).is_file(), name
    for name in ("loss_accuracy.png", "predictions.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["epochs"]) == 2
    for epoch in metrics["epochs"]:
        assert {
            "epoch",
            "train_loss",
            "test_loss",
            "test_accuracy",
            "samples_per_second",
            "seconds",
            "learning_rate",
        } <= set(epoch)
    assert metrics["final_test_accuracy"] == metrics["epochs"][-1]["test_accuracy"]
    assert 0.0 <= metrics["final_test_accuracy"] <= 1.0
    assert len(metrics["step_losses"]) == 2 * 8
    assert metrics["samples_per_second"] > 0
    settings = metrics["settings"]
    assert settings["epochs"] == 2 and settings["batch_size"] == 32
    assert settings["optimizer"] == "adam" and settings["learning_rate"] == 1e-3
    assert settings["dtype"] == "float32" and settings["backend"] == "fast"
    assert (
        settings["data"] == "bundled" and settings["n_train"] == 256 and settings["n_test"] == 100
    )
    assert settings["seed"] == 0 and settings["threads"] == metrics["threads"] >= 1
    assert {"fastlayers", "numpy", "numba", "scipy", "python"} <= set(metrics["versions"])
    assert np.sum(metrics["confusion_matrix"]) == 100

    # The saved model reproduces the reported accuracy.
    net = load_model(out / "model.npz")
    mnist = load_bundled_mnist()
    evaluation = evaluate(net, mnist.test_images[:100], mnist.test_labels[:100])
    assert evaluation.accuracy == metrics["final_test_accuracy"]


def test_same_seed_same_metrics_and_options_are_applied(tmp_path, capsys):
    argv = [
        "train",
        *QUICK,
        "--optimizer",
        "momentum",
        "--momentum",
        "0.8",
        "--nesterov",
        "--learning-rate",
        "0.02",
        "--weight-decay",
        "1e-4",
        "--dtype",
        "float64",
        "--batch-size",
        "64",
        "--seed",
        "3",
        "--threads",
        "1",
        "--lr-decay",
        "1",
        "--no-plots",
        "--quiet",
    ]
    losses = []
    for name in ("a", "b"):
        code, stdout, stderr = run(argv + ["-o", str(tmp_path / name)], capsys)
        assert code == 0, stderr
        assert stdout == ""
        metrics = json.loads((tmp_path / name / "metrics.json").read_text())
        losses.append(metrics["step_losses"])
        assert not (tmp_path / name / "predictions.png").exists()
        assert not (tmp_path / name / "loss_accuracy.png").exists()
    assert losses[0] == losses[1]
    config = metrics["settings"]["optimizer_config"]
    assert config == {
        "name": "SGD",
        "learning_rate": 0.02,
        "momentum": 0.8,
        "weight_decay": 1e-4,
        "nesterov": True,
    }
    assert metrics["settings"]["threads"] == 1 and metrics["settings"]["dtype"] == "float64"
    assert len(losses[0]) == 4


def test_data_from_a_folder_of_idx_files(tmp_path, capsys):
    mnist = load_bundled_mnist()
    folder = tmp_path / "mnist"
    folder.mkdir()
    arrays = (
        mnist.train_images[:96],
        mnist.train_labels[:96],
        mnist.test_images[:40],
        mnist.test_labels[:40],
    )
    for stem, array in zip(MNIST_FILES, arrays):
        write_idx(folder / stem, array)  # uncompressed works as well as .gz
    code, stdout, stderr = run(
        [
            "train",
            "--data",
            str(folder),
            "--epochs",
            "1",
            "--quiet",
            "--no-plots",
            "-o",
            str(tmp_path / "out"),
        ],
        capsys,
    )
    assert code == 0, stderr
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["settings"]["n_train"] == 96 and metrics["settings"]["n_test"] == 40
    assert metrics["settings"]["data_dir"] == str(folder.resolve())


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--epochs", "-1"], "argument --epochs: expected a positive integer, got '-1'"),
        (["train", "--epochs", "0"], "argument --epochs"),
        (["train", "--batch-size", "many"], "argument --batch-size"),
        (["train", "--optimizer", "rmsprop"], "argument --optimizer: invalid choice: 'rmsprop'"),
        (["train", "--learning-rate", "-0.1"], "expected a positive number, got '-0.1'"),
        (["train", "--learning-rate", "nan"], "argument --learning-rate"),
        (["train", "--weight-decay", "-1"], "argument --weight-decay"),
        (["train", "--lr-decay", "1.5"], "argument --lr-decay"),
        (["train", "--momentum", "0.5"], "--momentum: only applies to --optimizer momentum"),
        (["train", "--optimizer", "momentum", "--momentum", "1.5"], "argument --momentum"),
        (["train", "--optimizer", "momentum", "--momentum", "0", "--nesterov"], "--nesterov"),
        (["train", "--nesterov"], "--nesterov: only applies"),
        (["train", "--dtype", "float16"], "argument --dtype: invalid choice"),
        (["train", "--backend", "gpu"], "argument --backend: invalid choice"),
        (["train", "--threads", "0"], "argument --threads: expected a thread count from 1 to"),
        (["train", "--threads", "100000"], "argument --threads"),
        (["train", "--seed", "-3"], "argument --seed"),
        (["train", "--data", "/no/such/folder"], "argument --data: no such directory"),
        (["train", "--limit-train", "0"], "argument --limit-train"),
        (["train", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "a command is required"),
    ],
)
def test_bad_options_exit_2_with_a_message(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = run(argv, capsys)
    assert code == 2
    assert message in stderr
    assert "error:" in stderr and "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []  # no output directory was created


def test_data_folder_without_mnist_files(tmp_path, capsys):
    code, _, stderr = run(["train", "--data", str(tmp_path), "-o", str(tmp_path / "o")], capsys)
    assert code == 2
    assert "lacks the MNIST files train-images-idx3-ubyte[.gz]" in stderr
    assert not (tmp_path / "o").exists()
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"garbage")
    for stem in MNIST_FILES[1:]:
        (tmp_path / stem).write_bytes(b"garbage")
    code, _, stderr = run(["train", "--data", str(tmp_path)], capsys)
    assert code == 2 and "cannot read MNIST" in stderr and "Traceback" not in stderr


def test_output_dir_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("x")
    code, _, stderr = run(["train", *QUICK, "-o", str(target)], capsys)
    assert code == 2 and "exists and is not a directory" in stderr


def test_diverging_run_exits_1_without_traceback(tmp_path, capsys):
    code, _, stderr = run(
        [
            "train",
            "--limit-train",
            "512",
            "--limit-test",
            "10",
            "--optimizer",
            "sgd",
            "--learning-rate",
            "1e4",
            "--quiet",
            "-o",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 1
    assert "error: the training loss became" in stderr and "Traceback" not in stderr


def test_help_and_version(capsys):
    code, stdout, _ = run(["train", "--help"], capsys)
    assert code == 0 and "--learning-rate" in stdout and "--data" in stdout
    code, stdout, _ = run(["--version"], capsys)
    assert code == 0 and stdout.startswith("fastlayers ")


def test_python_dash_m_entry_point(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "fastlayers", "train", "--epochs", "-2"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "fastlayers train: error: argument --epochs" in proc.stderr
    assert "Traceback" not in proc.stderr
