"""LeNet, and saving and loading network parameters."""

import json
import threading
import zipfile

import numpy as np
import pytest

import fastlayers as fl
from fastlayers import reference
from fastlayers.models import describe, lenet, load_model, load_weights, save_weights

LENET_TYPES = [
    "ConvolutionalLayer",
    "ReLU",
    "MaxPoolLayer",
    "ConvolutionalLayer",
    "ReLU",
    "MaxPoolLayer",
    "FlattenLayer",
    "FullyConnectedLayer",
    "ReLU",
    "FullyConnectedLayer",
    "ReLU",
    "FullyConnectedLayer",
]


def _params(net):
    return [
        (layer.weights.copy(), np.asarray(layer.bias).copy())
        for layer in net.layers
        if hasattr(layer, "weights")
    ]


def _images(n, dtype, seed=0):
    return np.random.default_rng(seed).random((n, 1, 28, 28)).astype(dtype)


@pytest.mark.parametrize("backend, module", [("fast", fl), ("reference", reference)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lenet_structure_shapes_and_dtype(backend, module, dtype):
    net = lenet(backend=backend, dtype=dtype, seed=0)
    assert isinstance(net, module.NeuralNetwork)
    assert [type(layer).__name__ for layer in net.layers] == LENET_TYPES
    assert all(type(layer).__module__.startswith(module.__name__) for layer in net.layers)
    assert isinstance(net.loss_layer, module.SoftMaxCrossEntropyLoss)
    assert net.data_layer is None
    shapes = [layer.weights.shape for layer in net.layers if hasattr(layer, "weights")]
    assert shapes == [(6, 1, 5, 5), (10, 6, 5, 5), (491, 120), (121, 84), (85, 10)]
    for layer in net.layers:
        if hasattr(layer, "weights"):
            assert layer.weights.dtype == dtype
            np.testing.assert_array_equal(layer.bias, np.float64(0.1).astype(dtype))
            assert layer.learning_rate == 0.001
        if isinstance(layer, module.MaxPoolLayer):
            assert tuple(layer.neighborhood) == (2, 2) and tuple(layer.stride) == (2, 2)
    x = _images(3, dtype)
    scores = net.test(x)
    assert scores.shape == (3, 10) and scores.dtype == dtype
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)
    assert net.spec == {
        "model": "lenet",
        "n_classes": 10,
        "input_shape": [1, 28, 28],
        "backend": backend,
        "dtype": np.dtype(dtype).name,
    }


def test_lenet_weights_are_he_initialized():
    net = lenet(seed=1)
    fc = net.layers[7]
    std = fc.weights[:-1].std()
    assert abs(std - np.sqrt(2 / 490)) < 0.05 * np.sqrt(2 / 490)


def test_lenet_other_sizes_and_classes():
    net = lenet(5, input_shape=(3, 32, 20), seed=0)
    assert net.layers[0].weights.shape == (6, 3, 5, 5)
    assert net.layers[7].weights.shape == (10 * 8 * 5 + 1, 120)
    assert net.test(np.zeros((2, 3, 32, 20))).shape == (2, 5)


def test_same_seed_same_parameters_in_both_backends_whatever_the_global_state():
    np.random.seed(99)
    fast = lenet(seed=5)
    np.random.seed(12345)
    ref = lenet(seed=5, backend="reference")
    for (wf, bf), (wr, br) in zip(_params(fast), _params(ref)):
        np.testing.assert_array_equal(wf, wr)
        np.testing.assert_array_equal(bf, br)
    other = lenet(seed=6)
    assert not np.array_equal(_params(other)[0][0], _params(fast)[0][0])
    # Layers appended later use the initializers the caller gave, not the seeded draw.
    assert type(fast.weights_initializer) is fl.He
    assert type(fast.bias_initializer) is fl.Const


def test_seeded_builds_in_four_threads_at_once_equal_a_build_alone():
    alone = {seed: _params(lenet(seed=seed)) for seed in (1, 2)}
    built = {}
    barrier = threading.Barrier(4)

    def build(index):
        barrier.wait()  # start together, so the builds overlap
        for repeat in range(5):
            seed = 1 + (index + repeat) % 2
            built[index, repeat] = (seed, _params(lenet(seed=seed)))

    threads = [threading.Thread(target=build, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 20
    for seed, params in built.values():
        for (w, b), (w0, b0) in zip(params, alone[seed]):
            np.testing.assert_array_equal(w, w0)
            np.testing.assert_array_equal(b, b0)


@pytest.mark.parametrize(
    "name, initializer",
    [
        ("He", fl.He()),
        ("Xavier", fl.Xavier()),
        ("UniformRandom", fl.UniformRandom()),
        ("Const", fl.Const(0.25)),
    ],
)
def test_seeded_initializers_draw_their_documented_distribution(name, initializer):
    net = lenet(seed=4, weights_initializer=initializer)
    fc = net.layers[7]  # 490 inputs, 120 outputs: enough values for the moments
    w = fc.weights[:-1]
    if name == "Const":
        np.testing.assert_array_equal(w, 0.25)
        return
    if name == "UniformRandom":
        assert w.min() >= 0 and w.max() < 1
        assert abs(w.mean() - 0.5) < 0.01 and abs(w.var() - 1 / 12) < 0.005
        return
    std = np.sqrt(2 / 490) if name == "He" else np.sqrt(2 / (490 + 120))
    assert abs(w.mean()) < 0.03 * std  # about 7 standard errors of the mean
    assert abs(w.std() - std) < 0.05 * std


def test_seed_with_an_initializer_of_ones_own_is_refused():
    class Ones:
        def initialize(self, shape):
            return np.ones(shape)

    with pytest.raises(TypeError, match="lenet: expected weights_initializer Const, Uniform"):
        lenet(seed=0, weights_initializer=Ones())
    # Without a seed any initializer is used as it is.
    assert np.all(lenet(weights_initializer=Ones()).layers[0].weights == 1)


def test_without_seed_the_global_state_is_used():
    np.random.seed(11)
    a = lenet()
    np.random.seed(11)
    b = lenet()
    np.testing.assert_array_equal(_params(a)[2][0], _params(b)[2][0])


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"backend": "gpu"}, ValueError, "lenet: expected backend 'fast' or 'reference'"),
        ({"dtype": np.int32}, TypeError, "lenet: expected dtype float32 or float64"),
        ({"n_classes": 0}, ValueError, "lenet: expected n_classes of at least 1"),
        ({"n_classes": 2.5}, TypeError, "lenet: expected n_classes as an int"),
        ({"input_shape": (1, 3, 28)}, ValueError, "height"),
        ({"input_shape": (28, 28)}, TypeError, "input_shape"),
        ({"learning_rate": "fast"}, TypeError, "learning_rate"),
        ({"seed": -1}, ValueError, "seed"),
    ],
)
def test_lenet_argument_validation(kwargs, error, text):
    with pytest.raises(error, match=text):
        lenet(**kwargs)


# -- save / load ---------------------------------------------------------------


def test_save_load_round_trip_is_exact(tmp_path):
    net = lenet(seed=0)
    path = save_weights(net, tmp_path / "model.npz")
    assert path == tmp_path / "model.npz" and path.is_file()
    other = lenet(seed=1)
    meta = load_weights(other, path)
    assert meta["spec"]["model"] == "lenet"
    for (wa, ba), (wb, bb) in zip(_params(net), _params(other)):
        np.testing.assert_array_equal(wa, wb)
        np.testing.assert_array_equal(ba, bb)
    x = _images(4, np.float64)
    np.testing.assert_array_equal(net.test(x), other.test(x))


def test_path_is_used_exactly_and_not_pickled(tmp_path):
    net = lenet(seed=0)
    path = save_weights(net, tmp_path / "sub" / "weights.bin")
    assert path.is_file() and not (tmp_path / "sub" / "weights.bin.npz").exists()
    with np.load(path, allow_pickle=False) as data:
        assert "0.weights" in data.files and "0.bias" in data.files
        assert "7.weights" in data.files and "7.bias" not in data.files  # folded bias
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temporary left


def test_fast_weights_load_into_reference_and_other_dtype(tmp_path):
    net = lenet(seed=0)
    save_weights(net, tmp_path / "w.npz")
    ref = lenet(seed=3, backend="reference")
    load_weights(ref, tmp_path / "w.npz")
    x = _images(2, np.float64)
    np.testing.assert_allclose(ref.test(x), net.test(x), rtol=1e-10)
    single = lenet(seed=3, dtype=np.float32)
    load_weights(single, tmp_path / "w.npz")
    assert single.layers[0].weights.dtype == np.float32
    np.testing.assert_allclose(single.test(x.astype(np.float32)), net.test(x), rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="float64 in .* network's is float32 .*cast=True"):
        load_weights(lenet(dtype=np.float32), tmp_path / "w.npz", cast=False)


def test_load_model_rebuilds_the_network(tmp_path):
    net = lenet(7, dtype=np.float32, input_shape=(1, 16, 16), seed=2)
    save_weights(net, tmp_path / "w.npz")
    for backend in ("fast", "reference"):
        loaded = load_model(tmp_path / "w.npz", backend=backend)
        assert loaded.spec["n_classes"] == 7 and loaded.spec["backend"] == backend
        x = np.random.default_rng(0).random((2, 1, 16, 16)).astype(np.float32)
        np.testing.assert_allclose(loaded.test(x), net.test(x), rtol=1e-5)


def test_mismatched_shapes_fail_clearly_and_leave_the_net_unchanged(tmp_path):
    save_weights(lenet(seed=0), tmp_path / "w.npz")
    target = lenet(5, seed=1)
    before = _params(target)
    with pytest.raises(ValueError, match=r"layer 11 \(FullyConnectedLayer\) has shape \(85, 10\)"):
        load_weights(target, tmp_path / "w.npz")
    for (wa, ba), (wb, bb) in zip(before, _params(target)):
        np.testing.assert_array_equal(wa, wb)
        np.testing.assert_array_equal(ba, bb)


def test_mismatched_architecture_fails_clearly(tmp_path):
    save_weights(lenet(seed=0), tmp_path / "w.npz")
    small = fl.NeuralNetwork(fl.He(), fl.Const(0.1))
    small.append_trainable_layer(fl.FullyConnectedLayer(4, 3, 0.1))
    small.loss_layer = fl.SoftMaxCrossEntropyLoss()
    with pytest.raises(ValueError, match="holds a network of 12 layers.*has 1 layers"):
        load_weights(small, tmp_path / "w.npz")
    save_weights(small, tmp_path / "small.npz")
    with pytest.raises(ValueError, match="does not record a network built by"):
        load_model(tmp_path / "small.npz")


def test_bad_files_fail_clearly(tmp_path):
    net = lenet(seed=0)
    with pytest.raises(FileNotFoundError, match="no weights file"):
        load_weights(net, tmp_path / "missing.npz")
    (tmp_path / "garbage.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_weights(net, tmp_path / "garbage.npz")
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="no fastlayers metadata"):
        load_weights(net, tmp_path / "plain.npz")
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(ValueError, match="single .npy array"):
        load_weights(net, tmp_path / "single.npy")
    # A file whose metadata claims a future format version.
    save_weights(net, tmp_path / "w.npz")
    with np.load(tmp_path / "w.npz") as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["__fastlayers_meta__"]))
    meta["version"] = 99
    arrays["__fastlayers_meta__"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "future.npz", **arrays)
    with pytest.raises(ValueError, match="format version 99"):
        load_weights(net, tmp_path / "future.npz")
    # Integer data where floats belong.
    arrays["__fastlayers_meta__"] = np.array(json.dumps({**meta, "version": 1}))
    arrays["0.bias"] = np.zeros(6, dtype=np.int64)
    np.savez(tmp_path / "ints.npz", **arrays)
    with pytest.raises(ValueError, match="bias of layer 0 .* dtype int64"):
        load_weights(net, tmp_path / "ints.npz")
    assert zipfile.is_zipfile(tmp_path / "w.npz")
    with pytest.raises(TypeError, match="expected a NeuralNetwork"):
        save_weights(object(), tmp_path / "x.npz")


@pytest.mark.parametrize("module", [fl, reference])
def test_batchnorm_running_statistics_are_saved(tmp_path, module):
    def build():
        net = module.NeuralNetwork(fl.He(), fl.Const(0.1))
        net.append_trainable_layer(module.FullyConnectedLayer(4, 3, 0.0))
        net.append_trainable_layer(module.BatchNorm(0.0))
        net.loss_layer = module.SoftMaxCrossEntropyLoss()
        return net

    net = build()
    x = np.random.default_rng(0).standard_normal((16, 4))
    for layer in net.layers:
        x = layer.forward(x)
    assert net.layers[1].running_mean is not None
    names = [sorted(entry["arrays"]) for entry in describe(net)]
    assert names == [["weights"], ["bias", "running_mean", "running_var", "weights"]]
    save_weights(net, tmp_path / "bn.npz")
    fresh = build()
    load_weights(fresh, tmp_path / "bn.npz")
    np.testing.assert_array_equal(fresh.layers[1].running_mean, net.layers[1].running_mean)
    np.testing.assert_array_equal(fresh.layers[1].running_var, net.layers[1].running_var)
    probe = np.random.default_rng(1).standard_normal((5, 4))
    np.testing.assert_array_equal(fresh.test(probe), net.test(probe))
