"""The report's tables, plots and README section, built from made-up timings."""

import itertools
import json

import pytest

from . import report
from .cases import MODES, conv_cases, kernel_cases, lenet_cases


def _fake_benchmarks(path):
    """A pytest-benchmark JSON file with every full-mode case and invented times."""
    benchmarks = []
    for i, case in enumerate(kernel_cases("full") + lenet_cases("full")):
        speed = {"reference": 100.0, "im2col": 10.0, "torch": 2.0, "fastlayers": 1.5,
                 "fastlayers-kernel": 1.0}[case.backend]
        t = 1e-4 * case.batch * speed / (case.threads or 1)
        info = dict(suite=case.suite, backend=case.backend, layer=case.layer, batch=case.batch,
                    dtype=case.dtype, threads=case.threads, op=case.op, label=case.layer,
                    others_cpu=0.5 if i == 0 else 0.0)
        benchmarks.append(dict(name=f"test[{case.id}]", extra_info=info,
                               stats=dict(min=t, median=t, mean=t, rounds=5, iterations=1)))
    path.write_text(json.dumps({"benchmarks": benchmarks}))


def _fake_targets():
    row = dict(target="LeNet step, batch 64, 2 threads, float64: fastlayers / PyTorch throughput",
               kind="lenet-vs-torch", threshold=2.0, ratio=2.5, result="PASS", detail={}, info={"x": 1.0},
               skip_reason=None, others_cpu=0.0)
    compile_result = dict(dtype="float64", batch=64, cold_s=12.0, warm_s=1.0,
                          cold=dict(first_step_s=11.0, second_step_s=0.01, import_s=0.5),
                          warm=[dict(first_step_s=0.4, import_s=0.5, wall_s=1.0)])
    memory_result = dict(dtype="float64", steps=1000, batch=64, rss_start=2**27, rss_end=2**27,
                         rss_slope_per_step=0.0, rss_growth_per_step=0.0, rss_robust_growth_per_step=0.0,
                         nrt_unfreed_per_step=0.0, traced_growth_per_step=0.0, traced_limit_per_step=16,
                         seconds_per_step=0.01)
    from .targets import compile_rows, memory_rows

    return [row] + compile_rows([compile_result]) + memory_rows([memory_result]), [compile_result], [memory_result]


def test_cases_have_unique_ids():
    for mode in MODES:
        ids = [c.id for c in kernel_cases(mode) + lenet_cases(mode)]
        assert len(ids) == len(set(ids)), mode


def test_reference_kept_small():
    for case in conv_cases("full"):
        if case.backend == "reference":
            assert case.batch <= 16 and (case.batch == 1 or case.layer.startswith("lenet"))
    assert {c.batch for c in lenet_cases("full") if c.backend == "reference"} == {16, 64}


def test_report_tables_plots_and_readme(tmp_path):
    pytest.importorskip("matplotlib")
    _fake_benchmarks(tmp_path / "benchmarks.json")
    res = report.Results(report.load_benchmarks(tmp_path / "benchmarks.json"))
    target_rows, compile_results, memory_results = _fake_targets()
    info = dict(date="2024-01-01 00:00 UTC", cpu="Test CPU", logical_cores=2, usable_cores=2, os="TestOS",
                python="CPython 3.11.0", fastlayers="0.1.0", numpy="2", numba="0.6", scipy="1", torch="2",
                pytest_benchmark="5", numba_threading_layer="omp", numba_num_threads=2,
                others_cpu={"suites": 0.0})
    plots = {"lenet": str(tmp_path / "lenet_speedup.png"), "kernels": str(tmp_path / "kernel_speedup.png")}
    report.plot_lenet(res, plots["lenet"])
    assert report.plot_kernels(res, plots["kernels"])
    for path in plots.values():
        with open(path, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    text = report.build_report(info, "full", res, target_rows, compile_results, memory_results,
                               str(tmp_path), plots)
    assert "**PASS**" in text and "2.50x" in text
    assert "| float64 | 64 |" in text  # a LeNet row
    assert report.BUSY_MARK in text  # the one disturbed case is marked
    # fastlayers 2t vs PyTorch 2t at the invented speeds: 2.0 / 1.5
    assert "1.33x" in text

    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{report.README_START}\nstale table\n{report.README_END}\nafter\n")
    section = report.readme_section(info, "full", res, target_rows, compile_results, memory_results,
                                    str(tmp_path / "results"), plots, str(readme))
    assert report.update_readme(str(readme), section)
    new = readme.read_text()
    assert "stale table" not in new and "before" in new and "after" in new
    assert "results/lenet_speedup.png" in new
    assert report.update_readme(str(readme), section)  # idempotent
    assert readme.read_text() == new

    plain = tmp_path / "PLAIN.md"
    plain.write_text("# no markers\n")
    assert not report.update_readme(str(plain), section)
    assert plain.read_text() == "# no markers\n"


def test_formatting():
    assert report.fmt_time(2e-6) == "2.0 µs"
    assert report.fmt_time(2e-3) == "2.00 ms"
    assert report.fmt_time(2.0) == "2.00 s"
    assert report.fmt_ratio(123.4) == "123x" and report.fmt_ratio(1.234) == "1.23x"
    assert report.fmt_ratio(None) == "–"
    table = report.markdown_table(["a", "b"], [[1, 2]])
    assert table.splitlines()[1] == "| :-- | --: |"
    assert list(itertools.islice(table.splitlines(), 3))[2] == "| 1 | 2 |"
