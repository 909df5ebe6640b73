"""Weight initializers with the tutorial's ``initialize(weight_shape)`` API.

Random initializers draw from NumPy's global random state
(``np.random.seed`` makes them reproducible), as the tutorial's tests
expect.  They return float64 arrays; layers convert them to their dtype.
"""

import numpy as np

from ._validation import INDEX_LIMIT, describe, integer, real


class _InstanceMethod:
    """``initialize`` of an :class:`Initializer` subclass.

    Called on an instance it is the ordinary method.  Looked up on the
    class itself (``He.initialize(shape)``, what happens when a layer is
    given ``He`` instead of ``He()``) it returns a function that raises a
    ``TypeError`` naming the class, instead of Python's "missing 1 required
    positional argument" about a ``self`` the user never wrote.
    """

    def __init__(self, func):
        self.__func__ = func
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__
        self.__wrapped__ = func

    def __get__(self, obj, cls=None):
        if obj is not None:
            return self.__func__.__get__(obj, cls)
        name = cls.__name__

        def called_on_class(*args, **kwargs):
            raise TypeError(
                f"{name}: expected an initializer instance such as {name}(...), "
                f"got the class {name} itself"
            )

        called_on_class.__doc__ = self.__doc__
        called_on_class.__name__ = self.__name__
        # inspect.signature and the documentation show the real method.
        called_on_class.__wrapped__ = self.__func__
        return called_on_class


class Initializer:
    """Base class: ``initialize(weight_shape)`` returns a new array.

    Subclasses override :meth:`initialize`; like the built-in ones, their
    ``initialize`` then refuses to be called on the class itself with a
    clear ``TypeError`` (a class given where an instance was meant).
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        method = cls.__dict__.get("initialize")
        # Only plain functions: a subclass's staticmethod or classmethod
        # is meant to be called on the class and stays as it is.
        if callable(method) and not isinstance(method, (staticmethod, classmethod, type)):
            cls.initialize = _InstanceMethod(method)

    def initialize(self, weight_shape):
        """Return a new array of shape ``weight_shape``."""
        raise NotImplementedError("Method is not implemented")

    def __repr__(self):
        return f"{type(self).__name__}()"


def check_weight_shape(value, owner, min_ndim=0, minimum=0):
    """Return ``value`` as a tuple of ints, the shape an initializer fills.

    Accepts an int (a 1-D shape, as NumPy does) or a sequence of ints of
    at least ``min_ndim`` entries, each in ``[minimum, INDEX_LIMIT]``.

    Raises
    ------
    TypeError
        For None, strings, floats, bools and other non-shapes.
    ValueError
        For too few dimensions or dimensions out of range.
    """
    where = f"{owner}.initialize"
    expected = f"{where}: expected weight_shape as a tuple of ints, got {describe(value)}"
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        items = (value,)
    elif isinstance(value, (str, bytes)) or value is None:
        raise TypeError(expected)
    else:
        try:
            items = tuple(value)
        except TypeError:
            raise TypeError(expected) from None
    for item in items:
        try:
            integer(item, where, "weight_shape", minimum=minimum)
        except TypeError:
            raise TypeError(expected) from None
        except ValueError:
            raise ValueError(
                f"{where}: expected weight_shape entries from {minimum} to {INDEX_LIMIT}, "
                f"got {value!r}"
            ) from None
    if len(items) < min_ndim:
        raise ValueError(
            f"{where}: expected a weight_shape of at least {min_ndim} dimensions "
            f"(fan_out, fan_in, ...), got {value!r}"
        )
    return tuple(int(v) for v in items)


def _fans(shape, name):
    shape = check_weight_shape(shape, name, min_ndim=2, minimum=1)
    return shape, shape[0], shape[1]


class Const(Initializer):
    """Every weight set to ``value``.

    Parameters
    ----------
    value : float
        A finite real number.
    """

    def __init__(self, value):
        self.value = real(value, "Const", "value")

    def initialize(self, weight_shape):
        """Return an array of shape ``weight_shape`` filled with ``value``."""
        shape = check_weight_shape(weight_shape, "Const")
        return np.full(shape, self.value, dtype=np.float64)

    def __repr__(self):
        return f"Const({self.value!r})"


class UniformRandom(Initializer):
    """Weights drawn uniformly from [0, 1)."""

    def initialize(self, weight_shape):
        """Return an array of shape ``weight_shape`` drawn uniformly from [0, 1)."""
        return np.random.random_sample(check_weight_shape(weight_shape, "UniformRandom"))


class He(Initializer):
    """He et al. (2015): normal with standard deviation ``sqrt(2 / fan_in)``.

    As in the tutorial, the second dimension of ``weight_shape`` is the
    number of inputs (fan-in); the layers ask for shapes laid out that way.
    """

    def initialize(self, weight_shape):
        """Return normal weights of shape ``weight_shape`` (at least 2-D)."""
        shape, _, fan_in = _fans(weight_shape, "He")
        return np.random.normal(0.0, np.sqrt(2.0 / fan_in), shape)


class Xavier(Initializer):
    """Glorot and Bengio (2010): normal, std ``sqrt(2 / (fan_in + fan_out))``.

    ``weight_shape`` is laid out as (fan_out, fan_in, ...), as for :class:`He`.
    """

    def initialize(self, weight_shape):
        """Return normal weights of shape ``weight_shape`` (at least 2-D)."""
        shape, fan_out, fan_in = _fans(weight_shape, "Xavier")
        return np.random.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), shape)


Glorot = Xavier


def check_initializer(value, owner, name):
    """Return ``value`` if it can serve as an initializer, else raise ``TypeError``.

    An initializer is an object with an ``initialize(shape)`` method: an
    instance (``He()``), or a class whose ``initialize`` is a static or
    class method (the tutorial's tests pass such classes).  A class whose
    ``initialize`` needs an instance (``He`` without the parentheses), None,
    numbers and strings are rejected with a message naming ``owner`` and
    the argument ``name``.
    """
    method = getattr(value, "initialize", None)
    ok = callable(method)
    if ok and isinstance(value, type):
        raw = None
        for klass in value.__mro__:
            if "initialize" in klass.__dict__:
                raw = klass.__dict__["initialize"]
                break
        ok = isinstance(raw, (staticmethod, classmethod))
    if not ok:
        hint = f" (did you mean {value.__name__}()?)" if isinstance(value, type) else ""
        raise TypeError(
            f"{owner}: expected {name} as an initializer with an initialize(shape) method, "
            f"such as He() or Const(0.1), got {describe(value)}{hint}"
        )
    return value
