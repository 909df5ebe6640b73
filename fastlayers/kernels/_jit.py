"""The one place where the numba compilation options of every kernel are set."""

import types

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
        A parallel kernel gets a one-thread twin as its attribute
        ``serial``: the same body compiled without the thread pool, whose
        ``prange`` loops are plain loops.  Entering a parallel region costs
        a few microseconds even on one thread, more than small work takes.
    """

    def wrap(fn):
        dispatcher = numba.njit(fn, parallel=parallel, **_OPTIONS)
        if parallel:
            dispatcher.serial = numba.njit(_renamed(fn, "_serial"), **_OPTIONS)
            # Where another process finds the twin (see fastlayers._precompile).
            dispatcher.serial.attribute_path = fn.__qualname__ + ".serial"
        return dispatcher

    return wrap if function is None else wrap(function)


def _renamed(fn, suffix):
    """A copy of the function ``fn`` whose name ends in ``suffix``.

    numba's on-disk cache files compiled code under the function's
    qualified name and line, so a second compilation of the same function
    needs a name of its own.
    """
    twin = types.FunctionType(
        fn.__code__, fn.__globals__, fn.__name__ + suffix, fn.__defaults__, fn.__closure__
    )
    twin.__qualname__ = fn.__qualname__ + suffix
    twin.__module__ = fn.__module__
    twin.__doc__ = fn.__doc__
    return twin
