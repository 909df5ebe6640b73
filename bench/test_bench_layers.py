"""Every layer of the test registry, forward and backward, fast and reference classes.

The cases come from ``tests/registry.py`` (:func:`bench.cases.layer_cases`),
so a layer added to the registry is benchmarked too.  Each case checks its
result against the other class (fast against reference, reference against
fast) on the same parameters and input, in float64.
"""

import functools

import numpy as np

from .cases import layer_cases, registry, registry_configs
from .harness import annotate, assert_close, budget, measure

CASES = layer_cases
PACKAGES = {"fastlayers": "fast", "reference": "reference"}


@functools.lru_cache(maxsize=1)
def _entries():
    return {name: (entry, config) for name, entry, config in registry_configs()}


class LayerRun:
    """One layer of ``package`` with the registry's parameters, input and output error."""

    def __init__(self, entry, config, batch, dtype, seed=0):
        reg = registry()
        rng = np.random.default_rng(seed)
        shape = (batch, *config.shapes[0][1:])
        fast, slow = entry.pair(config, rng, shape, dtype=np.dtype(dtype), learning_rate=0.0)
        self.layers = {"fastlayers": fast, "reference": slow}
        self.entry = entry
        x = entry.values(rng, shape)
        self.inputs = {"fastlayers": x.astype(dtype), "reference": x}
        self.labels = reg.labels_for(rng, shape) if entry.loss else None
        out = self.forward("reference")
        self.error = None if entry.loss else rng.standard_normal(np.shape(out))

    def forward(self, backend):
        if self.entry.global_random:
            np.random.seed(1234)  # the same mask for both classes
        layer, x = self.layers[backend], self.inputs[backend]
        if self.entry.loss:
            return layer.forward(x, self.labels.astype(x.dtype))
        return layer.forward(x)

    def backward(self, backend):
        layer = self.layers[backend]
        if self.entry.loss:
            grads = (layer.backward(self.labels.astype(self.inputs[backend].dtype)),)
        else:
            grads = (layer.backward(self.error.astype(self.inputs[backend].dtype)),)
        for name in self.entry.gradient_params:
            grads += (getattr(layer, f"get_gradient_{name}")(),)
        return grads

    def op(self, backend, name):
        if name == "forward":
            return lambda: (self.forward(backend),)
        self.forward(backend)
        return lambda: self.backward(backend)


def test_layer(benchmark, case, usable, mode):
    entry, config = _entries()[case.layer]
    run = LayerRun(entry, config, case.batch, case.dtype)
    other = "reference" if case.backend == "fastlayers" else "fastlayers"
    annotate(benchmark, case, label=f"{case.layer} {tuple(run.inputs['reference'].shape)}")
    fn = run.op(case.backend, case.op)
    from . import backends as B

    with B.threads(case.backend, case.threads):
        got = measure(benchmark, fn, budget(mode))
    expected = run.op(other, case.op)()
    assert_close(
        [np.asarray(g) for g in got],
        [np.asarray(e, np.float64) for e in expected],
        case.dtype,
        case.id,
    )
