"""Run every benchmark and write the report: Markdown tables, PNG plots, README section.

Usage::

    python -m bench.report [--quick | --smoke] [--output bench/results]

Steps:

1. the pytest-benchmark suites (``bench/test_bench_lenet.py``,
   ``bench/test_bench_kernels.py``, ``bench/test_bench_layers.py``) with ``--benchmark-enable`` and
   ``--benchmark-json``, in ``full`` mode (``quick`` with ``--quick``,
   ``smoke`` with ``--smoke``);
2. the targets: median throughput over windows of seconds, each side in a
   process of its own, sides interleaved (:mod:`bench.targets`,
   :mod:`bench.throughput`);
3. the time to a new process's first training step, cold and warm kernel
   cache (:mod:`bench.compile_time`);
4. memory growth over 1000 training steps (:mod:`bench.memory`);
5. ``report.md``, ``results.json``, ``lenet_speedup.png`` and
   ``kernel_speedup.png`` in the output directory (:mod:`bench.render`),
   and the README section between ``<!-- bench-report -->`` and
   ``<!-- /bench-report -->`` (:mod:`bench.readme`).

``--smoke`` runs the whole pipeline with very short windows, one compile
measurement (float64) and 50 memory steps, in about two minutes: a check
that everything runs, not a measurement; it writes to
``bench/results/smoke`` and leaves the README alone unless ``--readme`` is
given.

``results.json`` keeps every figure of the run (the suites' minimum and
median times included), so ``--reuse`` can rebuild the report, plots and
README section without measuring anything.  ``benchmarks.json`` (the raw
pytest-benchmark output) and ``pytest.log`` are left next to it for
inspection.
"""

import argparse
import json
import os
import subprocess
import sys
import time

from . import targets
from .machine import CpuMonitor, machine_info, wait_idle
from .readme import readme_section, update_readme
from .render import Results, build_report, fmt_target_value, fmt_threshold, plot_kernels, plot_lenet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUTPUT = os.path.join("bench", "results")
SUITES = ["bench/test_bench_lenet.py", "bench/test_bench_kernels.py", "bench/test_bench_layers.py"]
OTHER_MACHINES = "other-machines"  # folder of the output directory keeping other machines' runs


def log(*args):
    print(*args, flush=True)


# In a smoke run the suites time a few cases only: enough to build every kind of table.
SMOKE_SELECTION = "lenet-b2-float32-step or lenet-conv2-b3-float32 or ConvolutionalLayer"


def run_suites(mode, out_dir):
    """Run the pytest-benchmark suites; return (path of the JSON, exit code)."""
    json_path = os.path.join(out_dir, "benchmarks.json")
    log_path = os.path.join(out_dir, "pytest.log")
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        *SUITES,
        "--benchmark-enable",
        f"--benchmark-json={json_path}",
        "--benchmark-sort=name",
        "--benchmark-columns=min,median,rounds,iterations",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    if mode == "smoke":
        cmd += ["-k", SMOKE_SELECTION]
    env = dict(os.environ, FASTLAYERS_BENCH=mode)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    log(f"[1/4] pytest-benchmark suites ({mode}); log: {log_path}")
    start = time.perf_counter()
    with open(log_path, "w") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        code = subprocess.call(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    log(f"      done in {time.perf_counter() - start:.0f} s, exit code {code}")
    return json_path, code


def load_benchmarks(path):
    """Rows of the pytest-benchmark JSON: the case's extra_info plus its statistics."""
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        data = json.load(fh)
    rows = []
    for bench in data.get("benchmarks", []):
        info = dict(bench.get("extra_info", {}))
        if "suite" not in info:
            continue
        stats = bench["stats"]
        info.update(
            min=stats["min"],
            median=stats["median"],
            mean=stats["mean"],
            rounds=stats["rounds"],
            iterations=stats.get("iterations", 1),
            name=bench["name"],
        )
        rows.append(info)
    return rows


def machine_key(info):
    """What tells two machines apart in a report: CPU model, vendor and usable cores."""
    return (info.get("cpu"), info.get("vendor"), info.get("usable_cores"))


def archive_other_machine(results_path, info):
    """Keep the previous full run when it was made on another machine; return the archived path.

    Its figures then stay in the README as another machine's
    (:func:`bench.readme.readme_section`), never as this one's.
    """
    if not os.path.exists(results_path):
        return None
    with open(results_path) as fh:
        saved = json.load(fh)
    old = saved.get("machine", {})
    if saved.get("mode") != "full" or machine_key(old) == machine_key(info):
        return None
    slug = "".join(
        c if c.isalnum() else "-" for c in f"{old.get('cpu')}-{old.get('date', '')}"
    ).strip("-")
    target = os.path.join(os.path.dirname(results_path), OTHER_MACHINES, f"{slug.lower()}.json")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w") as fh:
        json.dump(
            dict(machine=old, mode=saved["mode"], targets=saved.get("targets", [])), fh, indent=1
        )
    log(f"kept the previous run, made on {old.get('cpu')}, in {target}")
    return target


def load_other_machines(out_dir, info):
    """The archived runs of other machines than ``info``'s, newest first."""
    folder = os.path.join(out_dir, OTHER_MACHINES)
    runs = []
    if os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            if name.endswith(".json"):
                with open(os.path.join(folder, name)) as fh:
                    saved = json.load(fh)
                if machine_key(saved["machine"]) != machine_key(info):
                    runs.append(saved)
    return sorted(runs, key=lambda r: r["machine"].get("date", ""), reverse=True)


def measure_targets(settings):
    log(
        f"[2/4] targets (median throughput over {settings.windows} windows of {settings.window:g} s, "
        f"each side in its own process)"
    )
    start = time.perf_counter()
    rows = targets.measure_all(settings, log=log)
    log(f"      done in {time.perf_counter() - start:.0f} s")
    return rows


def measure_compile(mode):
    from . import compile_time

    log("[3/4] first training step of a new process, cold and warm kernel cache")
    dtypes = ("float64",) if mode == "smoke" else ("float64", "float32")
    warm_runs = 3 if mode == "full" else 1
    results = []
    # A plain first step compiles as it goes; fastlayers train first
    # compiles the step's kernels with fastlayers.precompile.
    for precompile in (False, True):
        log(f"  {'with' if precompile else 'without'} fastlayers.precompile")
        results += compile_time.measure(
            dtypes, warm_runs=warm_runs, log=lambda m: log("    " + m), precompile=precompile
        )
    return results


def measure_memory(mode):
    from . import memory

    steps, warmup = (50, 10) if mode == "smoke" else (1000, 200)
    log(f"[4/4] memory growth over {steps} LeNet steps")
    results = []
    for dtype in ("float64", "float32"):
        r = memory.measure_in_subprocess(steps=steps, batch=64, dtype=dtype, warmup=warmup)
        log(
            f"      {dtype}: RSS peak growth {r['rss_robust_growth_per_step']:+.1f} B/step, numba runtime "
            f"{r['nrt_unfreed_per_step']} unfreed allocations/step, "
            f"tracemalloc {r['traced_growth_per_step']:+.2f} B/step"
        )
        results.append(r)
    return results


def print_summary(target_rows, files):
    log("")
    log("Targets:")
    for row in target_rows:
        value = "–" if row["result"] == "SKIP" else fmt_target_value(row, row["ratio"])
        log(f"  {row['result']:4}  {value:>12}  (need {fmt_threshold(row)})  {row['target']}")
    log("")
    log("Files:")
    for path in files:
        log(f"  {path}")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Run the fastlayers benchmarks and write the report."
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick", action="store_true", help="a reduced run: batch 64 shapes, fewer windows"
    )
    size.add_argument(
        "--smoke",
        action="store_true",
        help="check the whole pipeline in about two minutes: every target with very short "
        "windows (not a measurement); writes to bench/results/smoke",
    )
    parser.add_argument("--output", default=None, help="output directory (default bench/results)")
    parser.add_argument(
        "--readme",
        default=None,
        help="README to update (default README.md of the repository; with --smoke, none)",
    )
    parser.add_argument("--no-readme", action="store_true", help="leave the README alone")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure nothing: rebuild the report from the JSON files in the output directory",
    )
    parser.add_argument(
        "--skip-suites", action="store_true", help="do not run the pytest-benchmark suites"
    )
    parser.add_argument("--skip-targets", action="store_true", help="do not measure the targets")
    parser.add_argument("--skip-compile", action="store_true", help="do not measure compile time")
    parser.add_argument("--skip-memory", action="store_true", help="do not measure memory growth")
    parser.add_argument(
        "--window",
        type=float,
        default=None,
        metavar="SECONDS",
        help="least length of one timed window of a target (default 1)",
    )
    parser.add_argument(
        "--windows",
        type=int,
        default=None,
        metavar="N",
        help="windows per side of a target (default 7, --quick 3)",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each timed case, wait up to SECONDS for other processes to leave "
        "the CPUs alone (default 0: do not wait)",
    )
    parser.add_argument(
        "--wait-total",
        type=float,
        default=1800.0,
        metavar="SECONDS",
        help="stop waiting for a quiet machine once the suites, or the targets, have "
        "waited this long in all (default 1800)",
    )
    return parser.parse_args(argv)


def main(argv=None):
    start = time.perf_counter()
    args = parse_args(argv)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    output = args.output or (
        os.path.join(DEFAULT_OUTPUT, "smoke") if args.smoke else DEFAULT_OUTPUT
    )
    out_dir = output if os.path.isabs(output) else os.path.join(ROOT, output)
    os.makedirs(out_dir, exist_ok=True)
    readme = args.readme or (None if args.smoke else os.path.join(ROOT, "README.md"))
    results_path = os.path.join(out_dir, "results.json")
    bench_json = os.path.join(out_dir, "benchmarks.json")
    code = 0

    if args.reuse:
        with open(results_path) as fh:
            saved = json.load(fh)
        info, mode = saved["machine"], saved["mode"]
        target_rows, compile_results, memory_results = (
            saved["targets"],
            saved["compile"],
            saved["memory"],
        )
        suite_rows = saved.get("suites") or load_benchmarks(bench_json)
    else:
        settings = targets.SETTINGS[mode]
        settings = targets.Settings(
            args.window or settings.window,
            args.windows or settings.windows,
            args.wait_idle,
            settings.fault_steps,
        )
        info = machine_info()
        info["others_cpu"] = {}
        info["target_windows"] = {"window_s": settings.window, "windows": settings.windows}
        if args.wait_idle > 0:
            os.environ["FASTLAYERS_BENCH_WAIT_IDLE"] = str(args.wait_idle)
            os.environ["FASTLAYERS_BENCH_WAIT_TOTAL"] = str(args.wait_total)
        if not args.skip_suites:
            with CpuMonitor() as monitor:
                bench_json, code = run_suites(mode, out_dir)
            info["others_cpu"]["suites"] = monitor.share
        target_rows = []
        if not args.skip_targets:
            with CpuMonitor() as monitor:
                target_rows = measure_targets(settings)
            info["others_cpu"]["targets"] = monitor.share
        compile_results = []
        if not args.skip_compile:
            wait_idle(args.wait_idle)
            with CpuMonitor() as monitor:
                compile_results = measure_compile(mode)
            info["others_cpu"]["compile time"] = monitor.share
        memory_results = [] if args.skip_memory else measure_memory(mode)
        if hasattr(os, "getloadavg"):
            info["load_average_end"] = list(os.getloadavg())
        target_rows = (
            target_rows
            + targets.compile_rows(compile_results)
            + targets.memory_rows(memory_results)
        )
        suite_rows = [] if args.skip_suites else load_benchmarks(bench_json)
        if mode == "full":
            archive_other_machine(results_path, info)
        with open(results_path, "w") as fh:
            json.dump(
                dict(
                    machine=info,
                    mode=mode,
                    targets=target_rows,
                    compile=compile_results,
                    memory=memory_results,
                    suites=suite_rows,
                ),
                fh,
                indent=1,
                default=str,
            )

    res = Results(suite_rows)
    plots = {}
    lenet_png = os.path.join(out_dir, "lenet_speedup.png")
    kernel_png = os.path.join(out_dir, "kernel_speedup.png")
    if plot_lenet(res, lenet_png):
        plots["lenet"] = lenet_png
    if plot_kernels(res, kernel_png):
        plots["kernels"] = kernel_png
    report = build_report(info, mode, res, target_rows, compile_results, memory_results, plots)
    report_path = os.path.join(out_dir, "report.md")
    with open(report_path, "w", encoding="utf-8") as fh:
        fh.write(report)
    if readme and not args.no_readme:
        section = readme_section(
            info,
            mode,
            res,
            target_rows,
            compile_results,
            out_dir,
            plots,
            readme,
            others=load_other_machines(out_dir, info),
        )
        update_readme(readme, section)
    files = [report_path, results_path, *plots.values()]
    if os.path.exists(bench_json):
        files.append(bench_json)
    print_summary(target_rows, files)
    log(f"done in {time.perf_counter() - start:.0f} s")
    if code != 0:
        log(
            f"the pytest-benchmark suites failed (exit code {code}); see {os.path.join(out_dir, 'pytest.log')}"
        )
    return 1 if code != 0 else 0
