"""Every wrong call into the public API is a clear error.

The calls come from :mod:`bad_calls_table`: hundreds of them, one wrong
argument each, drawn from one table of wrong values per kind of argument,
across every layer of ``fastlayers`` and ``fastlayers.reference``, the
initializers, ``NeuralNetwork``, the optimizers, the module functions and
``fastlayers.functional``.  Each must raise the expected ``TypeError``,
``ValueError`` or ``RuntimeError`` with a message that names the class or
function, the argument and what was given.  They run in child processes,
a batch per child, so a call that crashes or hangs in a kernel is reported
as such instead of taking the test run down.
"""

import numpy as np
import pytest

from . import bad_calls_table as table

INF = float("inf")

CALLS = table.bad_calls()
outcomes = table.outcomes_fixture("bad_calls", CALLS)


def test_the_table_covers_the_api():
    ids = [call.id for call in CALLS]
    assert len(ids) == len(set(ids)), "duplicate call ids"
    assert len(ids) >= 500
    groups = {call.group for call in CALLS}
    for label, package in table.packages():
        # Every layer class either package exports has wrong calls in the table.
        exported = {
            name
            for name in dir(package)
            if isinstance(getattr(package, name), type)
            and issubclass(getattr(package, name), package.BaseLayer)
            and name != "BaseLayer"
        }
        assert exported <= set(table.SPEC), f"no LayerSpec for {exported - set(table.SPEC)}"
        for name in exported:
            assert f"{label}.{name}" in groups
        assert f"{label}.NeuralNetwork" in groups
    assert {"initializers", "optimizers", "module functions"} <= groups


def test_every_layer_of_the_registry_is_in_the_table():
    from .registry import LAYERS

    missing = set(LAYERS) - set(table.SPEC)
    assert not missing, f"add a LayerSpec to bad_calls_table for {sorted(missing)}"


@pytest.mark.parametrize("call", CALLS, ids=[call.id for call in CALLS])
def test_wrong_call_gives_a_clear_error(call, outcomes):
    verdict, detail = table.classify(call, outcomes[call.id])
    assert verdict == "clear", (
        f"{verdict}: expected {'/'.join(call.expected)} naming {call.owner}, {call.arg} and "
        f"{call.given}; got {detail}"
    )


def test_runner_pins_crashes_and_hangs_on_one_call():
    probes = table.selftest_probes()
    ids = [probe.id for probe in probes]
    results = table.run("selftest", ids, workers=1, stall=3.0)
    outcome = {cid: results[cid]["outcome"] for cid in ids}
    assert outcome == {
        "selftest.return": "returned",
        "selftest.crash": "crash",
        "selftest.hang": "hang",
        "selftest.raise": "raised",
        # The batch goes on in a new child after a crash or a hang.
        "selftest.after": "returned",
    }


def test_classifier_tells_every_verdict_apart():
    call = table.Call("x", None, ("ValueError",), ("Layer",), ("stride",), ("-1",))

    def raised(kind, message):
        return {"outcome": "raised", "types": [kind, "Exception"], "message": message}

    cases = {
        "clear": raised("ValueError", "Layer: expected stride of at least 1, got -1"),
        "wrong type": raised("TypeError", "Layer: expected stride of at least 1, got -1"),
        "unnamed message": raised("ValueError", "expected stride of at least 1, got -1"),
        "silent": {"outcome": "returned", "repr": "None"},
        "crash": {"outcome": "crash", "message": "return code -6"},
        "hang": {"outcome": "hang", "message": ""},
    }
    for verdict, record in cases.items():
        assert table.classify(call, record)[0] == verdict
    # Each of the three required words is checked on its own.
    for message in (
        "Layer: expected a value of at least 1, got -1",
        "Layer: expected stride of at least 1",
    ):
        assert table.classify(call, raised("ValueError", message))[0] == "unnamed message"


# ---------------------------------------------------------------------------
# The checks reject only what is wrong
# ---------------------------------------------------------------------------


def test_argument_checks_accept_every_valid_spelling():
    from fastlayers._validation import INDEX_LIMIT, integer, pair, real

    assert integer(np.int32(3), "f", "n", minimum=1) == 3
    assert integer(INDEX_LIMIT, "f", "n") == INDEX_LIMIT
    assert integer(-5, "f", "n") == -5
    assert integer(2**40, "f", "n", maximum=None) == 2**40
    assert pair(2, "f", "stride") == (2, 2)
    assert pair(np.array([1, 3]), "f", "stride") == (1, 3)
    assert pair([0, 0], "f", "padding", minimum=0) == (0, 0)
    assert real(np.float32(0.5), "f", "p", 0, 1) == 0.5
    assert real(np.array(0.25), "f", "p", 0, 1) == 0.25
    assert real(1, "f", "p", 0, 1) == 1.0
    assert real(INF, "f", "p", low=0, finite=False) == INF
    with pytest.raises(ValueError, match=r"f: expected p in \(0, 1\), got 0"):
        real(0, "f", "p", 0, 1, low_open=True, high_open=True)
    with pytest.raises(ValueError, match=r"f: expected n of at most 2147483647, got 2147483648"):
        integer(INDEX_LIMIT + 1, "f", "n")


def test_initializers_and_network_accept_what_the_tutorial_passes():
    import fastlayers as fl

    class Static:
        # The tutorial's tests pass classes whose initialize is a static method.
        @staticmethod
        def initialize(shape):
            return np.full(shape, 0.5)

    net = fl.NeuralNetwork(Static, Static)
    layer = fl.FullyConnectedLayer(3, 2, 0.0)
    net.append_trainable_layer(layer)
    np.testing.assert_array_equal(layer.weights, np.full((4, 2), 0.5))
    assert fl.NeuralNetwork(None, None).layers == []  # fixed layers only
    assert fl.Const(np.float32(0.5)).value == 0.5
    assert fl.Const(-2).initialize(3).tolist() == [-2.0, -2.0, -2.0]
    assert fl.He().initialize(np.array([2, 3])).shape == (2, 3)
    assert fl.UniformRandom().initialize((0, 3)).shape == (0, 3)

    class Mine(fl.Initializer):
        def initialize(self, weight_shape):
            return np.zeros(weight_shape)

    assert Mine().initialize((1, 2)).shape == (1, 2)
    with pytest.raises(TypeError, match="Mine: expected an initializer instance"):
        Mine.initialize((1, 2))
    assert fl.dtypes.float_dtype("float32") == np.float32
    assert fl.dtypes.float_dtype(float) == np.float64


def test_network_data_layer_may_return_a_list():
    import fastlayers as fl

    net = fl.NeuralNetwork(fl.He(), fl.Const(0.1))
    net.data_layer = table._Data([np.ones((2, 3)), np.eye(3)[[0, 2]]])
    net.loss_layer = fl.SoftMaxCrossEntropyLoss()
    net.append_trainable_layer(fl.FullyConnectedLayer(3, 3, 0.1))
    net.train(2)
    assert len(net.loss) == 2
