"""Input checks shared by the layers.

The kernels run without bounds checks, so everything they index is checked
here first, and every failure names the layer, what it expected and what it
was given.
"""

import math
import numbers

import numpy as np

_FLOAT32 = np.dtype(np.float32)
_FLOAT64 = np.dtype(np.float64)

INDEX_LIMIT = 2**31 - 1
"""Largest size, stride, padding or count the argument checks accept.

The kernels index with 64-bit integers: a size or stride of ``2**63`` or
more overflows numba's conversion of Python ints (a bare ``OverflowError``
inside a kernel call), and sizes whose products exceed the address space
could never be allocated anyway.  ``2**31 - 1`` is far above any real image,
kernel or layer size, and the product of two such values still fits in
int64.
"""


def describe(value, limit=80):
    """Short description of ``value`` for an error message.

    Arrays are described by shape and dtype (their repr can be huge),
    everything else by its repr, cut at ``limit`` characters.
    """
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, type):
        return f"the class {value.__name__}"
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def integer(value, owner, name, minimum=None, maximum=INDEX_LIMIT):
    """Return ``value`` as a Python int in ``[minimum, maximum]``.

    Parameters
    ----------
    value : object
        The argument to check.  Python and NumPy integers pass; bools,
        floats (even integral ones such as ``2.0``), strings, None and
        sequences are rejected.
    owner : str
        The class or function named in the error message.
    name : str
        The argument named in the error message.
    minimum : int, optional
        Smallest accepted value; no lower bound when None.
    maximum : int or None, default :data:`INDEX_LIMIT`
        Largest accepted value; None for no upper bound.

    Raises
    ------
    TypeError
        If ``value`` is not an integer.
    ValueError
        If ``value`` is outside ``[minimum, maximum]``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner}: expected {name} as an int, got {describe(value)}")
    result = int(value)
    if minimum is not None and result < minimum:
        raise ValueError(f"{owner}: expected {name} of at least {minimum}, got {value!r}")
    if maximum is not None and result > maximum:
        raise ValueError(f"{owner}: expected {name} of at most {maximum}, got {value!r}")
    return result


def items_of(value, length, message):
    """Return ``tuple(value)`` if it holds ``length`` items; else raise ``TypeError(message)``."""
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(message) from None
    if len(items) != length:
        raise TypeError(message)
    return items


def integers_of(items, value, owner, name, what, minimum):
    """Check each of ``items`` (taken from the argument ``name``, ``value``) with :func:`integer`.

    ``what`` is what the message calls one item; the message of a wrong
    item also shows the whole ``value``.
    """
    try:
        return tuple(integer(v, owner, what, minimum=minimum) for v in items)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{exc} (of {name} {value!r})") from None


def _interval(low, high, low_open, high_open):
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low}"
    return f"{'<' if high_open else '<='} {high}"


def real(value, owner, name, low=None, high=None, low_open=False, high_open=False, finite=True):
    """Return ``value`` as a Python float inside the given range.

    Parameters
    ----------
    value : object
        The argument to check.  Python and NumPy integers and floats and
        0-d real arrays pass; bools, complex numbers, strings, None and
        sequences are rejected.
    owner : str
        The class or function named in the error message.
    name : str
        The argument named in the error message.
    low, high : float, optional
        Bounds of the accepted range; None for no bound on that side.
    low_open, high_open : bool, default False
        Exclude the bound itself (``low < value`` instead of ``low <= value``).
    finite : bool, default True
        Reject infinities even where the range would admit them.  NaN is
        always rejected.

    Raises
    ------
    TypeError
        If ``value`` is not a real number.
    ValueError
        If ``value`` is NaN, infinite (with ``finite``) or out of range.
    """
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: expected {name} as a real number, got {describe(value)}")
    result = float(value)
    if math.isnan(result) or (finite and math.isinf(result)):
        raise ValueError(f"{owner}: expected a finite {name}, got {value!r}")
    too_low = low is not None and (result <= low if low_open else result < low)
    too_high = high is not None and (result >= high if high_open else result > high)
    if too_low or too_high:
        raise ValueError(
            f"{owner}: expected {name} {_interval(low, high, low_open, high_open)}, got {value!r}"
        )
    return result


def fraction(value, layer, name="probability"):
    """Return ``value``, a Python or NumPy int or float in [0, 1], as a float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{layer}: expected {name} as a float, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{layer}: expected {name} in [0, 1], got {value!r}")
    return float(value)


def as_array(x, message):
    """Return ``np.asarray(x)``; a ragged nested sequence raises ``ValueError(message)``.

    NumPy's own message ("inhomogeneous shape ...") names neither the
    caller nor the argument: ``message`` does, and NumPy's text follows it
    in parentheses.
    """
    try:
        return np.asarray(x)
    except ValueError as exc:
        raise ValueError(f"{message} ({exc})") from None


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
    if type(x) is np.ndarray and (x.dtype is _FLOAT64 or x.dtype is _FLOAT32):
        return x  # the common case, checked first: layers call this on every pass
    if isinstance(x, np.ndarray):
        arr = x
    else:
        arr = as_array(
            x,
            f"{layer}: expected a real numeric {what} array, got a ragged nested sequence "
            "that does not form an array of one shape",
        )
        if arr.dtype.kind not in "biuf":
            # Say what the object was: "got dtype object" alone hides a None.
            raise TypeError(
                f"{layer}: expected a real numeric {what} (float32 or float64), "
                f"got {describe(x)} of type {type(x).__name__} (dtype {arr.dtype})"
            )
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
            f"{layer}: expected {what} with {ndim} dimensions {layout}, got shape {arr.shape}"
        )


def feature_rows(x, size, layer):
    """Return ``x`` as a float array of shape (batch, ``size``), a dense layer's input."""
    x = as_float_array(x, layer)
    check_ndim(x, 2, layer, "input", "(batch, input_size)")
    if x.shape[1] != size:
        raise ValueError(f"{layer}: expected input of shape (batch, {size}), got shape {x.shape}")
    return x


def check_shape(arr, shape, layer, what):
    """Raise ``ValueError`` unless ``arr.shape == shape``."""
    if arr.shape != tuple(shape):
        raise ValueError(f"{layer}: expected {what} of shape {tuple(shape)}, got shape {arr.shape}")


def pair(value, layer, name, minimum=1, maximum=INDEX_LIMIT):
    """Return ``value`` as a pair of ints in ``[minimum, maximum]``.

    Accepts an int (used for both axes) or a sequence of two ints; each
    is checked as :func:`integer` checks it, so bools, floats and values
    above :data:`INDEX_LIMIT` are rejected.

    Raises
    ------
    TypeError
        If ``value`` is neither an int nor a sequence of two ints.
    ValueError
        If an entry is out of range.
    """
    if type(value) is tuple and len(value) == 2:
        # Fast path for what the layers pass on every call: two plain ints.
        a, b = value
        if (
            type(a) is int
            and type(b) is int
            and (minimum is None or (a >= minimum and b >= minimum))
            and (maximum is None or (a <= maximum and b <= maximum))
        ):
            return value
    expected = f"{layer}: expected {name} as an int or a pair of ints, got {describe(value)}"
    if isinstance(value, (str, bytes)):
        raise TypeError(expected)
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        items = (value, value)
    else:
        items = items_of(value, 2, expected)
    for item in items:
        try:
            integer(item, layer, name, minimum, maximum)
        except TypeError:
            raise TypeError(expected) from None
        except ValueError:
            too_small = minimum is not None and item < minimum
            bound = f"at least {minimum}" if too_small else f"at most {maximum}"
            raise ValueError(f"{layer}: expected {name} of {bound}, got {value!r}") from None
    return int(items[0]), int(items[1])


TIES = ("first", "all", "split")
"""The tie policies of max pooling's backward."""


def ties(value, owner):
    """Return ``value`` if it names a tie policy of :data:`TIES`."""
    if not isinstance(value, str):
        raise TypeError(f"{owner}: expected ties 'first', 'all' or 'split', got {value!r}")
    if value not in TIES:
        raise ValueError(f"{owner}: expected ties 'first', 'all' or 'split', got {value!r}")
    return value


def neighborhood_and_stride(neighborhood, stride, layer):
    """Return a pooling layer's ``neighborhood`` and ``stride``, each checked as a pair."""
    return pair(neighborhood, layer, "neighborhood"), pair(stride, layer, "stride")


def check_empty_axes(arr, layer, what="input", batch_axis=0):
    """Raise ``ValueError`` for a zero-length axis other than the batch axis.

    The rule of every layer: an empty batch is legitimate (as in NumPy and
    PyTorch) and gives correctly shaped empty results; an input with no
    features, channels, rows or columns is a mistake.
    """
    if arr.size:
        return  # no axis is empty: the common case, checked on every pass
    others = [n for axis, n in enumerate(arr.shape) if axis != batch_axis]
    if others and min(others) == 0:
        raise ValueError(
            f"{layer}: expected a {what} whose axes other than the batch axis are non-empty "
            f"(an empty batch is fine), got shape {arr.shape}"
        )


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


def checked_property(name, check, doc):
    """A property over ``self._<name>`` that stores ``check(self, value)`` when assigned.

    For attributes that are checked on every assignment, not only in the
    constructor: ``check`` returns the value to store (converted as it
    sees fit) or raises for a wrong one.
    """
    private = "_" + name

    def get(self):
        return getattr(self, private)

    def set(self, value):
        setattr(self, private, check(self, value))

    return property(get, set, doc=doc)
