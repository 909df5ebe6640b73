"""Keep freed memory in the process instead of returning it at every step.

A training step allocates and frees the same few megabytes of arrays each
time.  glibc's malloc hands large freed blocks back to the operating
system (it trims the heap once more than a few megabytes at its top are
free, and serves big requests with their own ``mmap``), so the next step
touches fresh pages again: over a thousand page faults per LeNet step, a
quarter to a half of its time.  :func:`retain_freed_memory` raises both
thresholds, so freed blocks are reused; the process then keeps up to
``trim_threshold`` bytes of free heap, as the caching allocators of deep
learning frameworks do.  fastlayers calls it once on import on glibc
systems; set the environment variable ``FASTLAYERS_RETAIN_MEMORY=0`` to
leave malloc as it is.
"""

import ctypes
import ctypes.util
import os
import sys

# mallopt parameters of glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 << 20  # glibc's own upper limit of its dynamic threshold
TRIM_THRESHOLD = 256 << 20


def retain_freed_memory(mmap_threshold=MMAP_THRESHOLD, trim_threshold=TRIM_THRESHOLD):
    """Make glibc's malloc keep freed blocks for reuse.

    Parameters
    ----------
    mmap_threshold : int
        Requests of at least this many bytes get their own ``mmap`` (and
        return to the system when freed); smaller ones come from the heap.
    trim_threshold : int
        Free memory at the top of the heap beyond this many bytes is
        returned to the system.

    Returns
    -------
    bool
        Whether the thresholds were set (False where the C library is not
        glibc, e.g. on macOS, Windows or musl).
    """
    for value, name in ((mmap_threshold, "mmap_threshold"), (trim_threshold, "trim_threshold")):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
            raise ValueError(
                f"retain_freed_memory: expected {name} as an int from 1 to {2**31 - 1}, "
                f"got {value!r}"
            )
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 (present in glibc only)
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    done = mallopt(_M_MMAP_THRESHOLD, mmap_threshold) == 1
    return mallopt(_M_TRIM_THRESHOLD, trim_threshold) == 1 and done


def _apply_default():
    if os.environ.get("FASTLAYERS_RETAIN_MEMORY", "1") != "0":
        retain_freed_memory()
