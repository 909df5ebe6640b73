"""Contract of fastlayers.compat.mathnn: the layers of "Mathematics of Neural Networks", sheet 5.

The sheet's formulas are checked against ``scipy.signal.convolve2d`` loops
written as the sheet's solution writes them, and every gradient against
central differences.
"""

import inspect

import numpy as np
import pytest
from scipy.signal import convolve2d

from fastlayers.compat.mathnn import (
    SGD,
    Adam,
    Conv2DLayer,
    DenseLayer,
    FlattenLayer,
    Identity,
    Pool2DLayer,
    RandnAverage,
    ReLU,
    SequentialNet,
    Sigmoid,
    SoftMax,
    TanH,
    cross_entropy,
)

from .helpers import tolerance

RTOL = tolerance(np.float64)
FD = tolerance(np.float64, "finite_difference")


def sheet_conv(a, f, b):
    """The sheet's evaluate: z[i, j] = b[j] + sum_k convolve2d(a[i, k], f[j, k], 'valid')."""
    n, c, h, w = a.shape
    m, _, fh, fw = f.shape
    z = np.zeros((n, m, h - fh + 1, w - fw + 1))
    for j in range(m):
        for i in range(n):
            z[i, j] += b[j]
            for k in range(c):
                z[i, j] += convolve2d(a[i, k], f[j, k], mode="valid")
    return z


def sheet_conv_backprop(a, f, delta):
    """The sheet's backprop (df computed afresh, not accumulated)."""
    n, c, _, _ = a.shape
    m = f.shape[0]
    df = np.zeros_like(f)
    da = np.zeros_like(a)
    for k in range(c):
        for j in range(m):
            for i in range(n):
                df[j, k] += convolve2d(a[i, k, ::-1, ::-1], delta[i, j], mode="valid")
                da[i, k] += convolve2d(delta[i, j], f[j, k, ::-1, ::-1])
    return da, df, delta.sum(axis=(0, 2, 3))


def numeric_gradient(fun, x, eps=1e-6):
    g = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        keep = x[idx]
        x[idx] = keep + eps
        up = fun()
        x[idx] = keep - eps
        down = fun()
        x[idx] = keep
        g[idx] = (up - down) / (2 * eps)
    return g


def relative_error(analytic, numeric):
    return np.linalg.norm(analytic - numeric) / max(np.linalg.norm(numeric), 1e-300)


def assert_gradients(layer, a, weight, *parameters):
    """Check ``backprop`` against central differences of ``sum(weight * evaluate(a))``.

    The input gradient is always checked; each ``(gradient, parameter)``
    pair of attribute names adds the layer's gradient of that parameter.
    """

    def loss():
        return np.sum(weight * layer.evaluate(a))

    loss()
    da = layer.backprop(weight)
    analytic = [getattr(layer, gradient).copy() for gradient, _ in parameters]
    assert relative_error(da, numeric_gradient(loss, a)) < FD
    for computed, (_, parameter) in zip(analytic, parameters, strict=True):
        assert relative_error(computed, numeric_gradient(loss, getattr(layer, parameter))) < FD


def test_signatures():
    params = lambda f: list(inspect.signature(f).parameters)  # noqa: E731
    assert params(Conv2DLayer) == ["tensor", "fshape", "afun", "optim", "initializer"]
    assert params(Pool2DLayer) == ["area", "strict"]
    assert inspect.signature(Pool2DLayer).parameters["strict"].default is False
    assert params(FlattenLayer) == []
    for layer in (
        Conv2DLayer((1, 5, 5), (2, 3, 3)),
        Pool2DLayer((2, 2)),
        FlattenLayer(),
        DenseLayer(3, 2),
    ):
        assert callable(layer.evaluate) and callable(layer.backprop) and callable(layer.update)


def test_conv_construction_follows_the_sheet():
    np.random.seed(4)
    layer = Conv2DLayer((2, 8, 7), (3, 3, 2))
    assert isinstance(layer.afun, ReLU) and isinstance(layer.optim, SGD)
    assert isinstance(layer.initializer, RandnAverage)
    np.random.seed(4)
    np.testing.assert_allclose(layer.f, RandnAverage().ffun(3, 2, 3, 2) * ReLU.factor, rtol=RTOL)
    assert layer.f.shape == (3, 2, 3, 2) and np.all(layer.b == 0)
    assert np.all(layer.df == 0) and np.all(layer.db == 0)


def test_conv_is_a_flipped_kernel_convolution_like_convolve2d():
    layer = Conv2DLayer((2, 8, 7), (3, 3, 2), afun=Identity())
    layer.b = np.random.randn(3)
    a = np.random.randn(4, 2, 8, 7)
    z = layer.evaluate(a)
    assert z.shape == (4, 3, 6, 6)
    np.testing.assert_allclose(z, sheet_conv(a, layer.f, layer.b), rtol=RTOL, atol=1e-13)


def test_conv_backprop_matches_the_sheet():
    layer = Conv2DLayer((2, 8, 7), (3, 3, 2), afun=Identity())
    a = np.random.randn(4, 2, 8, 7)
    delta = np.random.randn(*layer.evaluate(a).shape)
    da = layer.backprop(delta)
    ref_da, ref_df, ref_db = sheet_conv_backprop(a, layer.f, delta)
    np.testing.assert_allclose(da, ref_da, rtol=RTOL, atol=1e-13)
    np.testing.assert_allclose(layer.df, ref_df, rtol=RTOL, atol=1e-13)
    np.testing.assert_allclose(layer.db, ref_db, rtol=RTOL)


@pytest.mark.parametrize("afun", [Identity, ReLU, Sigmoid, TanH])
def test_conv_gradients(afun):
    layer = Conv2DLayer((2, 6, 5), (3, 3, 2), afun=afun())
    a = np.random.randn(2, 2, 6, 5)
    weight = np.random.randn(*layer.evaluate(a).shape)
    assert_gradients(layer, a, weight, ("df", "f"), ("db", "b"))


def test_conv_update_uses_the_optimizer_in_place():
    layer = Conv2DLayer((1, 5, 5), (2, 3, 3), optim=SGD(0.1))
    f = layer.f
    before = f.copy()
    layer.evaluate(np.random.randn(3, 1, 5, 5))
    layer.backprop(np.random.randn(3, 2, 3, 3))
    layer.update()
    assert layer.f is f
    np.testing.assert_allclose(layer.f, before - 0.1 * layer.df, rtol=RTOL)


def sheet_pool(a, area, strict, delta):
    """The sheet's reshape-and-mask max pooling, forward and backward."""
    n, c, h, w = a.shape
    ph, pw = area
    nh, nw = h // ph, w // pw
    blocks = a[:, :, : nh * ph, : nw * pw].reshape(n, c, nh, ph, nw, pw)
    z = blocks.max(axis=(3, 5))
    mask = blocks == z[:, :, :, None, :, None]
    da_blocks = np.zeros(blocks.shape)
    da_blocks[mask] = np.broadcast_to(delta[:, :, :, None, :, None], blocks.shape)[mask]
    if strict:
        da_blocks /= mask.sum(axis=(3, 5), keepdims=True)
    da = np.zeros(a.shape)
    da[:, :, : nh * ph, : nw * pw] = da_blocks.reshape(n, c, nh * ph, nw * pw)
    return z, da, mask.reshape(n, c, nh * ph, nw * pw)


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("shape", [(2, 3, 8, 6), (2, 1, 7, 9)])
def test_pool_matches_the_sheet_including_ties(strict, shape):
    # Few distinct values: many windows hold tied maxima.
    a = np.random.randint(0, 3, shape).astype(float)
    layer = Pool2DLayer((2, 3), strict=strict)
    z = layer.evaluate(a)
    delta = np.random.randn(*z.shape)
    ref_z, ref_da, ref_mask = sheet_pool(a, (2, 3), strict, delta)
    np.testing.assert_array_equal(z, ref_z)
    np.testing.assert_allclose(layer.backprop(delta), ref_da, rtol=RTOL)
    assert layer.shape == shape
    np.testing.assert_array_equal(
        layer.mask[:, :, : ref_mask.shape[2], : ref_mask.shape[3]], ref_mask
    )
    assert (
        not layer.mask[:, :, ref_mask.shape[2] :, :].any()
        and not layer.mask[:, :, :, ref_mask.shape[3] :].any()
    )


def test_pool_gradient_without_ties():
    a = np.random.randn(2, 2, 6, 6)
    layer = Pool2DLayer((2, 2))
    weight = np.random.randn(2, 2, 3, 3)
    assert_gradients(layer, a, weight)


def test_flatten_layout_matches_dense_rows():
    a = np.random.randn(3, 2, 4, 5)
    layer = FlattenLayer()
    assert layer.shape is None
    out = layer.evaluate(a)
    np.testing.assert_array_equal(out, a.reshape(3, 40))
    np.testing.assert_array_equal(layer.backprop(out), a)
    layer.update()


def test_dense_formula_and_gradients():
    layer = DenseLayer(5, 3, afun=Sigmoid())
    layer.b = np.random.randn(3)
    a = np.random.randn(4, 5)
    np.testing.assert_allclose(
        layer.evaluate(a), 1 / (1 + np.exp(-(a @ layer.W + layer.b))), rtol=RTOL
    )
    weight = np.random.randn(4, 3)
    assert_gradients(layer, a, weight, ("dW", "W"), ("db", "b"))


def test_softmax_jacobian_and_cross_entropy_gradient():
    z = np.random.randn(4, 5)
    y = np.eye(5)[np.random.randint(0, 5, 4)]
    act = SoftMax()
    a = act.evaluate(z)
    np.testing.assert_allclose(a.sum(1), 1, rtol=RTOL)
    # Softmax followed by the cross-entropy gives (a - y) / n with respect to z.
    delta = act.backprop(-y / a / 4)
    np.testing.assert_allclose(delta, (a - y) / 4, rtol=RTOL, atol=1e-15)
    np.testing.assert_allclose(cross_entropy(a, y), -np.sum(y * np.log(a)) / 4, rtol=RTOL)


def test_adam_and_sgd_formulas():
    p = np.random.randn(3)
    q = p.copy()
    opt = Adam(0.01)
    m = v = np.zeros(3)
    for t in range(1, 4):
        g = np.random.randn(3)
        opt.update([p], [g])
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        q = q - 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        np.testing.assert_allclose(p, q, rtol=RTOL)
    p = np.ones(2)
    SGD(0.5).update([p], [np.array([1.0, -2.0])])
    np.testing.assert_allclose(p, [0.5, 2.0], rtol=RTOL)


def test_sheet_cnn_learns():
    rng = np.random.default_rng(0)
    np.random.seed(0)
    # Two classes told apart by where a bright blob sits.
    x = rng.normal(0, 0.1, (120, 1, 10, 10))
    labels = rng.integers(0, 2, 120)
    for i, lab in enumerate(labels):
        x[i, 0, 2:5, (1 if lab == 0 else 6) : (4 if lab == 0 else 9)] += 1.0
    y = np.eye(2)[labels]
    net = SequentialNet((1, 10, 10))
    net.add_conv2D((4, 3, 3), afun=ReLU(), optim=Adam(0.01))
    net.add_pool2D((2, 2))
    net.add_flatten()
    net.add_dense(8, afun=ReLU(), optim=Adam(0.01))
    net.add_dense(2, afun=SoftMax(), optim=Adam(0.01))
    losses = net.train(x, y, 20, 5)
    assert np.mean(losses[-6:]) < 0.5 * np.mean(losses[:6])
    assert np.mean(np.argmax(net.evaluate(x), 1) == labels) > 0.9


@pytest.mark.parametrize(
    "make, error, text",
    [
        (
            lambda: Conv2DLayer((1, 5, 5), (2, 3, 3)).evaluate(np.zeros((1, 2, 5, 5))),
            ValueError,
            "Conv2DLayer: expected a of shape",
        ),
        (
            lambda: Conv2DLayer((1, 2, 2), (2, 3, 3)),
            ValueError,
            "Conv2DLayer: expected filters no larger",
        ),
        (
            lambda: Pool2DLayer((2, 0)),
            ValueError,
            "Pool2DLayer: expected area entries of at least 1",
        ),
        (
            lambda: Conv2DLayer((1, 5, 5), (2, 3, 3)).backprop(np.zeros((1, 2, 3, 3))),
            RuntimeError,
            "Conv2DLayer: backprop called before evaluate",
        ),
        (
            lambda: SGD().update([np.zeros(2)], [np.zeros(3)]),
            ValueError,
            "SGD: expected parameter arrays",
        ),
        (
            lambda: DenseLayer(3, 2).evaluate(np.zeros(3)),
            ValueError,
            "DenseLayer: expected a of shape",
        ),
    ],
)
def test_errors_name_the_class(make, error, text):
    with pytest.raises(error, match=text):
        make()


@pytest.mark.parametrize("strict, ties", [(False, "all"), (True, "split")])
def test_pool_against_reference_twin(strict, ties):
    from fastlayers import reference

    a = np.random.randint(0, 3, (2, 2, 6, 8)).astype(float)
    layer = Pool2DLayer((2, 2), strict=strict)
    twin = reference.MaxPoolLayer(neighborhood=(2, 2), stride=(2, 2), ties=ties)
    z = layer.evaluate(a)
    np.testing.assert_array_equal(z, twin.forward(a))
    delta = np.random.randn(*z.shape)
    np.testing.assert_allclose(layer.backprop(delta), twin.backward(delta), rtol=RTOL)


def test_dense_against_reference_twin():
    from fastlayers import reference

    layer = DenseLayer(5, 3, afun=Identity())
    layer.b = np.random.randn(3)
    twin = reference.FullyConnectedLayer(5, 3, 0.0)
    twin.weights = np.vstack([layer.W, layer.b])
    a = np.random.randn(4, 5)
    np.testing.assert_allclose(layer.evaluate(a), twin.forward(a), rtol=RTOL)
    delta = np.random.randn(4, 3)
    np.testing.assert_allclose(layer.backprop(delta), twin.backward(delta), rtol=RTOL)
    np.testing.assert_allclose(np.vstack([layer.dW, layer.db]), twin.gradient_weights, rtol=RTOL)


def test_network_backprop_skips_only_the_unused_input_delta():
    # SequentialNet does not compute the first layer's input delta; the
    # parameters must still end exactly where per-layer backprop puts them.
    import copy

    np.random.seed(2)
    x = np.random.rand(8, 1, 6, 6)
    y = np.eye(3)[np.random.randint(0, 3, 8)]
    net = SequentialNet((1, 6, 6))
    net.add_conv2D((2, 3, 3), optim=Adam(0.01))
    net.add_flatten()
    net.add_dense(3, afun=SoftMax(), optim=Adam(0.01))
    manual = copy.deepcopy(net)
    for _ in range(2):
        net.backprop(net.evaluate(x), y)
        net.update()
    for _ in range(2):
        y_tilde = manual.evaluate(x)
        delta = -y / y_tilde / 8
        for layer in reversed(manual.layers):
            delta = layer.backprop(delta)
        manual.update()
    np.testing.assert_array_equal(net.layers[0].f, manual.layers[0].f)
    np.testing.assert_array_equal(net.layers[-1].W, manual.layers[-1].W)


def test_network_runs_a_subclass_backprop_on_the_first_layer():
    calls = []

    class MyConv(Conv2DLayer):
        def backprop(self, delta):
            calls.append(delta.shape)
            return super().backprop(delta)

    net = SequentialNet((1, 5, 5))
    net.layers.append(MyConv((1, 5, 5), (2, 3, 3)))
    net._shape = (2, 3, 3)
    net.add_flatten()
    net.add_dense(3, afun=SoftMax())
    net.train(np.random.rand(4, 1, 5, 5), np.eye(3)[[0, 1, 2, 0]], 4, 2)
    assert calls == [(4, 2, 3, 3)] * 2
