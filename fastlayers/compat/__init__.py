"""Drop-in packages for other student frameworks, on :mod:`fastlayers.functional`.

- :mod:`fastlayers.compat.fau`: the FAU "Deep Learning" exercise layout
  (``Layers/``, ``Optimization/``, ``NeuralNetwork.py``, exercises 1 to 3).
- :mod:`fastlayers.compat.mathnn`: the layers of the "Mathematics of Neural
  Networks" sheet 5 (``Conv2DLayer``, ``Pool2DLayer``, ``FlattenLayer`` and
  the dense layers, activations, optimizers and initializers they use).
- :mod:`fastlayers.compat.homework`: the homework's ``nn_convolutional_layer``
  and ``nn_max_pooling_layer``.

Each framework keeps its own names, shapes and conventions; only the
convolution, pooling and dense products run on the fast kernels.
"""
