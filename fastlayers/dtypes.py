"""Which floating-point type the layers compute in.

A layer computes in float32 when its input and its parameters are float32
and in float64 otherwise, following NumPy's promotion.  Parameters are
created in the layer's ``dtype``; the default for new layers is float64 and
can be changed for a whole script or a block of code::

    fastlayers.set_default_dtype(np.float32)
    with fastlayers.default_dtype(np.float32):
        net = build()
"""

import contextlib

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_default = np.dtype(np.float64)


def float_dtype(dtype, owner="fastlayers"):
    """Return ``dtype`` as a NumPy float32 or float64 dtype.

    Accepts anything :class:`numpy.dtype` understands as float32 or float64
    (``np.float32``, ``"float64"``, ``float``, ``np.dtype("f4")``).  None is
    rejected although NumPy reads it as float64: where None means "the
    default", the caller resolves it before calling this.

    Raises
    ------
    TypeError
        If ``dtype`` is not float32 or float64.
    """
    expected = f"{owner}: expected dtype float32 or float64, got {dtype!r}"
    if dtype is None or isinstance(dtype, (bool, np.bool_)):
        raise TypeError(expected)
    try:
        resolved = np.dtype(dtype)
    except (TypeError, ValueError) as exc:
        # np.dtype raises either, depending on what it was given.
        raise TypeError(expected) from exc
    if resolved not in FLOAT_DTYPES:
        if str(resolved) != repr(dtype):
            expected += f" ({resolved})"
        raise TypeError(expected)
    return resolved


def get_default_dtype():
    """Return the dtype that new layers create their parameters in."""
    return _default


def set_default_dtype(dtype):
    """Make ``dtype`` (float32 or float64) the dtype of layers created from now on."""
    global _default
    _default = float_dtype(dtype, "set_default_dtype")


@contextlib.contextmanager
def default_dtype(dtype):
    """Context manager: layers created inside the block use ``dtype``."""
    previous = get_default_dtype()
    set_default_dtype(dtype)
    try:
        yield
    finally:
        set_default_dtype(previous)
