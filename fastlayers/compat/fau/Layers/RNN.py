"""``RNN``: an Elman network over a sequence whose time axis is the batch axis."""

import numpy as np

from ...._validation import checked_property
from ... import _common
from .Base import TrainableLayer, dense_weights, gradient, parameter
from .Sigmoid import sigmoid

__all__ = ["RNN"]


class RecurrentLayer(TrainableLayer):
    """Shared parts of :class:`RNN` and ``LSTM``: sizes, weights, state, output layer."""

    name = "RNN"
    gates = 1

    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.input_size = _common.positive_int(input_size, self.name, "input_size")
        self.hidden_size = _common.positive_int(hidden_size, self.name, "hidden_size")
        self.output_size = _common.positive_int(output_size, self.name, "output_size")
        n_in = self.input_size + self.hidden_size
        self._weights = np.random.uniform(0.0, 1.0, (n_in + 1, self.gates * self.hidden_size))
        self._weights_output = np.random.uniform(0.0, 1.0, (self.hidden_size + 1, self.output_size))
        self._gradient_weights = None
        self._gradient_weights_output = None
        self._memorize = False
        self._state = None
        self._cache = None

    memorize = checked_property(
        "memorize",
        lambda self, value: bool(value),
        "True: the next ``forward`` starts from the state the last one ended in.",
    )

    weights = parameter(
        "weights",
        "Recurrent weights, (input_size + hidden_size + 1, gates * hidden_size), bias last.",
    )
    weights_output = parameter(
        "weights_output", "Weights of the output layer: (hidden_size + 1, output_size), bias last."
    )
    gradient_weights = gradient(
        "gradient_weights", "Gradient of :attr:`weights`, summed over the time steps."
    )
    gradient_weights_output = gradient("gradient_weights_output", settable=False)

    def initialize(self, weights_initializer, bias_initializer):
        """Draw both layers' weights (fans: inputs and outputs of each layer) and bias rows."""
        n_in = self.input_size + self.hidden_size
        self.weights = dense_weights(
            weights_initializer, bias_initializer, n_in, self.gates * self.hidden_size
        )
        self.weights_output = dense_weights(
            weights_initializer, bias_initializer, self.hidden_size, self.output_size
        )

    def calculate_regularization_loss(self):
        """The regularizer's norm of both layers' weights (0 without a regularizer)."""
        return self._regularization(self._weights, self._weights_output)

    def _input(self, input_tensor):
        x = self._rows(input_tensor, "time")
        n_in = self.input_size + self.hidden_size
        self._check_shape("weights", (n_in + 1, self.gates * self.hidden_size))
        self._check_shape("weights_output", (self.hidden_size + 1, self.output_size))
        return x

    def forward(self, input_tensor):
        """Run the (time, input_size) sequence through; return (time, output_size)."""
        x = self._input(input_tensor)
        n, hid = self.input_size, self.hidden_size
        w = self._weights
        start = self._state if self._memorize else None
        hidden, saved = self._recur(x @ w[:n] + w[-1], w[n : n + hid], start, np.result_type(x, w))
        y = self._output(hidden[1:])
        self._cache = (x, hidden, saved, y)
        return y

    def backward(self, error_tensor):
        """Back through time over the whole sequence; return the error w.r.t. the input."""
        error = self._check_error(error_tensor)
        x, hidden, saved, y = self._cache
        n, hid = self.input_size, self.hidden_size
        w = self._weights
        dh_out = self._output_backward(error, hidden[1:], y)
        dz = self._recur_backward(dh_out, hidden, saved, w[n : n + hid].T)
        self._gradient_weights = np.concatenate(
            [x.T @ dz, hidden[:-1].T @ dz, dz.sum(axis=0, keepdims=True)]
        )
        dx = dz @ w[:n].T
        self._update()
        return dx

    def _recur(self, drive, recurrent, start, dtype):
        """Hidden states (time + 1, hidden_size) from ``start``, and what backward needs.

        ``drive`` is ``x_t @ W_x + b`` for every step, ``recurrent`` the
        hidden-to-gates weights, ``start`` the memorized state or None.
        Sets ``_state`` to the state the sequence ends in.
        """
        raise NotImplementedError

    def _recur_backward(self, dh_out, hidden, saved, recurrent_t):
        """Error w.r.t. the gate inputs (time, gates * hidden_size) of every step."""
        raise NotImplementedError

    def _output(self, hidden):
        """Sigmoid output layer on all time steps at once."""
        w = self._weights_output
        return sigmoid(hidden @ w[:-1] + w[-1])

    def _output_backward(self, error, hidden, y):
        """Gradient of the output layer, and the error it sends to each hidden state."""
        delta = error * y * (1.0 - y)
        w = self._weights_output
        self._gradient_weights_output = np.concatenate(
            [hidden.T @ delta, delta.sum(axis=0, keepdims=True)]
        )
        return delta @ w[:-1].T

    def _update(self):
        self._step("weights", self._gradient_weights)
        self._step("weights_output", self._gradient_weights_output)

    def _check_error(self, error_tensor):
        return self._row_error(error_tensor, None if self._cache is None else self._cache[0])


class RNN(RecurrentLayer):
    """``h_t = tanh([x_t, h_{t-1}, 1] @ weights)``, ``y_t = sigmoid([h_t, 1] @ weights_output)``.

    Parameters
    ----------
    input_size, hidden_size, output_size : int

    Notes
    -----
    The batch axis is the time axis: ``forward`` takes (time, input_size)
    and returns (time, output_size).  The hidden state starts at zero unless
    ``memorize`` is True, then it carries over from the previous call.
    ``backward`` runs back through time over the whole sequence.
    """

    name = "RNN"
    gates = 1

    def _recur(self, drive, recurrent, start, dtype):
        hidden = np.empty((drive.shape[0] + 1, self.hidden_size), dtype=dtype)
        hidden[0] = start if start is not None else 0.0
        for t in range(drive.shape[0]):
            hidden[t + 1] = np.tanh(drive[t] + hidden[t] @ recurrent)
        self._state = hidden[-1].copy()
        return hidden, None

    def _recur_backward(self, dh_out, hidden, saved, recurrent_t):
        du = np.empty_like(dh_out)
        carry = np.zeros(self.hidden_size, dtype=du.dtype)
        for t in range(dh_out.shape[0] - 1, -1, -1):
            du[t] = (dh_out[t] + carry) * (1.0 - hidden[t + 1] ** 2)
            carry = du[t] @ recurrent_t
        return du
