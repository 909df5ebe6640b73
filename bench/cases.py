"""Which benchmark cases run in which mode.

Modes (environment variable ``FASTLAYERS_BENCH``, or chosen by pytest):

``smoke``
    Every backend, operation and dtype once on small batches: what the
    normal test command runs with ``--benchmark-disable`` (the default
    when benchmarks are disabled).
``quick``
    The shapes the targets are about (batch 64), both thread counts:
    ``python -m bench.report --quick``.
``full``
    Everything (the default when benchmarks are enabled).

The reference backend (Python loops over scipy) is slow: it runs the
convolution and pooling kernels of LeNet at batch 1 and 16 only, the CIFAR
convolutions at batch 1 only (its "same" correlation of a 32-channel input
alone takes seconds per call), and the LeNet step at batch 16 and 64.

Cases are ordered so that the backends of one shape, dtype and operation
run one after the other: their ratios are measured minutes apart at most.
"""

import os
from dataclasses import asdict, dataclass

from . import backends as B

MODES = ("smoke", "quick", "full")
THREADS = (1, 2)
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Case:
    suite: str  # "conv", "pool", "upsample" or "lenet"
    backend: str
    layer: str  # shape name; the network ("lenet", "cifar") for training steps and inference
    batch: int
    dtype: str
    threads: int | None  # None: the backend sets no thread count
    op: str  # operation; "step" (training step) or "infer" (forward only) for networks

    def info(self):
        """The fields as a dict: what a benchmark of the case records in its ``extra_info``."""
        return asdict(self)

    @property
    def id(self):
        threads = "" if self.threads is None else f"-t{self.threads}"
        return f"{self.layer}-b{self.batch}-{self.dtype}-{self.op}-{self.backend}{threads}"


def mode_from_env(default):
    mode = os.environ.get("FASTLAYERS_BENCH", "").strip().lower() or default
    if mode not in MODES:
        raise ValueError(f"FASTLAYERS_BENCH: expected one of {MODES}, got {mode!r}")
    return mode


def _thread_options(backend, threads):
    return threads if backend in B.THREADED_BACKENDS else (None,)


def _expand(suite, layer, batch, dtypes, ops_of, backends, threads):
    cases = []
    for dtype in dtypes:
        ops = []
        for backend in backends:
            for op in ops_of(backend):
                if op not in ops:
                    ops.append(op)
        for op in ops:
            for backend in backends:
                if op not in ops_of(backend):
                    continue
                for n in _thread_options(backend, threads):
                    cases.append(Case(suite, backend, layer, batch, dtype, n, op))
    return cases


def _reference_kernel_batches(layer):
    return (1,) if layer.startswith("cifar") else (1, 16)


def conv_cases(mode):
    if mode == "smoke":
        plan = [("lenet-conv2", 3), ("cifar-conv1", 2)]
        threads = (2,)
    elif mode == "quick":
        plan = [(layer, 64) for layer in B.CONV_LAYERS]
        threads = THREADS
    else:
        plan = [(layer, b) for layer in ("lenet-conv1", "lenet-conv2") for b in (1, 16, 64, 256)]
        plan += [
            (layer, b)
            for layer in ("cifar-conv1", "cifar-conv2", "cifar-conv3")
            for b in (1, 16, 64)
        ]
        threads = THREADS
    cases = []
    for layer, batch in plan:
        backends = [
            b
            for b in B.KERNEL_BACKENDS
            if b != "reference" or mode == "smoke" or batch in _reference_kernel_batches(layer)
        ]
        if mode == "quick":
            backends = [b for b in backends if b != "reference"]
        cases += _expand("conv", layer, batch, DTYPES, lambda b: B.CONV_OPS[b], backends, threads)
    return cases


def _small_kernel_plan(mode, lenet_layers, quick_layers, cifar_layer):
    """(layer, batch) pairs and thread counts of the pooling and upsampling suites.

    Smoke: the first LeNet shape at batch 3 on 2 threads; quick: the first
    ``quick_layers`` LeNet shapes at batch 64; full: every LeNet shape at
    four batch sizes and the CIFAR shape at batch 64.
    """
    if mode == "smoke":
        return [(lenet_layers[0], 3)], (2,)
    if mode == "quick":
        return [(layer, 64) for layer in lenet_layers[:quick_layers]], THREADS
    plan = [(layer, b) for layer in lenet_layers for b in (1, 16, 64, 256)]
    return plan + [(cifar_layer, 64)], THREADS


def pool_cases(mode):
    plan, threads = _small_kernel_plan(mode, ("lenet-pool1", "lenet-pool2"), 2, "cifar-pool1")
    cases = []
    for layer, batch in plan:
        backends = [
            b for b in B.POOL_ADAPTERS if b != "reference" or mode == "smoke" or batch <= 16
        ]
        cases += _expand("pool", layer, batch, DTYPES, lambda b: B.POOL_OPS, backends, threads)
    return cases


def upsample_cases(mode):
    plan, threads = _small_kernel_plan(mode, ("lenet-up1", "lenet-up2"), 1, "cifar-up1")
    cases = []
    for layer, batch in plan:
        cases += _expand(
            "upsample", layer, batch, DTYPES, lambda b: ("upsample",), B.UPSAMPLE_BACKENDS, threads
        )
    return cases


NET_BACKENDS = ("fastlayers", "fastlayers-loop", "torch", "jax")


def lenet_cases(mode):
    """Training steps of LeNet (every backend) and of the CIFAR network, and batch-1 inference."""
    if mode == "smoke":
        batches, reference_batches, cifar_batches = (2,), (2,), (2,)
    elif mode == "quick":
        batches, reference_batches, cifar_batches = (16, 64), (64,), (64,)
    else:
        batches, reference_batches, cifar_batches = (1, 16, 64, 256), (16, 64), (16, 64)
    cases = []
    for batch in batches:
        backends = [b for b in B.LENET_BACKENDS if b != "reference" or batch in reference_batches]
        cases += _expand("lenet", "lenet", batch, DTYPES, lambda b: ("step",), backends, THREADS)
    # The LeNet step checks both thread counts; in smoke mode the other
    # networks run on 2 threads only, to keep the test command short.
    threads = (2,) if mode == "smoke" else THREADS
    cases += _expand(
        "lenet", "lenet", 1, DTYPES, lambda b: ("infer",), ("fastlayers", "torch", "jax"), threads
    )
    for batch in cifar_batches:
        cases += _expand(
            "lenet", "cifar", batch, DTYPES, lambda b: ("step",), NET_BACKENDS, threads
        )
    return cases


def kernel_cases(mode):
    return conv_cases(mode) + pool_cases(mode) + upsample_cases(mode)


def registry():
    """The layer table of the tests (``tests/registry.py``): one entry per layer class."""
    from tests import registry as module

    return module


def registry_configs():
    """(benchmark name, registry entry, config) of every layer's default configuration."""
    return [
        (f"{entry.name}-{config.id}", entry, config)
        for _, entry, config in registry().cases(configs=False)
    ]


def layer_cases(mode):
    """Forward and backward of every layer of the registry, fast and reference classes.

    The input is the registry's default shape with the batch axis set to
    the case's batch (the registry's own in smoke mode).  The reference
    layers compute in float64 only, so they run in float64 only.
    """
    if mode == "smoke":
        batch_of = lambda config: config.shapes[0][0]  # noqa: E731
        threads = (2,)
    else:
        batch_of = lambda config: 64  # noqa: E731
        threads = THREADS
    cases = []
    for name, _, config in registry_configs():
        for dtype in DTYPES:
            backends = ["fastlayers"] + (["reference"] if dtype == "float64" else [])
            cases += _expand(
                "layers",
                name,
                batch_of(config),
                (dtype,),
                lambda b: ("forward", "backward"),
                backends,
                threads,
            )
    return cases
