"""The base of the fast layers with parameters: :class:`fastlayers.parameters.TrainableLayer`.

Kept as an import location; the base itself is shared with the reference
layers and lives in :mod:`fastlayers.parameters`.
"""

from ..parameters import TrainableLayer

__all__ = ["TrainableLayer"]
