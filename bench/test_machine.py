"""CpuMonitor counts the benchmark's own worker processes as its own."""

import os
import subprocess
import sys
import time

import pytest

from bench.machine import CpuMonitor

SPIN = "import time\nt = time.time()\nwhile time.time() - t < {}: pass"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_own_children_are_not_others_but_another_program_is():
    # A live worker, as the benchmark's are while they are measured.
    monitor = CpuMonitor().start()
    child = subprocess.Popen([sys.executable, "-c", SPIN.format(1.5)])
    time.sleep(1.0)
    mine = monitor.stop()
    child.wait()
    # A process of its own (reparented away from us) is another program.
    monitor = CpuMonitor().start()
    subprocess.run(["sh", "-c", f"{sys.executable} -c '{SPIN.format(1.0)}' &"], check=True)
    time.sleep(1.2)
    theirs = monitor.stop()
    # One spinning process holds one core: half of a 2-core machine, a
    # quarter of 4 cores; a worker of our own counts for nothing.
    assert mine < 0.1
    assert theirs > 0.4 / os.cpu_count()
