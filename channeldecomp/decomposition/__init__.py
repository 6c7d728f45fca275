"""The channel-decomposition classifier, its network and its combiners.

:class:`ChannelDecompositionClassifier` is the estimator; :data:`PRESETS` its named
configurations. The torch module of its network (:class:`ChannelDecompositionModule`) and the
combiners (:class:`Combiner` and the classes of the registry :data:`COMBINERS`) are public so
that a combiner of one's own can be passed as ``combiner=`` and the network read (the ONNX
export does).
"""

from ._classifier import PRESETS, ChannelDecompositionClassifier
from ._combiners import COMBINERS, Combiner, FuzzyAnd, LogisticCombiner, MinCombiner
from ._network import ChannelDecompositionModule

__all__ = [
    "COMBINERS",
    "ChannelDecompositionClassifier",
    "ChannelDecompositionModule",
    "Combiner",
    "FuzzyAnd",
    "LogisticCombiner",
    "MinCombiner",
    "PRESETS",
]
