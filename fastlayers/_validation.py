"""Input checks shared by the layers.

The kernels run without bounds checks, so everything they index is checked
here first, and every failure names the layer, what it expected and what it
was given.
"""

import numpy as np


def as_float_array(x, layer, what="input"):
    """Return ``x`` as a float32 or float64 array.

    Float32 and float64 arrays pass unchanged, float16 becomes float32,
    integers and booleans become float64 (as NumPy promotes them), and
    non-native byte order becomes native.

    Raises
    ------
    TypeError
        For complex, object, string and other non-numeric data.
    """
    arr = np.asarray(x) if not isinstance(x, np.ndarray) else x
    if not arr.dtype.isnative:
        # The kernels are compiled for native byte order only.
        arr = arr.astype(arr.dtype.newbyteorder("="))
    kind = arr.dtype.kind
    if kind == "f":
        if arr.dtype.itemsize < 4:
            return arr.astype(np.float32)
        if arr.dtype.itemsize > 8:
            raise TypeError(f"{layer}: expected a float32 or float64 {what}, got dtype {arr.dtype}")
        return arr
    if kind in "biu":
        return arr.astype(np.float64)
    raise TypeError(
        f"{layer}: expected a real numeric {what} (float32 or float64), got dtype {arr.dtype}"
    )


def check_ndim(arr, ndim, layer, what, layout):
    """Raise ``ValueError`` unless ``arr`` has ``ndim`` dimensions."""
    if arr.ndim != ndim:
        raise ValueError(
            f"{layer}: expected {what} with {ndim} dimensions {layout}, "
            f"got shape {arr.shape}"
        )


def check_shape(arr, shape, layer, what):
    """Raise ``ValueError`` unless ``arr.shape == shape``."""
    if arr.shape != tuple(shape):
        raise ValueError(f"{layer}: expected {what} of shape {tuple(shape)}, got shape {arr.shape}")


def check_finite_size(arr, layer, what):
    """Raise ``ValueError`` for arrays with a zero-length axis."""
    if arr.size == 0:
        raise ValueError(f"{layer}: expected a non-empty {what}, got shape {arr.shape}")


def pair(value, layer, name, minimum=1):
    """Return ``value`` as a pair of ints >= ``minimum``.

    Accepts an int (used for both axes) or a sequence of two ints.
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{layer}: expected {name} as an int or a pair of ints, got {value!r}")
    if isinstance(value, (int, np.integer)):
        items = (int(value), int(value))
    else:
        try:
            items = tuple(value)
        except TypeError:
            raise TypeError(
                f"{layer}: expected {name} as an int or a pair of ints, got {value!r}"
            ) from None
        if len(items) != 2 or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in items
        ):
            raise TypeError(f"{layer}: expected {name} as an int or a pair of ints, got {value!r}")
        items = (int(items[0]), int(items[1]))
    if min(items) < minimum:
        raise ValueError(f"{layer}: expected {name} of at least {minimum}, got {value!r}")
    return items


def called_before(state, layer, method="forward"):
    """Raise ``RuntimeError`` when backward runs without a forward before it."""
    if state is None:
        raise RuntimeError(f"{layer}: backward() called before {method}()")


def kernel_ready(arr, dtype):
    """Return ``arr`` as a C-contiguous, writeable array of ``dtype``.

    The kernels are compiled for exactly this kind of array; anything else
    (a strided view, a read-only buffer) is copied once here instead of
    compiling another specialisation of every kernel.
    """
    if arr.dtype == dtype and arr.flags.c_contiguous and arr.flags.writeable:
        return arr
    return np.array(arr, dtype=dtype, order="C", copy=True)
