"""The report's tables, plots and README section, built from made-up timings; the runner's options."""

import itertools
import json

import pytest

from . import readme, render, run, targets
from .cases import MODES, conv_cases, kernel_cases, layer_cases, lenet_cases
from .machine import cpu_info, describe_cpu, simd_width

SPEED = {
    "reference": 100.0,
    "im2col": 10.0,
    "torch": 2.0,
    "jax": 2.5,
    "fastlayers": 1.5,
    "fastlayers-loop": 1.8,
    "fastlayers-kernel": 1.0,
}


def _fake_benchmarks(path):
    """A pytest-benchmark JSON file with every full-mode case and invented times."""
    benchmarks = []
    for i, case in enumerate(kernel_cases("full") + lenet_cases("full") + layer_cases("full")):
        t = 1e-4 * case.batch * SPEED[case.backend] / (case.threads or 1)
        info = dict(case.info(), label=case.layer, others_cpu=0.5 if i == 0 else 0.0)
        # min below median, so that a table built from the wrong statistic shows
        benchmarks.append(
            dict(
                name=f"test[{case.id}]",
                extra_info=info,
                stats=dict(min=t / 2, median=t, mean=t, rounds=5, iterations=1),
            )
        )
    path.write_text(json.dumps({"benchmarks": benchmarks}))


def _times(**medians):
    return {name: {"median": m, "best": 2 * m} for name, m in medians.items()}


def _fake_targets():
    rows = [
        targets._row(
            "LeNet step, float64, NeuralNetwork: fastlayers / PyTorch throughput",
            2.5,
            2.75,
            kind="lenet-vs-torch",
            fastest=3.125,
            info={"x": 1.0},
            dtype="float64",
        ),
        targets._row(
            "LeNet step, float64: minor page faults per steady-state step",
            0.0,
            3.0,
            kind="faults",
            lower_is_better=True,
        ),
        targets._row(
            "LeNet vs JAX", 3.0, float("nan"), kind="lenet-vs-jax", skip=targets.JAX_MISSING
        ),
    ]
    for dtype, ratio in (("float32", 1.1), ("float64", 1.4)):
        for op in targets.KERNEL_OPS:
            rows.append(
                targets._row(
                    f"cifar-conv1 3->32 32x32 3x3, batch 64, 2 threads, {dtype}, {op}: x",
                    targets.KERNEL_VS_TORCH["cifar-conv1"][dtype],
                    ratio,
                    kind="kernel-vs-torch",
                    fastest=ratio,
                    layer="cifar-conv1",
                    dtype=dtype,
                    op=op,
                )
            )
    compile_result = dict(
        dtype="float64",
        batch=64,
        cold_s=12.0,
        warm_s=1.0,
        cold=dict(first_step_s=11.0, second_step_s=0.01, import_s=0.5),
        warm=[dict(first_step_s=0.4, import_s=0.5, wall_s=1.0)],
    )
    memory_result = dict(
        dtype="float64",
        steps=1000,
        batch=64,
        rss_start=2**27,
        rss_end=2**27,
        rss_slope_per_step=0.0,
        rss_growth_per_step=0.0,
        rss_robust_growth_per_step=0.0,
        nrt_unfreed_per_step=0.0,
        traced_growth_per_step=0.0,
        traced_limit_per_step=16,
        seconds_per_step=0.01,
    )
    rows += targets.compile_rows([compile_result]) + targets.memory_rows([memory_result])
    return rows, [compile_result], [memory_result]


INFO = dict(
    date="2024-01-01 00:00 UTC",
    cpu="Test CPU",
    vendor="GenuineTest",
    simd="avx512",
    avx512_flags=["avx512f"],
    physical_cores=2,
    logical_cores=2,
    usable_cores=2,
    os="TestOS",
    python="CPython 3.11.0",
    fastlayers="0.1.0",
    numpy="2",
    numba="0.6",
    scipy="1",
    torch="2",
    jax=None,
    pytest_benchmark="5",
    numba_threading_layer="omp",
    numba_num_threads=2,
    others_cpu={"suites": 0.0},
    target_windows={"window_s": 1.0, "windows": 7},
)


def test_cases_have_unique_ids():
    for mode in MODES:
        ids = [c.id for c in kernel_cases(mode) + lenet_cases(mode) + layer_cases(mode)]
        assert len(ids) == len(set(ids)), mode


def test_reference_kept_small():
    for case in conv_cases("full"):
        if case.backend == "reference":
            assert case.batch <= 16 and (case.batch == 1 or case.layer.startswith("lenet"))
    assert {c.batch for c in lenet_cases("full") if c.backend == "reference"} == {16, 64}


def test_targets_rows():
    ok = targets._row("a", 2.0, 2.5, kind="lenet-vs-torch")
    miss = targets._row("b", 2.0, 1.5, kind="lenet-vs-torch")
    faults = targets._row("c", 0.0, 0.5, kind="faults", lower_is_better=True)
    assert (ok["result"], miss["result"], faults["result"]) == ("PASS", "MISS", "MISS")
    assert targets._row("d", 0.0, 0.0, kind="faults", lower_is_better=True)["result"] == "PASS"
    times = _times(a=200.0, b=100.0)
    assert targets._ratio(times, "a", "b") == 2.0


def test_thresholds_never_below_the_earlier_ones():
    # The thresholds before the targets were measured as median throughputs.
    earlier_torch = {"float32": 1.5, "float64": 2.0}
    earlier_kernels = {
        "lenet-conv1": 1.0,
        "lenet-conv2": 1.0,
        "cifar-conv1": 0.5,
        "cifar-conv2": 0.5,
    }
    for dtype, value in earlier_torch.items():
        assert targets.LENET_VS_TORCH[dtype] >= value
    for layer, value in earlier_kernels.items():
        assert min(targets.KERNEL_VS_TORCH[layer].values()) >= value
    assert targets.THREAD_SCALING >= 1.7 and targets.LENET_VS_REFERENCE >= 100


def test_report_tables_plots_and_readme(tmp_path):
    pytest.importorskip("matplotlib")
    _fake_benchmarks(tmp_path / "benchmarks.json")
    res = render.Results(run.load_benchmarks(tmp_path / "benchmarks.json"))
    target_rows, compile_results, memory_results = _fake_targets()
    plots = {
        "lenet": str(tmp_path / "lenet_speedup.png"),
        "kernels": str(tmp_path / "kernel_speedup.png"),
    }
    assert render.plot_lenet(res, plots["lenet"])
    assert render.plot_kernels(res, plots["kernels"])
    for path in plots.values():
        with open(path, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    text = render.build_report(
        INFO, "full", res, target_rows, compile_results, memory_results, plots
    )
    assert (
        "**PASS**" in text and "2.75x" in text and "3.12x" in text
    )  # median and fastest-call ratios
    assert "**SKIP**" in text and "JAX not installed" in text
    assert "| float64 | 64 |" in text  # a LeNet row
    assert "## CIFAR-10 network training step" in text and "## LeNet inference" in text
    assert "## Every layer of the test registry" in text and "| ConvolutionalLayer-" in text
    assert render.BUSY_MARK in text  # the one disturbed case is marked
    assert "GenuineTest" in text and "AVX-512" in text
    # fastlayers 2t vs PyTorch 2t at the invented speeds: 2.0 / 1.5, from the medians
    assert "1.33x" in text
    assert "| Test CPU |" not in text

    readme_path = tmp_path / "README.md"
    readme_path.write_text(
        f"# x\n\nbefore\n{readme.README_START}\nstale table\n{readme.README_END}\nafter\n"
    )
    section = _readme_section(res, tmp_path / "results", plots, readme_path)
    assert describe_cpu(INFO) in section
    # The six CIFAR kernel rows fold into one; its worst case is the one furthest below its own
    # threshold (float64: 1.4 of 1.5), not the smallest ratio (float32: 1.1 of 1.0).
    assert section.count("cifar-conv1") == 1 and "worst: forward float64" in section
    assert readme.update_readme(str(readme_path), section)
    new = readme_path.read_text()
    assert "stale table" not in new and "before" in new and "after" in new
    assert "results/lenet_speedup.png" in new
    assert readme.update_readme(str(readme_path), section)  # idempotent
    assert readme_path.read_text() == new

    plain = tmp_path / "PLAIN.md"
    plain.write_text("# no markers\n")
    assert not readme.update_readme(str(plain), section)
    assert plain.read_text() == "# no markers\n"


def _readme_section(res, results_dir, plots, readme_path):
    """The README section of a full run with the fake targets."""
    target_rows, compile_results, _ = _fake_targets()
    return readme.readme_section(
        INFO,
        "full",
        res,
        target_rows,
        compile_results,
        str(results_dir),
        plots,
        str(readme_path),
    )


def test_readme_writer_on_a_copy_of_the_readme(tmp_path):
    """The repository's README keeps everything outside its markers."""
    import os

    original = open(os.path.join(run.ROOT, "README.md"), encoding="utf-8").read()
    copy = tmp_path / "README.md"
    copy.write_text(original, encoding="utf-8")
    section = _readme_section(render.Results([]), tmp_path / "bench" / "results", {}, copy)
    assert readme.update_readme(str(copy), section)
    new = copy.read_text(encoding="utf-8")
    start, end = original.index(readme.README_START), original.index(readme.README_END)
    assert new.startswith(original[:start]) and new.endswith(original[end:])
    assert "Test CPU" in new and "bench/results/report.md" in new


def test_machine_info_parts():
    assert simd_width(["sse2", "avx", "avx2", "fma", "avx512f"]) == "avx512"
    assert simd_width(["sse2", "avx", "avx2", "fma"]) == "avx2"
    assert simd_width(["sse2"]) == "sse2" and simd_width([]) is None
    info = cpu_info()
    assert info["cpu"] and info["logical_cores"] >= info["usable_cores"] >= 1


def test_runner_options():
    assert run.parse_args(["--smoke"]).smoke
    assert run.parse_args(["--quick"]).quick
    with pytest.raises(SystemExit):
        run.parse_args(["--quick", "--smoke"])
    assert targets.SETTINGS["smoke"].window < targets.SETTINGS["quick"].window


def test_formatting():
    assert render.fmt_time(2e-6) == "2.0 µs"
    assert render.fmt_time(2e-3) == "2.00 ms"
    assert render.fmt_time(2.0) == "2.00 s"
    assert render.fmt_ratio(123.4) == "123x" and render.fmt_ratio(1.234) == "1.23x"
    assert render.fmt_ratio(None) == "–"
    table = render.markdown_table(["a", "b"], [[1, 2]])
    assert table.splitlines()[1] == "| :-- | --: |"
    assert list(itertools.islice(table.splitlines(), 3))[2] == "| 1 | 2 |"


def test_other_machines_kept_apart(tmp_path):
    """A full run of another CPU is archived, and shown under its own name, never as this machine's."""
    target_rows, compile_results, memory_results = _fake_targets()
    amd = dict(INFO, cpu="AMD Test", vendor="AuthenticAMD", date="2023-06-01 00:00 UTC")
    del amd["target_windows"]
    results = tmp_path / "results.json"
    results.write_text(
        json.dumps(dict(machine=amd, mode="full", targets=target_rows, compile=[], memory=[]))
    )
    assert run.archive_other_machine(str(results), INFO)
    assert run.archive_other_machine(str(results), amd) is None  # same machine: nothing to keep
    others = run.load_other_machines(str(tmp_path), INFO)
    assert [o["machine"]["cpu"] for o in others] == ["AMD Test"]
    assert run.load_other_machines(str(tmp_path), amd) == []
    section = readme.readme_section(
        INFO,
        "full",
        render.Results([]),
        target_rows,
        compile_results,
        str(tmp_path),
        {},
        str(tmp_path / "README.md"),
        others=others,
    )
    assert section.index("Test CPU") < section.index("another machine, AMD Test")
    assert "fastest call, both sides timed in alternation in one process" in section


def test_runs_before_median_throughput_show_their_ratio_as_fastest_call():
    old = dict(
        target="old LeNet target",
        kind="lenet-vs-torch",
        threshold=1.5,
        ratio=2.21,
        result="PASS",
        detail={},
        info={},
        skip_reason=None,
        others_cpu=0.0,
    )
    line = render.targets_table([old]).splitlines()[2]
    assert line.startswith("| old LeNet target | ≥ 1.5x | – | 2.21x | **PASS** |")
