"""The channel-decomposition classifier, its network and its combiners.

:class:`ChannelDecompositionClassifier` is the estimator; :data:`PRESETS` its named
configurations; :class:`DistilledChannelClassifier` distils its blame into one classifier per
channel. The torch module of its network (:class:`ChannelDecompositionModule`) and the
combiners (:class:`Combiner` and the classes of the registry :data:`COMBINERS`) are public so
that a combiner of one's own can be passed as ``combiner=`` and the network read (the ONNX
export does).
"""

from ._classifier import PRESETS, ChannelDecompositionClassifier
from ._combiners import COMBINERS, Combiner, FuzzyAnd, LogisticCombiner, MinCombiner
from ._distilled import DistilledChannelClassifier
from ._network import ChannelDecompositionModule

__all__ = [
    "COMBINERS",
    "ChannelDecompositionClassifier",
    "ChannelDecompositionModule",
    "Combiner",
    "DistilledChannelClassifier",
    "FuzzyAnd",
    "LogisticCombiner",
    "MinCombiner",
    "PRESETS",
]
