"""The machine a benchmark runs on: how busy it is, and what it is.

On a shared machine another process's threads take cores away from the
benchmark, and multi-threaded code suffers most: every parallel region
waits for its slowest thread, so a 2-thread kernel can become many times
slower than on one thread.  :class:`CpuMonitor` measures the share of the
machine's CPU time that went to anything but this process (and its
descendants, live or finished) over an interval, from ``/proc/stat`` and
``/proc/self/stat``; hypervisor steal time counts as taken.  Elsewhere than
on Linux it reports None.

:func:`wait_idle` sleeps until that share drops below a threshold, so that
a measurement can start in a quiet moment.
"""

import os
import time

BUSY_THRESHOLD = 0.2  # others' share above which a measurement is flagged as disturbed


def _machine_jiffies():
    """(busy, total) jiffies of all CPUs since boot, or None."""
    try:
        with open("/proc/stat") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [int(v) for v in fields[1:]]
    user, nice, system, idle, iowait, irq, softirq = values[:7]
    steal = values[7] if len(values) > 7 else 0
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


def _stat_fields(pid):
    """(parent pid, utime + stime + cutime + cstime) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            text = fh.read()
    except OSError:
        return None
    # Fields after the parenthesised command name: ppid is field 4, utime 14.
    rest = text[text.rindex(")") + 2 :].split()
    return int(rest[1]), sum(int(v) for v in rest[11:15])


def _own_jiffies():
    """CPU jiffies of this process and all its descendants, or None.

    Live descendants count too: the benchmark's worker processes run while
    they are measured, and their time is not another program's.  (A child
    reaped in between moves its time into this process's cutime, so the
    difference of two readings stays right.)
    """
    own = _stat_fields("self")
    if own is None:
        return None
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(entry)
            if fields is not None:
                children.setdefault(fields[0], []).append((int(entry), fields[1]))
    total, todo = own[1], [os.getpid()]
    while todo:
        for pid, jiffies in children.get(todo.pop(), ()):
            total += jiffies
            todo.append(pid)
    return total


class CpuMonitor:
    """Share of all CPUs' time used by other processes between ``start`` and ``stop``.

    Usable as a context manager; ``share`` is then a float in [0, 1] or None.
    """

    def __init__(self):
        self.share = None
        self._start = None

    def start(self):
        self._start = (_machine_jiffies(), _own_jiffies())
        return self

    def stop(self):
        machine0, own0 = self._start
        machine1, own1 = _machine_jiffies(), _own_jiffies()
        if None in (machine0, own0, machine1, own1):
            self.share = None
            return None
        total = machine1[1] - machine0[1]
        if total <= 0:
            self.share = None
            return None
        others = (machine1[0] - machine0[0]) - (own1 - own0)
        self.share = min(1.0, max(0.0, others / total))
        return self.share

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def others_share(seconds=1.0):
    """Others' share of the CPUs over ``seconds`` of sleeping."""
    monitor = CpuMonitor().start()
    time.sleep(seconds)
    return monitor.stop()


DEFAULT_WAIT_TOTAL = 1800.0
_waited_total = 0.0  # seconds this process has spent in wait_idle


def wait_idle(max_wait, threshold=BUSY_THRESHOLD, sample=1.0, total=None):
    """Sleep until other processes use less than ``threshold`` of the CPUs.

    Waits at most ``max_wait`` seconds, and gives up for good once this
    process has waited ``total`` seconds in all (default
    ``FASTLAYERS_BENCH_WAIT_TOTAL`` or 1800), so that a machine that stays
    busy delays a long run by a bounded amount.

    Returns
    -------
    (waited, share) : (float, float or None)
        Seconds spent waiting and the last measured share.
    """
    global _waited_total
    if total is None:
        total = float(os.environ.get("FASTLAYERS_BENCH_WAIT_TOTAL", "") or DEFAULT_WAIT_TOTAL)
    max_wait = min(max_wait, total - _waited_total)
    if max_wait <= 0:
        return 0.0, None
    start = time.perf_counter()
    while True:
        share = others_share(sample)
        waited = time.perf_counter() - start
        if share is None or share < threshold or waited >= max_wait:
            _waited_total += waited
            return waited, share


def wait_idle_from_env():
    """:func:`wait_idle` for ``FASTLAYERS_BENCH_WAIT_IDLE`` seconds (0 or unset: do not wait)."""
    value = os.environ.get("FASTLAYERS_BENCH_WAIT_IDLE", "").strip()
    return wait_idle(float(value)) if value else (0.0, None)


# ---------------------------------------------------------------------------
# What machine and software a run was made on
# ---------------------------------------------------------------------------

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cpuinfo():
    """The first processor's fields of ``/proc/cpuinfo`` (Linux), or {}."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if not line.strip():
                    if fields:
                        break
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
    except OSError:
        pass
    return fields


def simd_width(flags):
    """Widest vector instruction set among the CPU ``flags``: "avx512", "avx2", "avx", "sse2" or None."""
    flags = set(flags)
    if "avx512f" in flags:
        return "avx512"
    if "avx2" in flags and "fma" in flags:
        return "avx2"
    if "avx" in flags:
        return "avx"
    if "sse2" in flags:
        return "sse2"
    return None


def cpu_info():
    """CPU model, vendor, SIMD width and core counts.

    From ``/proc/cpuinfo`` on Linux (``simd`` from its flags: AVX-512 when
    ``avx512f`` is present, AVX2 with FMA, ...); elsewhere from
    :mod:`platform`, with ``simd`` None.
    """
    import platform

    fields = _cpuinfo()
    flags = fields.get("flags", "").split()
    physical = None
    if fields.get("cpu cores") and fields.get("siblings"):
        try:
            # cores per socket times sockets (siblings: logical CPUs per socket)
            physical = int(fields["cpu cores"]) * max(
                1, (os.cpu_count() or 1) // int(fields["siblings"])
            )
        except ValueError:
            physical = None
    return {
        "cpu": fields.get("model name") or platform.processor() or platform.machine(),
        "vendor": fields.get("vendor_id"),
        "simd": simd_width(flags),
        "avx512_flags": sorted(f for f in flags if f.startswith("avx512")),
        "physical_cores": physical,
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
    }


def _version(module_name):
    """Version of an installed package, without importing it (None when absent)."""
    from importlib import metadata

    names = {"pytest_benchmark": "pytest-benchmark"}
    try:
        return metadata.version(names.get(module_name, module_name))
    except metadata.PackageNotFoundError:
        return None


def git_commit():
    """Short commit id, with a note when fastlayers/ differs from it; None outside git."""
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
        commit = out.stdout.strip()
        if not commit:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", "fastlayers"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return commit + (" + uncommitted changes in fastlayers/" if status.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info():
    """Everything a report needs to say what it was measured on (JSON-serialisable)."""
    import datetime
    import platform

    import numba

    import fastlayers

    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        **cpu_info(),
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "fastlayers": fastlayers.__version__,
        "numpy": _version("numpy"),
        "numba": numba.__version__,
        "scipy": _version("scipy"),
        "torch": _version("torch"),
        "jax": _version("jax"),
        "pytest_benchmark": _version("pytest_benchmark"),
        "numba_threading_layer": fastlayers.threading_layer(),
        "numba_num_threads": numba.config.NUMBA_NUM_THREADS,
        "git_commit": git_commit(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    try:
        import threadpoolctl

        blas = [p for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
        info["numpy_blas"] = ", ".join(
            f"{p['internal_api']} {p.get('version')} ({p['num_threads']} threads)" for p in blas
        )
    except ImportError:
        info["numpy_blas"] = None
    return info


def describe_cpu(info):
    """One line: model, vendor, SIMD width and cores of ``info``."""
    parts = [info.get("cpu") or "unknown CPU"]
    if info.get("vendor"):
        parts.append(info["vendor"])
    if info.get("simd"):
        parts.append(info["simd"].upper().replace("AVX512", "AVX-512"))
    parts.append(f"{info.get('usable_cores')} cores")
    return ", ".join(parts)
