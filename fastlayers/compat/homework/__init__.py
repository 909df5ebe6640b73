"""The homework's convolution and max-pooling layers on fastlayers.

The homework's ``hw4_nn.py`` keeps its accuracy test and imports the two
classes instead of defining them::

    from fastlayers.compat.homework import nn_convolutional_layer, nn_max_pooling_layer

Conventions of the homework: arrays are (batch, channels, width, height)
(the last two axes are only named the other way round), a "valid"
cross-correlation with stride 1 (what ``view_as_windows`` and a dot
product compute), and ``backprop(x, dLdy)`` that is given the input again.
"""

from .layers import nn_convolutional_layer, nn_max_pooling_layer, nn_maxpool_layer

__all__ = ["nn_convolutional_layer", "nn_max_pooling_layer", "nn_maxpool_layer"]
