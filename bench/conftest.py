"""Parametrisation of the benchmark suites by mode (see :mod:`bench.cases`).

With ``--benchmark-disable`` (the normal test command) the suites run in
``smoke`` mode: every backend once, untimed, as a test.  With benchmarks
enabled they run in ``full`` mode.  ``FASTLAYERS_BENCH=smoke|quick|full``
overrides both.
"""

import pytest

from . import backends as B
from .cases import mode_from_env


def bench_mode(config):
    disabled = config.getoption("benchmark_disable", False) and not config.getoption(
        "benchmark_enable", False
    )
    return mode_from_env("smoke" if disabled else "full")


def pytest_generate_tests(metafunc):
    if "case" not in metafunc.fixturenames:
        return
    make_cases = getattr(metafunc.module, "CASES", None)
    if make_cases is None:
        return
    cases = make_cases(bench_mode(metafunc.config))
    metafunc.parametrize("case", cases, ids=[c.id for c in cases])


@pytest.fixture
def mode(request):
    """The benchmark mode of this session: smoke, quick or full."""
    return bench_mode(request.config)


@pytest.fixture
def usable(case):
    """Skip the case when its backend is missing or it asks for more threads than there are."""
    if case.backend == "torch" and B.import_torch() is None:
        pytest.skip(B.TORCH_MISSING)
    if case.backend == "jax" and B.import_jax() is None:
        pytest.skip(B.JAX_MISSING)
    if case.threads is not None and case.threads > B.max_threads():
        pytest.skip(
            f"needs {case.threads} threads; numba has {B.max_threads()} "
            f"(NUMBA_NUM_THREADS, the number of cores by default)"
        )
    return case
