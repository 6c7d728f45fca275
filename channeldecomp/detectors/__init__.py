"""Outlier detectors trained on reference (good / background) data only.

:class:`AnomalyCLR` learns contrastive representations of collision events (sets of physics
objects) and scores them with an autoencoder; :class:`AutoencoderDetector` is the same
autoencoder on the raw inputs, its baseline. The augmentation functions are public so they can
be inspected, reused and tested on their own. :class:`FluxMutability` learns the reference class
given the run conditions with a conditional flow and compares each sample with a population
generated for its own conditions. :class:`PerChannelOutlierDetector` fits any outlier detector
channel by channel, with channel scores calibrated on the reference data.
"""

from ._anomalyclr import AnomalyCLR, AutoencoderDetector
from ._augmentations import add_objects, rotate_phi, smear_angles, smear_energy, split_objects
from ._flux import FluxMutability
from ._per_channel import PerChannelOutlierDetector

__all__ = [
    "AnomalyCLR",
    "AutoencoderDetector",
    "FluxMutability",
    "PerChannelOutlierDetector",
    "add_objects",
    "rotate_phi",
    "smear_angles",
    "smear_energy",
    "split_objects",
]
