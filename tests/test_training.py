"""The training loop: learning, determinism, backends, evaluation, options."""

import json

import numba
import numpy as np
import pytest

import fastlayers as fl
from fastlayers.base import Phase
from fastlayers.datasets import images_to_float, load_bundled_mnist, one_hot
from fastlayers.models import lenet
from fastlayers.optimizers import SGD, Adam
from fastlayers.training import (
    Callback,
    EpochLogger,
    ProgressBar,
    Trainer,
    TrainingDivergedError,
    evaluate,
    predict,
    predict_proba,
    train,
)


@pytest.fixture(autouse=True)
def _restore_thread_count():
    """Some tests choose a thread count; later tests get the one they found."""
    before = fl.get_num_threads()
    yield
    fl.set_num_threads(before)


@pytest.fixture(scope="module")
def mnist():
    return load_bundled_mnist()


@pytest.fixture(scope="module")
def small(mnist):
    """512 training and 200 test images."""
    return (
        mnist.train_images[:512],
        mnist.train_labels[:512],
        mnist.test_images[:200],
        mnist.test_labels[:200],
    )


def _fit(
    data,
    *,
    backend="fast",
    dtype=np.float32,
    optimizer=None,
    epochs=1,
    seed=0,
    batch_size=32,
    threads=None,
    **kwargs,
):
    net = lenet(backend=backend, dtype=dtype, seed=seed)
    trainer = Trainer(
        net,
        optimizer=optimizer if optimizer is not None else Adam(1e-3),
        batch_size=batch_size,
        seed=seed,
        threads=threads,
        **kwargs,
    )
    result = trainer.fit(
        data[0], data[1], epochs=epochs, test_data=(data[2], data[3]) if len(data) == 4 else None
    )
    return net, trainer, result


def test_training_reduces_the_loss_and_beats_chance(small):
    _, trainer, result = _fit(small, epochs=2)
    losses = np.array(result.step_losses)
    assert len(losses) == 2 * 16
    assert losses[-8:].mean() < 0.5 * losses[:4].mean()
    assert result.epoch_losses[1] < result.epoch_losses[0]
    assert result.final_test_accuracy > 0.6
    assert [e.epoch for e in result.epochs] == [1, 2]
    assert all(e.samples == 512 and e.steps == 16 for e in result.epochs)
    assert result.samples == 1024 and result.train_seconds > 0
    assert trainer.epoch == 2 and trainer.step == 32
    assert len(trainer.last_evaluation.predictions) == 200


def test_same_seed_and_threads_give_bitwise_identical_losses(small):
    threads = numba.config.NUMBA_NUM_THREADS
    net_a, _, a = _fit(small, threads=threads)
    net_b, _, b = _fit(small, threads=threads)
    assert a.step_losses == b.step_losses
    assert a.epochs[0].test_accuracy == b.epochs[0].test_accuracy
    for la, lb in zip(net_a.layers, net_b.layers):
        if hasattr(la, "weights"):
            np.testing.assert_array_equal(la.weights, lb.weights)
    _, _, c = _fit(small, seed=1, threads=threads)
    assert c.step_losses != a.step_losses


def test_warm_up_changes_nothing(small):
    net_a = lenet(dtype=np.float32, seed=0)
    net_b = lenet(dtype=np.float32, seed=0)
    a = Trainer(net_a, optimizer=Adam(), seed=0).fit(small[0], small[1], warm_up=True)
    b = Trainer(net_b, optimizer=Adam(), seed=0).fit(small[0], small[1])
    assert a.warmup_seconds > 0 and b.warmup_seconds == 0
    assert a.step_losses == b.step_losses


def test_fast_and_reference_agree_over_20_steps_float64(mnist):
    x, y = mnist.train_images[:160], mnist.train_labels[:160]
    histories = {}
    for backend in ("fast", "reference"):
        net = lenet(backend=backend, dtype=np.float64, seed=3, learning_rate=0.05)
        # optimizer None: each layer's own plain SGD step, on the mean gradient.
        histories[backend] = np.array(Trainer(net, batch_size=8, seed=5).fit(x, y).step_losses)
    assert len(histories["fast"]) == 20
    assert histories["fast"][-1] < histories["fast"][0]
    np.testing.assert_allclose(histories["fast"], histories["reference"], rtol=1e-9, atol=0)


def test_reference_layers_train_with_adam_through_their_own_hook(mnist):
    x, y = mnist.train_images[:40], mnist.train_labels[:40]
    histories, nets = {}, {}
    for backend in ("fast", "reference"):
        net = lenet(backend=backend, dtype=np.float64, seed=3)
        trainer = Trainer(net, optimizer=Adam(1e-3), batch_size=8, seed=5)
        histories[backend] = np.array(trainer.fit(x, y).step_losses)
        nets[backend] = net
    np.testing.assert_allclose(histories["fast"], histories["reference"], rtol=1e-9, atol=0)
    for lf, lr in zip(nets["fast"].layers, nets["reference"].layers):
        if hasattr(lf, "weights"):
            np.testing.assert_allclose(lf.weights, lr.weights, rtol=1e-8, atol=1e-12)
            assert lr.learning_rate == 0.001  # the layer's own rate is left alone
            assert isinstance(lr.optimizer, Adam) and lr.optimizer is not lf.optimizer
            assert lr.optimizer.state["weights"]["step"] == 5


def test_trainer_drives_the_network_and_leaves_its_layers_in_place(small):
    net = lenet(seed=0)
    data_layer, loss_layer = _NoData(), net.loss_layer
    net.data_layer = data_layer
    seen = []

    class Recorder(Callback):
        def on_step_end(self, trainer, step, loss, batch_size):
            seen.append((trainer.net.data_layer, trainer.net.loss_layer))

    trainer = Trainer(net, optimizer=Adam(), seed=0, callbacks=[Recorder()])
    trainer.fit(
        small[0][:64], small[1][:64], test_data=(small[2][:20], small[3][:20]), warm_up=True
    )
    assert seen == [(data_layer, loss_layer)] * 2
    assert net.data_layer is data_layer and net.loss_layer is loss_layer
    assert net.label_tensor is None


class _NoData:
    """A data layer the trainer must never call."""

    def forward(self):
        raise AssertionError("the trainer called the network's own data layer")


def test_mean_reduction_is_the_summed_gradient_divided_by_the_batch(small):
    x, y = small[0][:8], small[1][:8]
    nets = [lenet(dtype=np.float64, seed=2, learning_rate=0.05) for _ in range(2)]
    Trainer(nets[0], batch_size=8, shuffle=False).fit(x, y)
    # By hand, as the tutorial's loop would, with the error divided by 8.
    net = nets[1]
    inputs = images_to_float(x)
    for layer in net.layers:
        inputs = layer.forward(inputs)
    net.loss_layer.forward(inputs, one_hot(y))
    error = net.loss_layer.backward(one_hot(y)) / 8
    for layer in reversed(net.layers[1:]):
        error = layer.backward(error)
    net.layers[0].backward_parameters(error)
    for a, b in zip(nets[0].layers, nets[1].layers):
        if hasattr(a, "weights"):
            np.testing.assert_array_equal(a.weights, b.weights)


class _OwnLayer:
    """A tutorial-style layer of one's own, with its own update."""

    weights = np.zeros((2, 2))

    def forward(self, x):
        return x

    def backward(self, error):
        return error

    def get_gradient_weights(self):
        return np.zeros((2, 2))


def test_optimizer_for_a_layer_that_would_ignore_it_is_refused():
    net = lenet(seed=0)
    net.layers.insert(0, _OwnLayer())
    with pytest.raises(TypeError, match="Trainer: .*_OwnLayer"):
        Trainer(net, optimizer=Adam())
    Trainer(net)  # without an optimizer every layer keeps its own step


def test_trainer_gives_each_fast_layer_its_own_optimizer():
    net = lenet(seed=0)
    template = SGD(0.1, momentum=0.9)
    Trainer(net, optimizer=template)
    optimizers = [layer.optimizer for layer in net.layers if hasattr(layer, "weights")]
    assert len({id(o) for o in optimizers} | {id(template)}) == 6
    assert all(o.get_config() == template.get_config() for o in optimizers)


def test_uint8_and_float_inputs_int_and_one_hot_labels_are_equivalent(small):
    x, y = small[0][:128], small[1][:128]
    a = _fit((x, y), dtype=np.float64)[2].step_losses
    b = _fit((images_to_float(x), one_hot(y)), dtype=np.float64)[2].step_losses
    c = _fit((images_to_float(x)[:, 0], y), dtype=np.float64)[2].step_losses
    assert a == b == c


def test_sum_reduction_with_scaled_rate_matches_mean(small):
    x, y = small[0][:128], small[1][:128]
    mean = _fit((x, y), dtype=np.float64, optimizer=SGD(0.1))[2].step_losses
    summed = _fit((x, y), dtype=np.float64, optimizer=SGD(0.1 / 32), reduction="sum")[2].step_losses
    np.testing.assert_allclose(summed, mean, rtol=1e-10)


def test_batches_cover_the_whole_set_and_drop_last(small):
    x, y = small[0][:100], small[1][:100]
    seen = []

    class Recorder(Callback):
        def on_step_end(self, trainer, step, loss, batch_size):
            seen.append(batch_size)

    _fit((x, y), callbacks=[Recorder()])
    assert seen == [32, 32, 32, 4]
    seen.clear()
    _, _, result = _fit((x, y), callbacks=[Recorder()], drop_last=True)
    assert seen == [32, 32, 32] and result.epochs[0].samples == 96


def test_callbacks_and_epoch_logger(small, capsys):
    events = []

    class Recorder(Callback):
        def on_train_begin(self, trainer, epochs, samples):
            events.append(("begin", epochs, samples))

        def on_epoch_begin(self, trainer, epoch, samples):
            events.append(("epoch", epoch))

        def on_epoch_end(self, trainer, stats):
            events.append(("end", stats.epoch, stats.test_accuracy is not None))

        def on_train_end(self, trainer, result):
            events.append(("done", len(result.epochs)))

    data = (small[0][:64], small[1][:64], small[2][:50], small[3][:50])
    _fit(data, epochs=2, callbacks=[Recorder(), EpochLogger()])
    assert events == [
        ("begin", 2, 64),
        ("epoch", 1),
        ("end", 1, True),
        ("epoch", 2),
        ("end", 2, True),
        ("done", 2),
    ]
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].startswith("epoch 1/2") and "test accuracy" in out[0]


def test_progress_bar_shows_loss_and_samples_per_second(small, capsys):
    pytest.importorskip("tqdm")
    _fit((small[0][:64], small[1][:64]), progress=True)
    assert "epoch 1/1" in capsys.readouterr().err
    # A bar that stays on screen shows its final state: rate and running loss.
    _fit((small[0][:64], small[1][:64]), callbacks=[ProgressBar(leave=True)])
    err = capsys.readouterr().err
    assert "64/64" in err and "samples/s" in err and "loss=" in err


def test_lr_decay_scales_the_optimizers_rates(small):
    net, trainer, result = _fit((small[0][:64], small[1][:64]), epochs=3, lr_decay=0.5)
    assert [e.learning_rate for e in result.epochs] == [1e-3, 5e-4, 2.5e-4]
    assert net.layers[0].optimizer.learning_rate == 1.25e-4
    plain = lenet(seed=0)
    Trainer(plain, lr_decay=0.5).fit(small[0][:32], small[1][:32])
    assert plain.layers[0].learning_rate == 0.0005


def test_diverging_training_raises(small):
    net = lenet(seed=0)
    net.layers[-1].weights = np.full_like(net.layers[-1].weights, np.inf)
    with pytest.raises(TrainingDivergedError, match="step 1"):
        Trainer(net).fit(small[0][:64], small[1][:64])


def test_evaluate_and_predict(small):
    net, _, result = _fit(small)
    evaluation = evaluate(net, small[2], small[3], batch_size=64)
    assert evaluation.accuracy == result.final_test_accuracy
    assert evaluation.samples == 200
    predictions = predict(net, small[2], batch_size=37)
    np.testing.assert_array_equal(predictions, evaluation.predictions)
    assert evaluation.accuracy == np.mean(predictions == small[3])
    proba = predict_proba(net, small[2][:5])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    # Phases are restored after evaluation.
    for layer in net.layers:
        layer.phase = Phase.train
    evaluate(net, small[2][:10], small[3][:10])
    assert all(layer.phase == Phase.train for layer in net.layers)


def test_train_function_and_json_result(small):
    net = lenet(dtype=np.float32, seed=0)
    result = train(net, small, epochs=1, batch_size=64, optimizer=Adam(), seed=0)
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["epochs"][0]["test_accuracy"] == result.final_test_accuracy
    assert len(payload["step_losses"]) == 8
    assert payload["settings"]["optimizer"]["name"] == "Adam"
    assert payload["settings"]["batch_size"] == 64
    with pytest.raises(TypeError, match="train: expected data"):
        train(net, small[0])


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"batch_size": 0}, ValueError, "Trainer: expected batch_size of at least 1"),
        ({"batch_size": 2.0}, TypeError, "Trainer: expected batch_size as an int"),
        ({"reduction": "avg"}, ValueError, "Trainer: expected reduction"),
        ({"seed": -1}, ValueError, "Trainer: expected seed"),
        ({"threads": 0}, ValueError, "set_num_threads"),
        ({"threads": 10_000}, ValueError, "set_num_threads"),
        ({"optimizer": "adam"}, TypeError, "Trainer: expected an Optimizer"),
        ({"lr_decay": 0.0}, ValueError, "Trainer: expected lr_decay"),
    ],
)
def test_trainer_validation(kwargs, error, text):
    with pytest.raises(error, match=text):
        Trainer(lenet(seed=0), **kwargs)


def test_fit_validation(small):
    trainer = Trainer(lenet(seed=0))
    with pytest.raises(ValueError, match="expected 1 to"):  # keep numba's setting intact
        Trainer(lenet(seed=0), threads=-3)
    with pytest.raises(ValueError, match="has 10 inputs but 9 labels"):
        trainer.fit(small[0][:10], small[1][:9])
    with pytest.raises(ValueError, match=r"labels must lie in 0..9"):
        trainer.fit(small[0][:10], small[1][:10] + 10)
    with pytest.raises(ValueError, match="epochs of at least 1"):
        trainer.fit(small[0][:10], small[1][:10], epochs=0)
    with pytest.raises(TypeError, match="test_data as a pair"):
        trainer.fit(small[0][:10], small[1][:10], test_data=small[2])
    net = lenet(seed=0)
    net.loss_layer = None
    with pytest.raises(ValueError, match="no loss_layer"):
        Trainer(net)
    with pytest.raises(TypeError, match="expected a NeuralNetwork"):
        Trainer([fl.ReLU()])
