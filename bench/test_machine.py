"""CpuMonitor counts the benchmark's own worker processes as its own."""

import os
import subprocess
import sys
import time

import pytest

from bench.machine import CpuMonitor, _own_jiffies

SPIN = "import time\nt = time.time()\nwhile time.time() - t < {}: pass"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_own_children_are_not_others_but_another_program_is():
    # Measured on what this process counts as its own, so that other
    # programs running meanwhile (a shared machine) cannot decide it.
    ticks = os.sysconf("SC_CLK_TCK")
    # A live worker, as the benchmark's are while they are measured: its
    # CPU time is this process's own.
    own0 = _own_jiffies()
    child = subprocess.Popen([sys.executable, "-c", SPIN.format(1.5)])
    time.sleep(1.0)
    mine = (_own_jiffies() - own0) / ticks
    child.wait()
    # A process of its own (reparented away from us) is another program:
    # while it spins, this sleeping process counts next to nothing.
    own0 = _own_jiffies()
    subprocess.run(["sh", "-c", f"{sys.executable} -c '{SPIN.format(1.0)}' &"], check=True)
    time.sleep(1.0)
    theirs = (_own_jiffies() - own0) / ticks
    # The worker spun for most of the second unless the machine was
    # saturated; the reparented spinner is not counted at all.
    assert mine > 0.25
    assert theirs < 0.15
    # And the monitor turns a spinning program of another into a share.
    monitor = CpuMonitor().start()
    subprocess.run(["sh", "-c", f"{sys.executable} -c '{SPIN.format(1.0)}' &"], check=True)
    time.sleep(1.2)
    assert monitor.stop() > 0.4 / os.cpu_count()
