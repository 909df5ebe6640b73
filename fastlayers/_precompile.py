"""Compile the kernels a step needs before it runs, on every idle core.

numba compiles a kernel the first time it meets a new signature and keeps
the machine code in its on-disk cache, where any process finds it.  A
first step on a fresh install compiles its kernels one after the other on
one core, nearly all of its time.  :func:`precompile` first lists the
kernels and signatures a step needs by a dry run of the step on a copy of
its arguments, with every kernel call recorded instead of executed (every
kernel is called through :func:`fastlayers.parallel.launch`); then this
process compiles the list from the first entry on while helper processes,
one per idle core, compile it from the last entry back into the cache.
Each entry is claimed by whichever process reaches it first, with a file
created exclusively in a directory they share; when this process reaches
the helpers' entries it loads them from the cache as they are done.  The
processes meet in the middle.

Only numba's public interface is used: ``numba.typeof`` gives the
signature the dispatcher would derive for the call, ``Dispatcher.compile``
compiles it (or loads it from the cache) and the ``numba:compile`` event
says that a compilation, not a cache load, happened: a warm cache costs
the dry run and the loads, no process.  Helpers run at the lowest
priority and start only where a core was left idle, so on a busy machine
the first run takes what it would without them.  Results never change:
kernels run only in this process, and whatever the helpers fail to do
this process does.
"""

from __future__ import annotations

import copy
import hashlib
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

__all__ = ["precompile"]

# Helpers run at the lowest priority, so they only take cores that nothing
# else wants: on a machine whose other cores are busy they cannot slow this
# process, and while this process waits for an entry a helper compiles, the
# helper gets this process's core.  An entry a helper has not finished
# after this long (a helper stopped by the user?) is compiled here instead.
HELPER_NICENESS = 19
WAIT_LIMIT_S = 60.0
POLL_S = 0.002
# More helpers than this would mostly add start-up costs (each imports
# numba and compiles numba's own helpers once).
MAX_HELPERS = 3


def available_cpus():
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _idle_ticks():
    """(all, idle) CPU ticks since boot from /proc/stat, or None where there is none."""
    try:
        with open("/proc/stat") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return sum(values), values[3] + values[4]  # idle and iowait


def _idle_cores(before, after, cpus):
    """Cores left idle on average between two :func:`_idle_ticks` readings.

    None if fewer than five ticks per core passed (about 50 ms): too short
    a time to tell.
    """
    total, idle = after[0] - before[0], after[1] - before[1]
    if total < 5 * cpus:
        return None
    return cpus * idle / total


def _attribute_path(kernel):
    """The path of attributes by which another process finds ``kernel`` in its module.

    A kernel's one-thread twin is an attribute of the kernel (see
    ``fastlayers.kernels._jit``).
    """
    return getattr(kernel, "attribute_path", kernel.py_func.__qualname__)


def _is_dispatcher(obj):
    from numba.core.dispatcher import Dispatcher

    return isinstance(obj, Dispatcher)


def plan(step, *args, **kwargs):
    """The (kernel, argument types) pairs ``step(*args, **kwargs)`` calls, in order.

    The step runs on a deep copy of its arguments with every kernel call
    recorded and skipped; the array arguments of a skipped kernel are
    zeroed instead (its outputs among them), so that the NumPy code
    between kernels computes on defined values.  Whatever the step
    computes is thrown away, warnings and errors included: the kernels
    reached until then are still worth compiling.
    """
    import numba

    from . import parallel

    job_args, job_kwargs = copy.deepcopy((args, kwargs))
    needed = {}

    def record(kernel, call_args):
        # launch hands over the compiled kernel it would run (a Python
        # function that picks one is resolved there).
        if _is_dispatcher(kernel):
            types = tuple(numba.typeof(a) for a in call_args)
            needed.setdefault((id(kernel), types), (kernel, types))
        for a in call_args:
            if isinstance(a, np.ndarray) and a.flags.writeable:
                a.fill(0)

    previous = getattr(parallel._recording, "recorder", None)
    parallel._recording.recorder = record
    # Layers such as dropout draw from NumPy's global random state: the dry
    # run must leave it as it found it.
    random_state = np.random.get_state()
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                step(*job_args, **job_kwargs)
            except Exception:
                pass
    finally:
        parallel._recording.recorder = previous
        np.random.set_state(random_state)
    return list(needed.values())


def _entry_name(kernel, types):
    func = kernel.py_func
    text = f"{func.__module__}.{func.__qualname__}{types!r}"
    return hashlib.sha1(text.encode()).hexdigest()


class _Claims:
    """Exclusive claims on plan entries in a directory shared by two processes."""

    def __init__(self, directory):
        self.directory = directory

    def claim(self, name):
        """True if this process claimed ``name`` first."""
        try:
            fd = os.open(os.path.join(self.directory, name), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return False
        os.close(fd)
        return True

    def finish(self, name):
        """Mark ``name`` compiled (and in the on-disk cache)."""
        with open(os.path.join(self.directory, name + ".done"), "w"):
            pass

    def finished(self, name):
        return os.path.exists(os.path.join(self.directory, name + ".done"))


# The package directory of the process that starts the helpers.
_PACKAGE_VARIABLE = "FASTLAYERS_PRECOMPILE_PACKAGE"

# Not ``python -m fastlayers._precompile``: runpy would import this module a
# second time, after the package's own import of it.
_HELPER_COMMAND = (
    "import sys; from fastlayers._precompile import helper_main; sys.exit(helper_main(sys.argv[1]))"
)


class _Helpers:
    """The helper processes: started on the first compilation, stopped at the end."""

    def __init__(self, entries, directory, count):
        self.entries = entries
        self.directory = directory
        self.count = count
        self.processes = None

    def start(self):
        spec = [(k.py_func.__module__, _attribute_path(k), types) for k, types in self.entries]
        path = os.path.join(self.directory, "plan.pickle")
        with open(path, "wb") as fh:
            pickle.dump(spec, fh, protocol=pickle.HIGHEST_PROTOCOL)
        package = os.path.dirname(os.path.abspath(__file__))
        root = os.path.dirname(package)
        env = dict(os.environ)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        # numba files cached code under the source file's path: a helper
        # that imported another copy of fastlayers (the current directory
        # comes first on "python -c"'s path, and is often a clone of the
        # repository) would fill a cache this process never reads.  So the
        # helpers start in the shared directory, and check what they import.
        env[_PACKAGE_VARIABLE] = package
        self.processes = []
        for _ in range(self.count):
            try:
                self.processes.append(
                    subprocess.Popen(
                        [sys.executable, "-c", _HELPER_COMMAND, self.directory],
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        env=env,
                        cwd=self.directory,
                    )
                )
            except OSError:  # compile with fewer helpers, or alone
                break

    def alive(self):
        return any(p.poll() is None for p in self.processes or ())

    def stop(self):
        # What the helpers still compile is nothing this step needs.
        for p in self.processes or ():
            if p.poll() is None:
                p.terminate()
        for p in self.processes or ():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def compile_entries(entries, *, helpers=None):
    """Compile ``entries`` (from :func:`plan`), with helper processes when it pays.

    Helpers are started after the first entry that had to be compiled
    (not loaded from the cache): ``helpers`` of them if given, else one
    per core beyond the first (at most ``MAX_HELPERS``) and only if at
    least half a core per helper was left idle meanwhile (checked again
    after each entry until they start).
    Returns the list of the helpers' ``subprocess.Popen`` objects, or None
    if none was started.
    """
    from numba.core import event

    todo = [(k, t) for k, t in entries if t not in k.signatures]
    if not todo:
        return None
    automatic = helpers is None
    if automatic:
        helpers = min(available_cpus() - 1, MAX_HELPERS)
    count = min(helpers, len(todo) - 1)
    if count < 1:
        for kernel, types in todo:
            kernel.compile(types)
        return None
    directory = tempfile.mkdtemp(prefix="fastlayers-compile-")
    claims = _Claims(directory)
    names = [_entry_name(k, t) for k, t in todo]
    sharing = _Helpers(todo, directory, count)

    compiled = []

    class _SawCompile(event.Listener):
        # A compilation, not a cache load: from here on helpers pay.
        def on_start(self, ev):
            compiled.append(True)

        def on_end(self, ev):
            pass

    listener = _SawCompile()
    event.register("numba:compile", listener)
    cpus = os.cpu_count() or 1  # /proc/stat counts every core of the machine
    try:
        waiting = []
        for (kernel, types), name in zip(todo, names):
            if waiting or not claims.claim(name):
                # The helpers claim from the end: from here on every entry is theirs.
                waiting.append((kernel, types, name))
                continue
            before = _idle_ticks()
            kernel.compile(types)
            claims.finish(name)
            if sharing.processes is None and compiled:
                if not automatic or before is None:
                    sharing.start()
                    continue
                # Helpers only where cores were left idle while this process
                # compiled (checked again after each entry until they start).
                idle = _idle_cores(before, _idle_ticks(), cpus)
                if idle is not None and idle >= 0.5:
                    sharing.count = max(1, min(sharing.count, int(idle + 0.5)))
                    sharing.start()
        event.unregister("numba:compile", listener)
        listener = None
        for kernel, types, name in waiting:
            deadline = time.perf_counter() + WAIT_LIMIT_S
            while not claims.finished(name) and sharing.alive() and time.perf_counter() < deadline:
                time.sleep(POLL_S)
            # Loads what the helper finished from the cache, compiles the rest.
            kernel.compile(types)
    finally:
        if listener is not None:
            event.unregister("numba:compile", listener)
        sharing.stop()
        shutil.rmtree(directory, ignore_errors=True)
    return sharing.processes


def precompile(step, *args, helpers=None, **kwargs):
    """Compile every kernel that ``step(*args, **kwargs)`` would call, without running it.

    The kernels and their signatures are found by a dry run of the step
    on a deep copy of the arguments, with every kernel call recorded
    instead of executed: the arguments and NumPy's global random state
    are left unchanged.
    The kernels are then compiled, or loaded from numba's on-disk cache;
    when something must be compiled and the machine has two cores or
    more, helper processes compile part of them into the cache at the
    same time (about half of them on two free cores).

    Parameters
    ----------
    step : callable
        Typically one training step: ``step(*args, **kwargs)``.
    *args, **kwargs
        Its arguments (e.g. the network and a batch); deep-copied.
    helpers : int, optional
        How many helper processes share the compilation; 0 for none.  By
        default one per core that was left idle while this process
        compiled its first kernel (at most three, none on one core).  They
        run at the lowest priority.

    Returns
    -------
    float
        Seconds taken.

    Examples
    --------
    >>> import numpy as np
    >>> import fastlayers
    >>> from fastlayers.models import lenet
    >>> net = lenet(seed=0)
    >>> def step(net, x):
    ...     return net.layers[0].forward(x)
    >>> seconds = fastlayers.precompile(step, net, np.zeros((2, 1, 28, 28)), helpers=0)
    """
    start = time.perf_counter()
    compile_entries(plan(step, *args, **kwargs), helpers=helpers)
    return time.perf_counter() - start


def helper_main(directory):
    """Entry point of a helper process, given the directory it shares with this one.

    Compiles the plan's entries from the last one back, each one that no
    other process has claimed, into numba's on-disk cache.
    """
    import importlib

    try:
        os.nice(HELPER_NICENESS)
    except (AttributeError, OSError):  # no niceness on this platform
        pass

    expected = os.environ.get(_PACKAGE_VARIABLE)
    if expected and os.path.dirname(os.path.abspath(__file__)) != expected:
        return 3  # another copy of fastlayers: its cache entries would not be found
    with open(os.path.join(directory, "plan.pickle"), "rb") as fh:
        spec = pickle.load(fh)
    claims = _Claims(directory)
    for module, qualname, types in reversed(spec):
        kernel = importlib.import_module(module)
        for part in qualname.split("."):
            kernel = getattr(kernel, part)
        name = _entry_name(kernel, types)
        if not claims.claim(name):
            continue  # another process has it
        try:
            kernel.compile(types)
        finally:
            claims.finish(name)
    return 0
