"""``LSTM`` over a sequence whose time axis is the batch axis."""

import numpy as np

from .RNN import RecurrentLayer
from .Sigmoid import sigmoid

__all__ = ["LSTM"]


class LSTM(RecurrentLayer):
    """Long short-term memory cell with a sigmoid output layer.

    ``[f, i, g, o] = [x_t, h_{t-1}, 1] @ weights`` (gates in that order,
    ``hidden_size`` columns each; sigmoid, sigmoid, tanh, sigmoid),
    ``c_t = f * c_{t-1} + i * g``, ``h_t = o * tanh(c_t)``,
    ``y_t = sigmoid([h_t, 1] @ weights_output)``.

    Parameters
    ----------
    input_size, hidden_size, output_size : int

    Notes
    -----
    ``weights`` is (input_size + hidden_size + 1, 4 * hidden_size).  Hidden
    and cell state start at zero unless ``memorize`` is True.
    """

    name = "LSTM"
    gates = 4

    def _recur(self, drive, recurrent, start, dtype):
        hid = self.hidden_size
        t_steps = drive.shape[0]
        hidden = np.zeros((t_steps + 1, hid), dtype)
        cell = np.zeros((t_steps + 1, hid), dtype)
        if start is not None:
            hidden[0], cell[0] = start
        gates = np.empty((t_steps, 4 * hid), dtype)
        for t in range(t_steps):
            z = drive[t] + hidden[t] @ recurrent
            z[: 2 * hid] = sigmoid(z[: 2 * hid])
            z[2 * hid : 3 * hid] = np.tanh(z[2 * hid : 3 * hid])
            z[3 * hid :] = sigmoid(z[3 * hid :])
            gates[t] = z
            cell[t + 1] = z[:hid] * cell[t] + z[hid : 2 * hid] * z[2 * hid : 3 * hid]
            hidden[t + 1] = z[3 * hid :] * np.tanh(cell[t + 1])
        self._state = (hidden[-1].copy(), cell[-1].copy())
        return hidden, (cell, gates)

    def _recur_backward(self, dh_out, hidden, saved, recurrent_t):
        cell, gates = saved
        hid = self.hidden_size
        dz = np.empty_like(gates)
        dh_carry = np.zeros(hid, dtype=dz.dtype)
        dc_carry = np.zeros(hid, dtype=dz.dtype)
        for t in range(gates.shape[0] - 1, -1, -1):
            f, i, g, o = (
                gates[t, :hid],
                gates[t, hid : 2 * hid],
                gates[t, 2 * hid : 3 * hid],
                gates[t, 3 * hid :],
            )
            tanh_c = np.tanh(cell[t + 1])
            dh = dh_out[t] + dh_carry
            dc = dh * o * (1.0 - tanh_c**2) + dc_carry
            dz[t, :hid] = dc * cell[t] * f * (1.0 - f)
            dz[t, hid : 2 * hid] = dc * g * i * (1.0 - i)
            dz[t, 2 * hid : 3 * hid] = dc * i * (1.0 - g**2)
            dz[t, 3 * hid :] = dh * tanh_c * o * (1.0 - o)
            dc_carry = dc * f
            dh_carry = dz[t] @ recurrent_t
        return dz
