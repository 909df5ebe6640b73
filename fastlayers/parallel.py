"""Thread count of the kernels, their threading layer, and their safety.

The kernels run on numba's thread pool.  fastlayers prefers numba's
``tbb`` threading layer: its work stealing lets the calling thread take
over the chunks of a worker that the operating system has descheduled, so
on a machine whose other cores are busy a parallel region costs what one
thread would, where OpenMP's barrier waits a time slice for the missing
thread (a LeNet step ran 10 to 30 times slower that way).  The pip wheel
of TBB puts ``libtbb`` where the loader does not look, so it is loaded
here before numba chooses a layer; a ``NUMBA_THREADING_LAYER`` set by the
user is respected, and without TBB numba falls back to OpenMP.

Of numba's threading layers,
``tbb`` and ``omp`` accept parallel kernels launched from several Python
threads at once, but ``workqueue`` (the fallback where neither TBB nor
OpenMP is available, e.g. on many macOS installs) aborts the process.
Every kernel call goes through :func:`launch`, which serialises them
when, and only when, the layer in use is ``workqueue``.
"""

import ctypes
import sys
import threading
from importlib import metadata

import numba
import numpy as np
from numba.np.ufunc import parallel as _numba_parallel


def _load_tbb():
    """Load the pip wheel's ``libtbb`` so that numba can select the tbb layer.

    Returns the path loaded, or None when nothing was (another layer was
    chosen, numba has started its threads already, or TBB is absent).
    """
    if str(numba.config.THREADING_LAYER).lower() not in (
        "default",
        "safe",
        "threadsafe",
        "forksafe",
        "tbb",  # asked for by name: it still has to be found
    ):
        return None
    if getattr(_numba_parallel, "_is_initialized", False) or not sys.platform.startswith("linux"):
        return None
    try:
        files = metadata.files("tbb") or ()
    except metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name.startswith("libtbb.so.12"):
            path = file.locate()
            try:
                ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
            except OSError:
                return None
            return str(path)
    return None


_tbb_library = _load_tbb()

_lock = threading.Lock()
_serialise = None  # decided on first use: True for the workqueue layer
# While fastlayers._precompile lists the kernels of a step: its recorder,
# called with (kernel, args) instead of the kernel.  Per Python thread, so
# that kernels another thread runs meanwhile still run.
_recording = threading.local()


def _needs_lock():
    global _serialise
    if _serialise is None:
        with _lock:
            if _serialise is None:
                # Launches the thread pool, so that numba settles on a
                # threading layer, without compiling a parallel kernel
                # (a few tenths of a second of a first run).
                numba.get_num_threads()
                _serialise = numba.threading_layer() == "workqueue"
    return _serialise


def threading_layer():
    """Name of the numba threading layer the kernels run on."""
    _needs_lock()
    return numba.threading_layer()


def get_num_threads():
    """Number of threads the kernels use (in the calling thread)."""
    return numba.get_num_threads()


def set_num_threads(n):
    """Use ``n`` threads in the kernels launched from the calling thread.

    ``n`` ranges from 1 to ``numba.config.NUMBA_NUM_THREADS`` (the number of
    cores unless the ``NUMBA_NUM_THREADS`` environment variable says
    otherwise).  Like numba's own setting, it applies per Python thread.
    """
    limit = numba.config.NUMBA_NUM_THREADS
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"set_num_threads: expected an int, got {n!r}")
    if not 1 <= n <= limit:
        raise ValueError(f"set_num_threads: expected 1 to {limit} threads, got {n}")
    numba.set_num_threads(int(n))


def _thread_count_functions():
    # numba's public set_num_threads validates its argument and launches the
    # pool on every call (about 1 us each way); the functions behind it, once
    # the pool runs, cost a tenth of that.  Fall back to the public ones if a
    # numba release renames them.
    numba.get_num_threads()  # launches the pool
    getter = getattr(_numba_parallel, "_get_num_threads", None)
    setter = getattr(_numba_parallel, "_set_num_threads", None)
    if getter is None or setter is None:
        return numba.get_num_threads, numba.set_num_threads
    return getter, setter


_get_threads = None
_set_threads = None


def launch(kernel, serial, *args):
    """Call ``kernel(*args)``, on one thread when ``serial`` is true.

    Small work finishes sooner on the calling thread than the thread pool
    takes to start, and on a machine whose other cores are busy a parallel
    region can wait milliseconds for a descheduled worker: a gradient
    check calling a tiny layer thousands of times would crawl.  The caller
    (:mod:`fastlayers.functional`) decides what is small.
    """
    global _get_threads, _set_threads
    calls = getattr(kernel, "compiled_call", None)
    if calls is not None:  # a Python function that picks a compiled kernel: that kernel
        kernel, args = calls(*args)
    if serial:
        twin = getattr(kernel, "serial", None)
        if twin is not None:
            # The kernel's one-thread twin: no parallel region to enter.
            kernel, serial = twin, False
    recorder = getattr(_recording, "recorder", None)
    if recorder is not None:
        return recorder(kernel, args)
    if _serialise is None:
        _needs_lock()
    if serial:
        if _get_threads is None:
            _get_threads, _set_threads = _thread_count_functions()
        previous = _get_threads()
        if previous != 1:
            _set_threads(1)
            try:
                return _call(kernel, args)
            finally:
                _set_threads(previous)
    return _call(kernel, args)


def _call(kernel, args):
    if _serialise:
        with _lock:
            return kernel(*args)
    return kernel(*args)
