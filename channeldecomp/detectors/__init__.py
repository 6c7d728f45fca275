"""Outlier detectors trained on reference (good / background) data only.

:class:`AnomalyCLR` learns contrastive representations of collision events (sets of physics
objects) and scores them with an autoencoder; :class:`AutoencoderDetector` is the same
autoencoder on the raw inputs, its baseline. The augmentation functions are public so they can
be inspected, reused and tested on their own.
"""

from ._anomalyclr import AnomalyCLR, AutoencoderDetector
from ._augmentations import add_objects, rotate_phi, smear_angles, smear_energy, split_objects

__all__ = [
    "AnomalyCLR",
    "AutoencoderDetector",
    "add_objects",
    "rotate_phi",
    "smear_angles",
    "smear_energy",
    "split_objects",
]
