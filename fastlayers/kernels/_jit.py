"""The one place where the numba compilation options of every kernel are set."""

import numba

# Reassociation and contraction let LLVM vectorise reductions and fuse
# multiply-adds.  "nnan"/"ninf" are deliberately left out so that NaN and
# infinity still propagate the way NumPy users expect.
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}

_OPTIONS = dict(
    cache=True,  # compiled machine code is kept on disk between processes
    nogil=True,  # kernels may run in several Python threads at once
    fastmath=FASTMATH,
    error_model="numpy",  # no Python exception checks in divisions
    boundscheck=False,  # the layers validate every shape before calling
)


def kernel(function=None, *, parallel=False):
    """Compile ``function`` with the library's numba options.

    Compilation is lazy: a kernel is compiled for a dtype the first time it
    is called with arrays of that dtype, so only what is used is compiled.

    Parameters
    ----------
    function : callable, optional
        The Python function to compile.
    parallel : bool
        Whether ``numba.prange`` loops in the body run on several threads.
    """

    def wrap(fn):
        return numba.njit(fn, parallel=parallel, **_OPTIONS)

    return wrap if function is None else wrap(function)
