"""How busy the rest of the machine is while a benchmark runs.

On a shared machine another process's threads take cores away from the
benchmark, and multi-threaded code suffers most: every parallel region
waits for its slowest thread, so a 2-thread kernel can become many times
slower than on one thread.  :class:`CpuMonitor` measures the share of the
machine's CPU time that went to anything but this process (and its
finished children) over an interval, from ``/proc/stat`` and
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


def _own_jiffies():
    """CPU jiffies of this process and its waited-for children, or None."""
    try:
        with open("/proc/self/stat") as fh:
            text = fh.read()
    except OSError:
        return None
    # Fields after the parenthesised command name; utime is field 14.
    rest = text[text.rindex(")") + 2:].split()
    utime, stime, cutime, cstime = (int(v) for v in rest[11:15])
    return utime + stime + cutime + cstime


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
