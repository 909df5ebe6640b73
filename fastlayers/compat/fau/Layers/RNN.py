"""``RNN``: an Elman network over a sequence whose time axis is the batch axis."""

import numpy as np

from ... import _common
from .Base import TrainableLayer
from .Sigmoid import sigmoid

__all__ = ["RNN"]


def _dense_init(weights_initializer, bias_initializer, n_in, n_out):
    weights = np.asarray(
        weights_initializer.initialize((n_in, n_out), n_in, n_out), dtype=np.float64
    )
    bias = np.asarray(bias_initializer.initialize((1, n_out), 1, n_out), dtype=np.float64)
    return np.concatenate([weights.reshape(n_in, n_out), bias.reshape(1, n_out)], axis=0)


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

    @property
    def memorize(self):
        """True: the next ``forward`` starts from the state the last one ended in."""
        return self._memorize

    @memorize.setter
    def memorize(self, value):
        self._memorize = bool(value)

    @property
    def weights(self):
        """Recurrent weights, (input_size + hidden_size + 1, gates * hidden_size), bias last."""
        return self._weights

    @weights.setter
    def weights(self, value):
        self._weights = _common.as_float(value, self.name, "weights")

    @property
    def weights_output(self):
        """Weights of the output layer: (hidden_size + 1, output_size), bias last."""
        return self._weights_output

    @weights_output.setter
    def weights_output(self, value):
        self._weights_output = _common.as_float(value, self.name, "weights_output")

    @property
    def gradient_weights(self):
        """Gradient of :attr:`weights`, summed over the time steps."""
        return self._gradient_weights

    @gradient_weights.setter
    def gradient_weights(self, value):
        self._gradient_weights = value

    @property
    def gradient_weights_output(self):
        return self._gradient_weights_output

    def initialize(self, weights_initializer, bias_initializer):
        """Draw both layers' weights (fans: inputs and outputs of each layer) and bias rows."""
        n_in = self.input_size + self.hidden_size
        self.weights = _dense_init(
            weights_initializer, bias_initializer, n_in, self.gates * self.hidden_size
        )
        self.weights_output = _dense_init(
            weights_initializer, bias_initializer, self.hidden_size, self.output_size
        )

    def calculate_regularization_loss(self):
        """The regularizer's norm of both layers' weights (0 without a regularizer)."""
        return self._regularization(self._weights, self._weights_output)

    def _input(self, input_tensor):
        x = _common.as_float(input_tensor, self.name)
        _common.check_ndim(x, 2, self.name, "input", f"(time, {self.input_size})")
        if x.shape[1] != self.input_size:
            raise ValueError(
                f"{self.name}: expected input of shape (time, {self.input_size}), "
                f"got shape {x.shape}"
            )
        n_in = self.input_size + self.hidden_size
        expected = (n_in + 1, self.gates * self.hidden_size)
        if self._weights.shape != expected:
            raise ValueError(
                f"{self.name}: expected weights of shape {expected}, "
                f"got shape {self._weights.shape}"
            )
        expected = (self.hidden_size + 1, self.output_size)
        if self._weights_output.shape != expected:
            raise ValueError(
                f"{self.name}: expected weights_output of shape {expected}, "
                f"got shape {self._weights_output.shape}"
            )
        return x

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
        self._weights = self._updated("weights", self._weights, self._gradient_weights)
        self._weights_output = self._updated(
            "weights_output", self._weights_output, self._gradient_weights_output
        )

    def _check_error(self, error_tensor):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before forward")
        error = _common.as_float(error_tensor, self.name, "error_tensor")
        expected = (self._cache[0].shape[0], self.output_size)
        if error.shape != expected:
            raise ValueError(
                f"{self.name}: expected error_tensor of shape {expected}, got shape {error.shape}"
            )
        return error


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

    def forward(self, input_tensor):
        x = self._input(input_tensor)
        n, hid = self.input_size, self.hidden_size
        w = self._weights
        t_steps = x.shape[0]
        hidden = np.empty((t_steps + 1, hid), dtype=np.result_type(x, w))
        hidden[0] = self._state if (self._memorize and self._state is not None) else 0.0
        drive = x @ w[:n] + w[-1]
        recurrent = w[n : n + hid]
        for t in range(t_steps):
            hidden[t + 1] = np.tanh(drive[t] + hidden[t] @ recurrent)
        self._state = hidden[-1].copy()
        y = self._output(hidden[1:])
        self._cache = (x, hidden, y)
        return y

    def backward(self, error_tensor):
        error = self._check_error(error_tensor)
        x, hidden, y = self._cache
        n, hid = self.input_size, self.hidden_size
        w = self._weights
        dh_out = self._output_backward(error, hidden[1:], y)
        recurrent_t = w[n : n + hid].T
        du = np.empty_like(dh_out)
        carry = np.zeros(hid, dtype=du.dtype)
        for t in range(x.shape[0] - 1, -1, -1):
            du[t] = (dh_out[t] + carry) * (1.0 - hidden[t + 1] ** 2)
            carry = du[t] @ recurrent_t
        self._gradient_weights = np.concatenate(
            [x.T @ du, hidden[:-1].T @ du, du.sum(axis=0, keepdims=True)]
        )
        dx = du @ w[:n].T
        self._update()
        return dx
