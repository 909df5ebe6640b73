"""One small adapter per backend, so that every benchmark times the same work.

Backends
--------
``reference``
    :mod:`fastlayers.reference`: the tutorial's way, Python loops over
    ``scipy.signal`` calls and over the pooling windows.
``im2col``
    :mod:`bench.im2col`: NumPy ``sliding_window_view`` + ``tensordot``.
``fastlayers``
    The layers users call (``layer.forward`` / ``layer.backward``), with
    their validation and layout conversions.
``fastlayers-kernel``
    The raw ``@njit`` kernels of :mod:`fastlayers.kernels` on arrays
    already in the kernels' layout (batch-innermost (c, h, w, b) for the
    convolutions), output buffers allocated beforehand.
``fastlayers-loop``
    (networks only) The same fastlayers network trained by the user's own
    loop over its layers, as the tutorial writes it.
``torch``
    PyTorch on the CPU: the ATen operators for the kernel benchmarks and an
    ``nn.Sequential`` network trained with ``torch.optim.SGD``.
``jax``
    JAX on the CPU: ``lax.conv_general_dilated`` and its ``jax.vjp``
    gradients, and the networks as jitted ``value_and_grad`` steps.

Every adapter offers ``op(name)``: a callable without arguments that does
the work and returns its raw result, and ``canonical(name, raw)``: that
result as a tuple of NCHW float64 NumPy arrays for checking, computed
outside the timed call.

Thread counts: ``fastlayers`` and ``fastlayers-kernel`` use
``numba.set_num_threads``, ``torch`` ``torch.set_num_threads``; JAX's
thread pool is fixed when it starts, so in-process it gets no setting
(:mod:`bench.throughput` starts it in a process of its own); the NumPy
and SciPy backends are single-threaded code and get no setting (NumPy's
BLAS keeps its own thread pool, which only the im2col ``tensordot`` uses).
"""

import contextlib
import math
from dataclasses import asdict, dataclass

import numpy as np

from . import im2col, networks

DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}

KERNEL_BACKENDS = ("reference", "im2col", "fastlayers", "fastlayers-kernel", "torch", "jax")
LENET_BACKENDS = ("reference", "im2col", "fastlayers", "fastlayers-loop", "torch", "jax")
# Backends that need a package besides fastlayers' own dependencies, and why they are skipped.
OPTIONAL_BACKENDS = {"torch": "torch", "jax": "jax"}
THREADED_BACKENDS = (
    "fastlayers",
    "fastlayers-loop",
    "fastlayers-kernel",
    "fastlayers-kernel-direct",
    "torch",
)

TORCH_MISSING = (
    "PyTorch not installed: pip install torch==2.13.0 (CPU build) to benchmark against it"
)

# Operations of the convolution benchmarks.  ``grad_input`` is the
# gradient w.r.t. the input alone, ``grad_weights`` w.r.t. weights and
# bias, ``backward`` both (plus the parameter update in the layer-based
# backends).  For ``fastlayers-kernel``, ``grad_input`` runs the kernel the
# layer uses at stride 1 (``conv2d_forward`` on the padded error with
# flipped kernels) and ``grad_input_gather`` the general strided kernel
# ``conv2d_grad_input``.
CONV_OPS = {
    "reference": ("forward", "grad_input", "grad_weights", "backward"),
    "im2col": ("forward", "grad_input", "grad_weights", "backward"),
    "fastlayers": ("forward", "grad_weights", "backward"),
    "fastlayers-kernel": ("forward", "grad_input", "grad_input_gather", "grad_weights"),
    "fastlayers-kernel-direct": ("forward", "grad_input", "grad_input_gather", "grad_weights"),
    "torch": ("forward", "grad_input", "grad_weights", "backward"),
    "jax": ("forward", "grad_input", "grad_weights", "backward"),
}
POOL_OPS = ("forward", "backward")
UPSAMPLE_BACKENDS = ("reference", "fastlayers-kernel", "torch")


# ---------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------


class _Labelled:
    """A shape whose ``label`` is the template ``_label`` filled in with its fields."""

    @property
    def label(self):
        return self._label.format(**asdict(self))


@dataclass(frozen=True)
class ConvSpec(_Labelled):
    """A 'same'-padded stride-1 convolution: c_in -> k channels, m x n kernel on h x w."""

    layer: str
    c_in: int
    h: int
    w: int
    k: int
    m: int
    n: int
    batch: int
    _label = "{layer} {c_in}->{k} {h}x{w} {m}x{n}"

    @property
    def pads(self):
        return im2col.same_pads((self.m, self.n))

    @property
    def out_shape(self):
        return (self.batch, self.k, self.h, self.w)

    @property
    def macs(self):
        """Multiply-adds of the forward pass."""
        return self.batch * self.k * self.h * self.w * self.c_in * self.m * self.n


@dataclass(frozen=True)
class PoolSpec(_Labelled):
    """Max pooling of (batch, c, h, w) with a pool x pool window and stride."""

    layer: str
    c: int
    h: int
    w: int
    batch: int
    pool: int = 2
    stride: int = 2
    _label = "{layer} {c}x{h}x{w} {pool}x{pool}/{stride}"

    @property
    def out_shape(self):
        oh = (self.h - self.pool) // self.stride + 1
        ow = (self.w - self.pool) // self.stride + 1
        return (self.batch, self.c, oh, ow)


@dataclass(frozen=True)
class UpsampleSpec(_Labelled):
    """Zero insertion of (batch, c, h, w) by ``stride`` onto (batch, c, h*s, w*s)."""

    layer: str
    c: int
    h: int
    w: int
    batch: int
    stride: int = 2
    _label = "{layer} {c}x{h}x{w} x{stride}"

    @property
    def out_shape(self):
        return (self.batch, self.c, self.h * self.stride, self.w * self.stride)


CONV_LAYERS = {
    # LeNet: 5x5 "same" convolutions on MNIST-sized inputs.
    "lenet-conv1": dict(c_in=1, h=28, w=28, k=6, m=5, n=5),
    "lenet-conv2": dict(c_in=6, h=14, w=14, k=10, m=5, n=5),
    # CIFAR-sized 3x3 layers.
    "cifar-conv1": dict(c_in=3, h=32, w=32, k=32, m=3, n=3),
    "cifar-conv2": dict(c_in=32, h=16, w=16, k=64, m=3, n=3),
    "cifar-conv3": dict(c_in=64, h=8, w=8, k=64, m=3, n=3),
}
POOL_LAYERS = {
    "lenet-pool1": dict(c=6, h=28, w=28),
    "lenet-pool2": dict(c=10, h=14, w=14),
    "cifar-pool1": dict(c=32, h=32, w=32),
}
UPSAMPLE_LAYERS = {
    # The error of a stride-2 convolution spread back onto the input grid.
    "lenet-up1": dict(c=6, h=14, w=14),
    "lenet-up2": dict(c=10, h=7, w=7),
    "cifar-up1": dict(c=32, h=16, w=16),
}


def conv_spec(layer, batch):
    return ConvSpec(layer=layer, batch=batch, **CONV_LAYERS[layer])


def pool_spec(layer, batch):
    return PoolSpec(layer=layer, batch=batch, **POOL_LAYERS[layer])


def upsample_spec(layer, batch):
    return UpsampleSpec(layer=layer, batch=batch, **UPSAMPLE_LAYERS[layer])


# ---------------------------------------------------------------------------
# Threads and optional PyTorch
# ---------------------------------------------------------------------------


def import_torch():
    """Return the ``torch`` module or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


# PyTorch must be imported before numba starts its OpenMP thread pool.  Both
# use GNU OpenMP under the same soname, libgomp.so.1: numba the system's,
# PyTorch a copy of its own.  Once the system's is loaded, PyTorch binds to
# it instead of its own copy, and its 2-thread operators run several times
# slower.  Importing it here, before any benchmark runs a kernel, keeps the
# comparison fair.
import_torch()

JAX_MISSING = 'JAX not installed: pip install "jax[cpu]" to benchmark against it'


def import_jax():
    """Return the ``jax`` module (64-bit floats enabled) or None when it is not installed.

    Without ``jax_enable_x64`` JAX silently computes float64 inputs in
    float32; the flag leaves float32 arrays float32.
    """
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    return jax


def max_threads():
    """Most threads a benchmark may ask for: numba's pool size (the core count by default)."""
    import numba

    return numba.config.NUMBA_NUM_THREADS


@contextlib.contextmanager
def threads(backend, n):
    """Run the block with ``n`` threads for ``backend`` (``n`` None: leave everything as is)."""
    if n is None or backend not in THREADED_BACKENDS:
        yield
        return
    if backend == "torch":
        pool = import_torch()
    else:
        import numba as pool
    previous = pool.get_num_threads()
    pool.set_num_threads(n)
    try:
        yield
    finally:
        pool.set_num_threads(previous)


def _tensors(torch, data, *names):
    """PyTorch tensors over copies of ``data[name]`` (so that no backend shares the other's arrays)."""
    return [torch.from_numpy(data[name].copy()) for name in names]


def _torch_dtype(torch, dtype):
    return {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[dtype]


def _to_numpy(value):
    """A tensor or array as a float64 NumPy array."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def _chwb_to_nchw(a):
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64).transpose(3, 0, 1, 2))


# ---------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------


def conv_data(spec, dtype, seed=0):
    """Input, weights, bias and output error of ``spec`` in ``dtype``."""
    rng = np.random.default_rng(seed)
    fan_in = spec.c_in * spec.m * spec.n
    data = dict(
        x=rng.standard_normal((spec.batch, spec.c_in, spec.h, spec.w)),
        w=rng.normal(0.0, math.sqrt(2.0 / fan_in), (spec.k, spec.c_in, spec.m, spec.n)),
        b=rng.normal(0.0, 0.1, spec.k),
        err=rng.standard_normal(spec.out_shape),
    )
    return {key: np.ascontiguousarray(value, dtype=dtype) for key, value in data.items()}


class _ConvBase:
    ops = ()

    def __init__(self, spec, data):
        self.spec = spec
        self.data = data
        self.dtype = data["x"].dtype

    def op(self, name):
        if name not in self.ops:
            raise KeyError(f"{type(self).__name__} has no op {name!r}; it has {self.ops}")
        return getattr(self, "_" + name)

    def canonical(self, name, raw):
        return tuple(_to_numpy(a) for a in raw)


class _LayerConv(_ConvBase):
    """A ``ConvolutionalLayer`` of ``module_name`` with the case's parameters, run once."""

    module_name = "fastlayers"

    def __init__(self, spec, data):
        super().__init__(spec, data)
        import importlib

        module = importlib.import_module(self.module_name)
        layer = module.ConvolutionalLayer(
            (1, 1), (spec.c_in, spec.m, spec.n), spec.k, 0.0, dtype=self.dtype
        )
        layer.weights = data["w"]
        layer.bias = data["b"]
        layer.forward(data["x"])
        self.layer = layer

    def _forward(self):
        return (self.layer.forward(self.data["x"]),)

    def _backward(self):
        dx = self.layer.backward(self.data["err"])
        return dx, self.layer.get_gradient_weights(), self.layer.get_gradient_bias()


class ReferenceConv(_LayerConv):
    """``fastlayers.reference.ConvolutionalLayer`` (learning rate 0).

    The reference layer computes its input and weight gradients in one
    ``backward`` and exposes neither on its own, so ``grad_input`` and
    ``grad_weights`` both time that whole ``backward`` (an upper bound of
    each gradient's cost) and return their part of its result.
    """

    ops = CONV_OPS["reference"]
    module_name = "fastlayers.reference"

    def _grad_input(self):
        return (self.layer.backward(self.data["err"]),)

    def _grad_weights(self):
        self.layer.backward(self.data["err"])
        return self.layer.get_gradient_weights(), self.layer.get_gradient_bias()


class Im2colConv(_ConvBase):
    """The NumPy im2col functions of :mod:`bench.im2col`."""

    ops = CONV_OPS["im2col"]

    def _forward(self):
        d = self.data
        return (im2col.conv2d_forward(d["x"], d["w"], d["b"], (1, 1), self.spec.pads),)

    def _grad_input(self):
        d = self.data
        return (im2col.conv2d_grad_input(d["err"], d["w"], d["x"].shape, (1, 1), self.spec.pads),)

    def _grad_weights(self):
        d = self.data
        return im2col.conv2d_grad_weights(
            d["x"], d["err"], (self.spec.m, self.spec.n), (1, 1), self.spec.pads
        )

    def _backward(self):
        return self._grad_input() + self._grad_weights()


class FastlayersConv(_LayerConv):
    """``fastlayers.ConvolutionalLayer``: ``forward``, ``backward`` and
    ``backward_parameters`` (the weight and bias gradients alone)."""

    ops = CONV_OPS["fastlayers"]
    module_name = "fastlayers"

    def _grad_weights(self):
        self.layer.backward_parameters(self.data["err"])
        return self.layer.get_gradient_weights(), self.layer.get_gradient_bias()


class FastlayersKernelConv(_ConvBase):
    """The raw kernels on (c, h, w, b) arrays prepared beforehand, chosen by
    shape as the layers choose them (direct or register-blocked)."""

    ops = CONV_OPS["fastlayers-kernel"]
    direct = False

    def __init__(self, spec, data):
        super().__init__(spec, data)
        from fastlayers import kernels

        self.kernels = kernels
        dt = self.dtype
        b, k = spec.batch, spec.k
        top, bottom, left, right = spec.pads
        m, n = spec.m, spec.n
        # Arrays allocated as the layers allocate them for the kernels (large
        # ones on a cache line); the direct backend keeps NumPy's alignment.
        from fastlayers.functional._layout import empty as layer_empty

        empty = np.empty if self.direct else layer_empty
        self.xp = empty((spec.c_in, spec.h + top + bottom, spec.w + left + right, b), dt)
        kernels.nchw_to_chwb(data["x"], top, left, self.xp)
        self.w = np.ascontiguousarray(data["w"])
        self.b = np.ascontiguousarray(data["b"])
        self.out = empty((k, spec.h, spec.w, b), dt)
        self.err = empty((k, spec.h, spec.w, b), dt)
        kernels.nchw_to_chwb(data["err"], 0, 0, self.err)
        # The stride-1 input gradient as the layer computes it: the error
        # padded by (kernel - 1 - forward padding), flipped kernels with
        # input and output channels swapped, a forward correlation.
        self.err_padded = empty(
            (k, spec.h + 2 * m - 2 - top - bottom, spec.w + 2 * n - 2 - left - right, b), dt
        )
        kernels.nchw_to_chwb(data["err"], m - 1 - top, n - 1 - left, self.err_padded)
        self.flipped = np.ascontiguousarray(self.w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        self.zeros = np.zeros(spec.c_in, dt)
        self.dx = empty((spec.c_in, spec.h, spec.w, b), dt)
        self.grad_w = np.empty_like(self.w)
        self.grad_b = np.empty_like(self.b)

    def _choose(self, k, c):
        """The (forward, weight-gradient) kernels the layers run for this correlation."""
        from fastlayers.functional._conv_choice import use_blocked

        spec = self.spec
        if self.direct or not use_blocked(k, c, spec.m, spec.n, spec.batch, self.dtype):
            return self.kernels.conv2d_forward, self.kernels.conv2d_grad_weights
        return self.kernels.conv2d_forward_blocked, self.kernels.conv2d_grad_weights_blocked

    def _forward(self):
        forward, _ = self._choose(self.spec.k, self.spec.c_in)
        forward(self.xp, self.w, self.b, 1, 1, self.out)
        return (self.out,)

    def _grad_input(self):
        # A forward correlation with input and output channels swapped.
        forward, _ = self._choose(self.spec.c_in, self.spec.k)
        forward(self.err_padded, self.flipped, self.zeros, 1, 1, self.dx)
        return (self.dx,)

    def _grad_input_gather(self):
        top, _, left, _ = self.spec.pads
        self.kernels.conv2d_grad_input(self.err, self.w, 1, 1, top, left, self.dx)
        return (self.dx,)

    def _grad_weights(self):
        _, grad_weights = self._choose(self.spec.k, self.spec.c_in)
        grad_weights(self.xp, self.err, 1, 1, self.grad_w, self.grad_b)
        return self.grad_w, self.grad_b

    def canonical(self, name, raw):
        if name in ("forward", "grad_input", "grad_input_gather"):
            return (_chwb_to_nchw(raw[0]),)
        return tuple(_to_numpy(a) for a in raw)


class FastlayersDirectKernelConv(FastlayersKernelConv):
    """The direct kernels of ``fastlayers.kernels.conv`` whatever the shape,
    on arrays allocated by NumPy (16-byte aligned)."""

    direct = True


class TorchConv(_ConvBase):
    """``torch.nn.functional.conv2d`` and ``aten.convolution_backward``."""

    ops = CONV_OPS["torch"]

    def __init__(self, spec, data):
        super().__init__(spec, data)
        torch = self.torch = import_torch()
        self.x, self.w, self.b, self.err = _tensors(torch, data, "x", "w", "b", "err")
        top, bottom, left, right = spec.pads
        if (top, left) != (bottom, right):
            raise ValueError(f"{spec.label}: PyTorch pads symmetrically, got {spec.pads}")
        self.padding = [top, left]
        self._convolution_backward = torch.ops.aten.convolution_backward

    def _conv_backward(self, mask):
        with self.torch.no_grad():
            return self._convolution_backward(
                self.err,
                self.x,
                self.w,
                [self.spec.k],
                [1, 1],
                self.padding,
                [1, 1],
                False,
                [0, 0],
                1,
                mask,
            )

    def _forward(self):
        with self.torch.no_grad():
            return (self.torch.nn.functional.conv2d(self.x, self.w, self.b, 1, self.padding),)

    def _grad_input(self):
        return (self._conv_backward([True, False, False])[0],)

    def _grad_weights(self):
        _, grad_w, grad_b = self._conv_backward([False, True, True])
        return grad_w, grad_b

    def _backward(self):
        return self._conv_backward([True, True, True])


class JaxConv(_ConvBase):
    """``jax.lax.conv_general_dilated`` and its ``jax.vjp`` gradients, jitted."""

    ops = CONV_OPS["jax"]

    def __init__(self, spec, data):
        super().__init__(spec, data)
        jax = import_jax()
        jnp, lax = jax.numpy, jax.lax
        top, bottom, left, right = spec.pads
        padding = [(top, bottom), (left, right)]

        def conv(x, w):
            return lax.conv_general_dilated(
                x, w, (1, 1), padding, dimension_numbers=("NCHW", "OIHW", "NCHW")
            )

        def grad_input(x, w, err):
            return jax.vjp(lambda x_: conv(x_, w), x)[1](err)[0]

        def grad_weights(x, w, err):
            return jax.vjp(lambda w_: conv(x, w_), w)[1](err)[0], err.sum(axis=(0, 2, 3))

        def backward(x, w, err):
            _, pullback = jax.vjp(conv, x, w)
            dx, dw = pullback(err)
            return dx, dw, err.sum(axis=(0, 2, 3))

        self._fns = {
            "forward": jax.jit(lambda x, w, b, err: (conv(x, w) + b[None, :, None, None],)),
            "grad_input": jax.jit(lambda x, w, b, err: (grad_input(x, w, err),)),
            "grad_weights": jax.jit(lambda x, w, b, err: grad_weights(x, w, err)),
            "backward": jax.jit(lambda x, w, b, err: backward(x, w, err)),
        }
        self.args = tuple(jnp.asarray(data[key]) for key in ("x", "w", "b", "err"))
        self._block = jax.block_until_ready

    def op(self, name):
        if name not in self.ops:
            raise KeyError(f"{type(self).__name__} has no op {name!r}; it has {self.ops}")
        fn, args, block = self._fns[name], self.args, self._block
        return lambda: block(fn(*args))


CONV_ADAPTERS = {
    "reference": ReferenceConv,
    "im2col": Im2colConv,
    "fastlayers": FastlayersConv,
    "fastlayers-kernel": FastlayersKernelConv,
    "fastlayers-kernel-direct": FastlayersDirectKernelConv,
    "torch": TorchConv,
    "jax": JaxConv,
}


def conv_expected(spec, data, name, oracle="im2col"):
    """Float64 result of op ``name`` on ``data`` from an independent backend.

    ``oracle`` is "im2col" (NumPy) or "fastlayers" (the layers).
    """
    data64 = {key: value.astype(np.float64) for key, value in data.items()}
    adapter = CONV_ADAPTERS[oracle](spec, data64)
    if name in ("grad_input", "grad_input_gather"):
        if oracle == "fastlayers":
            return (adapter.canonical("backward", adapter.op("backward")())[0],)
        return adapter.canonical("grad_input", adapter.op("grad_input")())
    return adapter.canonical(name, adapter.op(name)())


# ---------------------------------------------------------------------------
# Max pooling
# ---------------------------------------------------------------------------


def pool_data(spec, dtype, seed=0):
    """Input and output error of ``spec`` (normal noise: no ties in a window)."""
    rng = np.random.default_rng(seed)
    return dict(
        x=np.ascontiguousarray(rng.standard_normal((spec.batch, spec.c, spec.h, spec.w)), dtype),
        err=np.ascontiguousarray(rng.standard_normal(spec.out_shape), dtype),
    )


class _PoolBase(_ConvBase):
    ops = POOL_OPS


class ReferencePool(_PoolBase):
    def __init__(self, spec, data):
        super().__init__(spec, data)
        from fastlayers import reference

        self.layer = reference.MaxPoolLayer(neighborhood=spec.pool, stride=spec.stride)
        self.layer.forward(data["x"])

    def _forward(self):
        return (self.layer.forward(self.data["x"]),)

    def _backward(self):
        return (self.layer.backward(self.data["err"]),)


class FastlayersPool(ReferencePool):
    def __init__(self, spec, data):
        _PoolBase.__init__(self, spec, data)
        import fastlayers

        self.layer = fastlayers.MaxPoolLayer(neighborhood=spec.pool, stride=spec.stride)
        self.layer.forward(data["x"])


class Im2colPool(_PoolBase):
    def __init__(self, spec, data):
        super().__init__(spec, data)
        self.window = (spec.pool, spec.pool)
        self.step = (spec.stride, spec.stride)
        _, self.argmax = im2col.maxpool2d_forward(data["x"], self.window, self.step)

    def _forward(self):
        out, _ = im2col.maxpool2d_forward(self.data["x"], self.window, self.step)
        return (out,)

    def _backward(self):
        return (
            im2col.maxpool2d_backward(
                self.data["err"], self.argmax, self.data["x"].shape, self.window, self.step
            ),
        )


class FastlayersKernelPool(_PoolBase):
    def __init__(self, spec, data):
        super().__init__(spec, data)
        from fastlayers import kernels

        self.kernels = kernels
        self.out = np.empty(spec.out_shape, self.dtype)
        self.argmax = np.empty(spec.out_shape, np.intp)
        self.dx = np.empty(data["x"].shape, self.dtype)
        self._forward()

    def _forward(self):
        s = self.spec
        self.kernels.maxpool2d_forward(
            self.data["x"], s.pool, s.pool, s.stride, s.stride, self.out, self.argmax
        )
        return (self.out,)

    def _backward(self):
        self.kernels.maxpool2d_backward(self.data["err"], self.argmax, self.dx)
        return (self.dx,)


class TorchPool(_PoolBase):
    """``aten.max_pool2d_with_indices`` and its backward."""

    def __init__(self, spec, data):
        super().__init__(spec, data)
        torch = self.torch = import_torch()
        self.x, self.err = _tensors(torch, data, "x", "err")
        self.kernel = [spec.pool, spec.pool]
        self.stride = [spec.stride, spec.stride]
        with torch.no_grad():
            _, self.indices = torch.ops.aten.max_pool2d_with_indices(
                self.x, self.kernel, self.stride
            )

    def _forward(self):
        with self.torch.no_grad():
            out, _ = self.torch.ops.aten.max_pool2d_with_indices(self.x, self.kernel, self.stride)
        return (out,)

    def _backward(self):
        with self.torch.no_grad():
            dx = self.torch.ops.aten.max_pool2d_with_indices_backward(
                self.err, self.x, self.kernel, self.stride, [0, 0], [1, 1], False, self.indices
            )
        return (dx,)


POOL_ADAPTERS = {
    "reference": ReferencePool,
    "im2col": Im2colPool,
    "fastlayers": FastlayersPool,
    "fastlayers-kernel": FastlayersKernelPool,
    "torch": TorchPool,
}


def pool_expected(spec, data, name, oracle="im2col"):
    data64 = {key: value.astype(np.float64) for key, value in data.items()}
    adapter = POOL_ADAPTERS[oracle](spec, data64)
    return adapter.canonical(name, adapter.op(name)())


# ---------------------------------------------------------------------------
# Strided upsampling
# ---------------------------------------------------------------------------


def upsample_data(spec, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return dict(
        x=np.ascontiguousarray(rng.standard_normal((spec.batch, spec.c, spec.h, spec.w)), dtype)
    )


class ReferenceUpsample(_ConvBase):
    """A zero array and a strided slice assignment, as the reference convolution does."""

    ops = ("upsample",)

    def _upsample(self):
        s = self.spec.stride
        out = np.zeros(self.spec.out_shape, self.dtype)
        out[:, :, ::s, ::s] = self.data["x"]
        return (out,)


class FastlayersKernelUpsample(_ConvBase):
    """``kernels.upsample_strided`` into a buffer allocated beforehand."""

    ops = ("upsample",)

    def __init__(self, spec, data):
        super().__init__(spec, data)
        from fastlayers import kernels

        self.kernels = kernels
        self.out = np.empty(spec.out_shape, self.dtype)

    def _upsample(self):
        s = self.spec.stride
        self.kernels.upsample_strided(self.data["x"], s, s, self.out)
        return (self.out,)


class TorchUpsample(_ConvBase):
    """``torch.zeros`` and a strided slice assignment."""

    ops = ("upsample",)

    def __init__(self, spec, data):
        super().__init__(spec, data)
        self.torch = import_torch()
        (self.x,) = _tensors(self.torch, data, "x")

    def _upsample(self):
        s = self.spec.stride
        out = self.x.new_zeros(self.spec.out_shape)
        out[:, :, ::s, ::s] = self.x
        return (out,)


UPSAMPLE_ADAPTERS = {
    "reference": ReferenceUpsample,
    "fastlayers-kernel": FastlayersKernelUpsample,
    "torch": TorchUpsample,
}


def upsample_expected(spec, data):
    s = spec.stride
    out = np.zeros(spec.out_shape)
    out[:, :, ::s, ::s] = data["x"]
    return (out,)


# Training steps and inference of whole networks
# ---------------------------------------------------------------------------
#
# Every network adapter offers ``step()`` (forward, backward and SGD update
# of the fixed batch; returns the loss), ``infer()`` (forward pass only on
# the fixed batch; returns the class probabilities), ``loss_value(raw)``
# and ``parameters()`` (float64 (weights, bias) pairs, fully connected
# weights as (inputs, outputs)).


class _NetBase:
    """Shared state: the fixed batch, the initial parameters and the learning rate of ``seed``."""

    def __init__(self, net, batch, dtype, seed=0):
        self.net_name = net
        self.dtype = np.dtype(dtype)
        self.batch = batch
        self.seed = seed
        self.x_data, self.labels_data = networks.batch_data(net, batch, seed)
        self.learning_rate = networks.learning_rate(batch)

    def initial_parameters(self):
        return networks.parameters(self.net_name, self.seed)

    def contiguous_batch(self):
        """The fixed batch and its labels as C-contiguous arrays of the network's dtype."""
        return (
            np.ascontiguousarray(self.x_data, self.dtype),
            np.ascontiguousarray(self.labels_data, self.dtype),
        )

    def step(self):
        """One training step (forward, backward, SGD update); returns the loss."""
        raise NotImplementedError

    def infer(self):
        """Class probabilities of the fixed batch (forward pass only)."""
        raise NotImplementedError

    def loss_value(self, raw):
        return float(raw)


class FastlayersLeNet(_NetBase):
    """``fastlayers.NeuralNetwork``; one step is ``net.forward(); net.backward()``.

    LeNet is :func:`fastlayers.models.lenet`; other networks are built from
    the same classes (:func:`bench.networks.build`).
    """

    backend_name = "fast"

    def __init__(self, net, batch, dtype, seed=0):
        super().__init__(net, batch, dtype, seed)
        self.net = networks.build(net, self.backend_name, self.dtype, seed, batch)
        self.trainable = networks.trainable_layers(self.net)
        self.x = self.net.data_layer.x

    def step(self):
        return networks.train_step(self.net)

    def infer(self):
        return networks.infer(self.net, self.x)

    def parameters(self):
        return [networks.layer_parameters(layer) for layer in self.trainable]


class FastlayersLoopLeNet(FastlayersLeNet):
    """The same network trained by the user's own loop over the layers
    (:func:`bench.networks.tutorial_loop_step`), the first layer's input
    gradient included."""

    def step(self):
        return networks.tutorial_loop_step(self.net)


class ReferenceLeNet(FastlayersLeNet):
    """``fastlayers.reference.NeuralNetwork`` with the reference layers."""

    backend_name = "reference"


class Im2colLeNet(_NetBase):
    """:class:`bench.im2col.Network` of the same architecture."""

    def __init__(self, net, batch, dtype, seed=0):
        super().__init__(net, batch, dtype, seed)
        self.net = im2col.Network(
            networks.ARCHITECTURES[net], self.initial_parameters(), self.learning_rate, self.dtype
        )
        self.x, self.labels = self.contiguous_batch()

    def step(self):
        loss = self.net.forward(self.x, self.labels)
        self.net.backward()
        return loss

    def parameters(self):
        return [
            (np.asarray(w, np.float64), np.asarray(b, np.float64)) for w, b in self.net.parameters()
        ]


class TorchLeNet(_NetBase):
    """The same architecture as ``nn.Sequential``, summed cross-entropy, ``optim.SGD``."""

    def __init__(self, net, batch, dtype, seed=0):
        super().__init__(net, batch, dtype, seed)
        params = self.initial_parameters()
        torch = import_torch()
        nn = torch.nn
        self.torch = torch
        tdt = _torch_dtype(torch, self.dtype)
        modules = []
        for spec in networks.ARCHITECTURES[net]:
            kind = spec[0]
            if kind == "conv":
                modules.append(nn.Conv2d(spec[1], spec[2], spec[3], padding=spec[3] // 2))
            elif kind == "fc":
                modules.append(nn.Linear(spec[1], spec[2]))
            elif kind == "relu":
                modules.append(nn.ReLU())
            elif kind == "pool":
                modules.append(nn.MaxPool2d(2, 2))
            elif kind == "flatten":
                modules.append(nn.Flatten())
        self.model = nn.Sequential(*modules).to(tdt)
        trainable = [m for m in self.model if isinstance(m, (nn.Conv2d, nn.Linear))]
        with torch.no_grad():
            for module, (w, b) in zip(trainable, params):
                w = np.asarray(w, np.float64)
                module.weight.copy_(
                    torch.from_numpy(w if w.ndim == 4 else np.ascontiguousarray(w.T))
                )
                module.bias.copy_(torch.from_numpy(np.asarray(b, np.float64)))
        self.trainable = trainable
        self.x = torch.from_numpy(self.contiguous_batch()[0])
        self.target = torch.from_numpy(np.argmax(self.labels_data, axis=1).astype(np.int64))
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=self.learning_rate)
        self.cross_entropy = torch.nn.functional.cross_entropy

    def step(self):
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.cross_entropy(self.model(self.x), self.target, reduction="sum")
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def infer(self):
        with self.torch.inference_mode():
            return self.torch.softmax(self.model(self.x), dim=1)

    def loss_value(self, raw):
        return float(raw.item())

    def parameters(self):
        out = []
        for module in self.trainable:
            w = _to_numpy(module.weight)
            out.append((w if w.ndim == 4 else np.ascontiguousarray(w.T), _to_numpy(module.bias)))
        return out


class JaxLeNet(_NetBase):
    """The same architecture in ``jax.numpy`` (``lax.conv_general_dilated``,
    ``lax.reduce_window``), summed cross-entropy, a jitted ``value_and_grad``
    step with the SGD update."""

    def __init__(self, net, batch, dtype, seed=0):
        super().__init__(net, batch, dtype, seed)
        params = self.initial_parameters()
        learning_rate = self.learning_rate
        jax = import_jax()
        jnp, lax = jax.numpy, jax.lax
        self.jax = jax
        arch = networks.ARCHITECTURES[net]

        def forward(ps, a):
            i = 0
            for spec in arch:
                kind = spec[0]
                if kind == "conv":
                    w, b = ps[i]
                    i += 1
                    a = lax.conv_general_dilated(
                        a, w, (1, 1), "SAME", dimension_numbers=("NCHW", "OIHW", "NCHW")
                    )
                    a = a + b[None, :, None, None]
                elif kind == "fc":
                    w, b = ps[i]
                    i += 1
                    a = a @ w + b
                elif kind == "relu":
                    a = jnp.maximum(a, 0)
                elif kind == "pool":
                    a = lax.reduce_window(a, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
                elif kind == "flatten":
                    a = a.reshape(a.shape[0], -1)
            return a

        def loss_fn(ps, a, y):
            return -jnp.sum(y * jax.nn.log_softmax(forward(ps, a), axis=1))

        def step(ps, a, y):
            loss, grads = jax.value_and_grad(loss_fn)(ps, a, y)
            return jax.tree_util.tree_map(lambda p, g: p - learning_rate * g, ps, grads), loss

        self._step = jax.jit(step)
        self._infer = jax.jit(lambda ps, a: jax.nn.softmax(forward(ps, a), axis=1))
        self.params = [
            (jnp.asarray(np.asarray(w, self.dtype)), jnp.asarray(np.asarray(b, self.dtype)))
            for w, b in params
        ]
        x, labels = self.contiguous_batch()
        self.x, self.labels = jnp.asarray(x), jnp.asarray(labels)

    def step(self):
        self.params, loss = self._step(self.params, self.x, self.labels)
        return loss.block_until_ready()

    def infer(self):
        return self._infer(self.params, self.x).block_until_ready()

    def parameters(self):
        return [(_to_numpy(w), _to_numpy(b)) for w, b in self.params]


LENET_ADAPTERS = {
    "reference": ReferenceLeNet,
    "im2col": Im2colLeNet,
    "fastlayers": FastlayersLeNet,
    "fastlayers-loop": FastlayersLoopLeNet,
    "torch": TorchLeNet,
    "jax": JaxLeNet,
}
NET_ADAPTERS = LENET_ADAPTERS


def make_net(backend, net, batch, dtype, seed=0):
    """A ``net`` ("lenet" or "cifar") of ``backend`` with the shared parameters and batch of ``seed``."""
    return NET_ADAPTERS[backend](net, batch, DTYPES.get(dtype, dtype), seed)


def make_lenet(backend, batch, dtype, seed=0):
    """A LeNet of ``backend`` with the shared parameters and batch of ``seed``."""
    return make_net(backend, "lenet", batch, dtype, seed)


def net_losses(backend, net, batch, dtype, steps=2, seed=0):
    """Losses of the first ``steps`` training steps of a fresh ``backend`` network."""
    adapter = make_net(backend, net, batch, dtype, seed)
    return [adapter.loss_value(adapter.step()) for _ in range(steps)]


def lenet_losses(backend, batch, dtype, steps=2, seed=0):
    """Losses of the first ``steps`` training steps of a fresh ``backend`` LeNet."""
    return net_losses(backend, "lenet", batch, dtype, steps, seed)
