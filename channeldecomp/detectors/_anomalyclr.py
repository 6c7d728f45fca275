"""AnomalyCLR: contrastive representations of collision events, scored by an autoencoder.

Both networks train through skorch (:class:`~._training.SelfSupervisedNet`): the encoder on
batches that a collate step turns into (events, physical views, anomaly views), with
:class:`AnomalyCLRLoss` as criterion; the autoencoders on their own inputs with a mean squared
error.
"""

from __future__ import annotations

import logging
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, OutlierMixin, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from .._device import check_device, inference_device, module_on, private_torch_rng
from .._torch_state import TorchModulesStateMixin, rebuildable_module
from ._augmentations import (
    _types,
    add_objects,
    rotate_phi,
    smear_angles,
    smear_energy,
    split_objects,
)
from ._base import ThresholdMixin
from ._training import Rows, train_self_supervised

__all__ = ["AnomalyCLR", "AutoencoderDetector"]

logger = logging.getLogger(__name__)

PHYSICAL_AUGMENTATIONS = ("rotate_phi", "smear_energy", "smear_angles")
ANOMALY_AUGMENTATIONS = ("add_objects", "split_objects")
_NEEDS_ANGLES = {"rotate_phi", "smear_angles"}
_SCORE_BATCH = 2048


# --------------------------------------------------------------------------------------------
# Torch modules (module level and rebuildable, so fitted estimators save as plain data)
# --------------------------------------------------------------------------------------------
@rebuildable_module
class SetTransformerEncoder(nn.Module):
    """Permutation-invariant Transformer encoder of a set of objects.

    Linear embedding of each object, no positional encoding, self-attention with the empty
    slots masked, sum pooling over the objects present, then a small MLP head.
    """

    def __init__(self, n_inputs, embed_dim, n_heads, n_layers, output_dim, dropout):
        super().__init__()
        self.embed = nn.Linear(n_inputs, embed_dim)
        layer = nn.TransformerEncoderLayer(
            embed_dim,
            n_heads,
            dim_feedforward=2 * embed_dim,
            dropout=dropout,
            batch_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.head = nn.Sequential(
            nn.Linear(embed_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, output_dim)
        )

    def forward(self, objects, padding):
        # A fully empty event would make attention undefined: let it attend to its (zero)
        # slots; pooling still ignores them.
        attention_padding = padding & ~padding.all(dim=1, keepdim=True)
        hidden = self.encoder(self.embed(objects), src_key_padding_mask=attention_padding)
        pooled = (hidden * (~padding).unsqueeze(-1)).sum(dim=1)
        return self.head(pooled)


@rebuildable_module
class Autoencoder(nn.Module):
    """A dense autoencoder ``n -> hidden -> bottleneck -> hidden -> n``."""

    def __init__(self, n_inputs, hidden_size, bottleneck):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_inputs, hidden_size),
            nn.ReLU(),
            nn.Linear(hidden_size, bottleneck),
            nn.ReLU(),
            nn.Linear(bottleneck, hidden_size),
            nn.ReLU(),
            nn.Linear(hidden_size, n_inputs),
        )

    def forward(self, x):
        return self.net(x)


def anomaly_clr_loss(anchor, positive, anomalous, temperature):
    """Contrastive loss with the anomaly views as extra negatives (NT-Xent form).

    Each event and its physical augmentation attract; every other event of the batch, every
    other view, and every anomaly-augmented event (its own included) repel.
    """
    b = anchor.shape[0]
    views = torch.cat([anchor, positive])
    candidates = torch.cat([anchor, positive, anomalous])
    logits = views @ candidates.T / temperature
    self_mask = torch.eye(2 * b, 3 * b, dtype=torch.bool, device=logits.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    target = torch.cat([torch.arange(b) + b, torch.arange(b)]).to(logits.device)
    return F.cross_entropy(logits, target)


class AnomalyCLRLoss(nn.Module):
    """:func:`anomaly_clr_loss` of a batch's representations, stacked as (events, their
    physical views, their anomaly views), after unit normalisation; the criterion of the
    encoder's :class:`~._training.SelfSupervisedNet` (its second argument, the module's input,
    is not needed)."""

    def __init__(self, temperature):
        super().__init__()
        self.temperature = temperature

    def forward(self, representations, inputs=None):
        z = F.normalize(representations, dim=1)
        b = len(z) // 3
        return anomaly_clr_loss(z[:b], z[b : 2 * b], z[2 * b :], self.temperature)


def _trained_for_inference(net):
    """The net's trained module, on the CPU in float64 and in evaluation mode, and its
    per-epoch training loss. Inference runs in float64, so a score never depends on which rows
    share its batch."""
    losses = [float(loss) for loss in net.history[:, "train_loss"]] if net.history else []
    return net.module_.eval().to("cpu", torch.float64), losses


def _fit_autoencoder(
    features, hidden_size, bottleneck, max_epochs, lr, batch_size, rng, device, log=None
):
    """Train an autoencoder on standardised ``features`` on ``device``; call inside a forked
    torch RNG. The trained module is returned on the CPU, with the loss per epoch."""
    net = train_self_supervised(
        Autoencoder,
        torch.nn.MSELoss,
        Rows(torch.as_tensor(features, dtype=torch.float32, device=device)),
        module__n_inputs=features.shape[1],
        module__hidden_size=hidden_size,
        module__bottleneck=bottleneck,
        lr=lr,
        batch_size=batch_size,
        max_epochs=max_epochs,
        random_state=rng,
        device=device,
        log=log,
    )
    return _trained_for_inference(net)


def _reconstruction_error(module, features, device):
    module = module_on(module, device)
    errors = []
    with torch.no_grad():
        for start in range(0, len(features), _SCORE_BATCH):
            batch = torch.as_tensor(
                features[start : start + _SCORE_BATCH], dtype=torch.float64, device=device
            )
            errors.append(((module(batch) - batch) ** 2).mean(dim=1).cpu().numpy())
    return np.concatenate(errors) if errors else np.zeros(0)


def _standardise_fit(values):
    mean = values.mean(axis=0)
    scale = values.std(axis=0)
    scale[~(scale > 1e-12)] = 1.0
    return mean, scale


# --------------------------------------------------------------------------------------------
# Shared estimator plumbing
# --------------------------------------------------------------------------------------------
class _ObjectOutlierDetector(TorchModulesStateMixin, ThresholdMixin, OutlierMixin, BaseEstimator):
    """Validation of object-set input and the contamination threshold, shared by detectors."""

    _torch_module_attributes = ("encoder_", "autoencoder_")

    _parameter_constraints: dict = {
        "object_shape": ["array-like"],
        "ae_hidden_size": [Interval(Integral, 1, None, closed="left")],
        "ae_bottleneck": [Interval(Integral, 1, None, closed="left")],
        "ae_max_epochs": [Interval(Integral, 1, None, closed="left")],
        "ae_lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "contamination": [Interval(Real, 0, 0.5, closed="right")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        shape = self._declared_shape(strict=False)
        # With one property per object every column is a pT, which cannot be negative.
        tags.input_tags.positive_only = shape is not None and shape[1] == 1
        return tags

    def _declared_shape(self, strict=True):
        shape = self.object_shape
        try:
            n_objects, n_properties = (int(v) for v in shape)
        except (TypeError, ValueError):
            if not strict:
                return None
            raise ValueError(
                f"object_shape must be a pair (n_objects, n_properties), e.g. (19, 3); "
                f"got {shape!r}."
            ) from None
        if n_properties < 1 or (n_objects < 1 and n_objects != -1):
            if not strict:
                return None
            raise ValueError(
                "object_shape needs n_properties >= 1 and n_objects >= 1 (or -1 to infer it "
                f"from the number of columns); got {tuple(shape)!r}."
            )
        return n_objects, n_properties

    def _validate_objects(self, X, *, reset):
        """Validate X (2-D flattened or 3-D) and return it as (n, n_objects, n_properties)."""
        n_objects, n_properties = self._declared_shape()
        if getattr(X, "ndim", None) == 3 or (
            not hasattr(X, "ndim") and np.asarray(X, dtype=object).ndim == 3
        ):
            X = np.asarray(X)
            if X.shape[2] != n_properties or n_objects not in (-1, X.shape[1]):
                raise ValueError(
                    f"3-D input of shape {X.shape} does not match object_shape="
                    f"{tuple(self.object_shape)}: pass (n_events, n_objects, n_properties) "
                    "events of that layout."
                )
            X = X.reshape(X.shape[0], -1)
        X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
        X = np.asarray(X, dtype=np.float64)
        if reset:
            if X.shape[1] % n_properties or (
                n_objects != -1 and n_objects * n_properties != X.shape[1]
            ):
                raise ValueError(
                    f"X has {X.shape[1]} columns, which does not match object_shape="
                    f"{tuple(self.object_shape)} (n_objects * n_properties columns, objects "
                    "one after the other). Pass the object_shape of your data."
                )
            self.object_shape_ = (X.shape[1] // n_properties, n_properties)
        pt = X[:, :: self.object_shape_[1]]
        if np.any(pt < 0):
            row, obj = np.argwhere(pt < 0)[0]
            raise ValueError(
                f"Negative values in data passed to {type(self).__name__}: the pT of object "
                f"{obj} (column {obj * self.object_shape_[1]}) is {pt[row, obj]!r} in row {row}. "
                "Property 0 of every object is its pT (>= 0; 0 marks an empty slot)."
            )
        return X.reshape(len(X), *self.object_shape_)

    def _fit_scorer(self, features, rng, device):
        """Fit the autoencoder on ``features`` on ``device``; the ``contamination`` quantile of
        its reconstruction error (negated) on them is ``offset_``."""
        self.autoencoder_, self.loss_curve_ = _fit_autoencoder(
            features,
            self.ae_hidden_size,
            self.ae_bottleneck,
            self.ae_max_epochs,
            self.ae_lr,
            self.batch_size,
            rng,
            device,
            log=self._log("autoencoder"),
        )
        scores = -_reconstruction_error(self.autoencoder_, features, device)
        self.offset_ = float(np.percentile(scores, 100.0 * self.contamination))

    def _log(self, stage):
        """What the training of ``stage`` logs each epoch through, or None when not verbose."""
        if not self.verbose:
            return None
        return lambda line: logger.info("%s: %s", stage, line)

    def _seeds(self):
        random_state = check_random_state(self.random_state)
        seed = int(random_state.randint(np.iinfo(np.int32).max))
        return np.random.default_rng(seed), seed


# --------------------------------------------------------------------------------------------
# The raw-input autoencoder baseline
# --------------------------------------------------------------------------------------------
class AutoencoderDetector(_ObjectOutlierDetector):
    """Autoencoder on the scaled raw object array: the baseline of AnomalyCLR.

    Each event's slots are flattened; the pT of every object is replaced by ``log(1 + pT)``
    and every column standardised on the reference data. A dense autoencoder is trained on
    the reference (background) events; the score is minus the mean squared reconstruction
    error, so higher means more normal.

    Parameters
    ----------
    object_shape : tuple of int, default=(19, 3)
        ``(n_objects, n_properties)`` of each event; property 0 is pT. ``-1`` as the number
        of objects infers it from the number of columns.
    ae_hidden_size : int, default=32
        Width of the hidden layers.
    ae_bottleneck : int, default=5
        Width of the bottleneck.
    ae_max_epochs : int, default=30
        Training epochs.
    ae_lr : float, default=1e-3
        Adam learning rate.
    batch_size : int, default=128
        Minibatch size.
    contamination : float in (0, 0.5], default=0.01
        Fraction of the reference data flagged as outliers: the target false-alarm rate that
        sets ``offset_``.
    random_state : int, RandomState instance or None, default=None
        Seed; the global numpy and torch random states are left untouched.
    device : str or torch.device, default="cpu"
        Torch device that trains and scores, e.g. ``"cuda"`` or ``"cuda:1"``. A CUDA device on
        a machine where torch sees none is an error at ``fit``. The fitted modules are kept on
        the CPU (a model trained on a GPU loads anywhere); each call copies them to
        ``device``, or, when ``device`` is a CUDA device but torch sees none, runs on the CPU
        with a ``UserWarning``.
    verbose : int, default=0
        When positive, log skorch's progress table of the training (epoch, loss, seconds)
        at INFO level of logger ``channeldecomp.detectors._anomalyclr``.

    Attributes
    ----------
    object_shape_ : tuple of int
        The resolved ``(n_objects, n_properties)``.
    autoencoder_ : torch.nn.Module
        The trained autoencoder (float64, on the CPU).
    loss_curve_ : list of float
        Training loss per epoch.
    offset_ : float
        Threshold on ``score_samples`` (its ``contamination`` quantile on the training data).
    n_features_in_ : int
        Number of columns seen in ``fit``.
    feature_names_in_ : ndarray of str
        Column names, when X had string column names.

    See Also
    --------
    AnomalyCLR : the same autoencoder on contrastive representations.

    Examples
    --------
    >>> from channeldecomp.datasets import make_adc_events
    >>> from channeldecomp.detectors import AutoencoderDetector
    >>> events = make_adc_events(n_background=400, n_signal=0, random_state=0)
    >>> detector = AutoencoderDetector(ae_max_epochs=2, random_state=0).fit(events.data)
    >>> detector.predict(events.data[:5]).shape
    (5,)
    """

    def __init__(
        self,
        object_shape=(19, 3),
        *,
        ae_hidden_size=32,
        ae_bottleneck=5,
        ae_max_epochs=30,
        ae_lr=1e-3,
        batch_size=128,
        contamination=0.01,
        random_state=None,
        verbose=0,
        device="cpu",
    ):
        self.object_shape = object_shape
        self.ae_hidden_size = ae_hidden_size
        self.ae_bottleneck = ae_bottleneck
        self.ae_max_epochs = ae_max_epochs
        self.ae_lr = ae_lr
        self.batch_size = batch_size
        self.contamination = contamination
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    def _raw_features(self, objects):
        values = objects.copy()
        values[..., 0] = np.log1p(values[..., 0])
        return values.reshape(len(values), -1)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the autoencoder on reference (background) events.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_objects * n_properties) or 3-D
            Reference events.
        y : None
            Ignored.

        Returns
        -------
        self : AutoencoderDetector
        """
        device = check_device(self.device)
        objects = self._validate_objects(X, reset=True)
        rng, seed = self._seeds()
        raw = self._raw_features(objects)
        self.input_mean_, self.input_scale_ = _standardise_fit(raw)
        features = (raw - self.input_mean_) / self.input_scale_
        with private_torch_rng(seed, device):
            self._fit_scorer(features, rng, device)
        return self

    def score_samples(self, X):
        """Minus the reconstruction error: higher means more like the reference data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_objects * n_properties) or 3-D
            Events.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        device = inference_device(self)
        objects = self._validate_objects(X, reset=False)
        features = (self._raw_features(objects) - self.input_mean_) / self.input_scale_
        return -_reconstruction_error(self.autoencoder_, features, device)


# --------------------------------------------------------------------------------------------
# AnomalyCLR
# --------------------------------------------------------------------------------------------
class AnomalyCLR(TransformerMixin, _ObjectOutlierDetector):
    """Self-supervised anomaly detector for collision events (AnomalyCLR).

    Events are sets of objects (default: the CMS ADC2021 layout of 19 slots of (pT, eta,
    phi): MET, 4 electrons, 4 muons, 10 jets; empty slots all zero). A permutation-invariant
    Transformer encoder maps each event to a representation, trained with a contrastive loss
    at temperature ``temperature``: an event and its *physical* augmentation (azimuthal
    rotation, jet-energy smearing, small eta/phi smearing) are pulled together, other events
    are pushed apart, and *anomaly* augmentations of the events (added objects, collinear
    splits keeping each type's total pT) are pushed away. An autoencoder trained on the
    background representations then scores events: minus its reconstruction error, so higher
    means more normal. The fitted encoder is also a transformer (:meth:`transform`).

    Reading of the paper where it is not explicit: the anchor is the event itself and the
    positive its physical augmentation; the anomaly views enter the denominator of the
    NT-Xent loss as extra negatives for every event; the autoencoder sees the head output
    before its unit normalisation, standardised on the training data.

    Inputs are scaled inside: each object becomes (standardised log(1 + pT), standardised eta,
    cos phi, sin phi, one-hot object type); augmentations are applied in physical units
    before the scaling. With other than three properties per object, property 0 is pT and the
    others are standardised (angle-based augmentations then need to be left out).

    Parameters
    ----------
    object_shape : tuple of int, default=(19, 3)
        ``(n_objects, n_properties)`` of each event; columns of flattened X are the objects one
        after the other. ``-1`` as the number of objects infers it. 3-D input is accepted too.
    object_types : "adc", sequence of str or None, default="adc"
        Type name of each object slot (``"met"`` slots are never augmented); ``"adc"`` is the
        ADC2021 layout, None gives every slot one generic type.
    embed_dim : int, default=64
        Width of the Transformer (the paper uses about 136).
    n_heads : int, default=4
        Attention heads.
    n_layers : int, default=2
        Transformer encoder layers (the paper uses 4).
    output_dim : int, default=32
        Dimension of the representation.
    dropout : float, default=0.1
        Dropout inside the Transformer during contrastive training.
    temperature : float, default=0.1
        Temperature of the contrastive loss.
    augmentations : sequence of str, default=("rotate_phi", "smear_energy", "smear_angles")
        Physical augmentations applied in turn to make the positive view.
    anomaly_augmentations : sequence of str, default=("add_objects", "split_objects")
        Anomaly augmentations; each event gets one of them, chosen at random.
    max_epochs : int, default=10
        Epochs of contrastive training.
    lr : float, default=1e-3
        Adam learning rate of the encoder (the paper trains longer at 5e-5).
    batch_size : int, default=128
        Minibatch size of both trainings.
    ae_hidden_size : int, default=32
        Width of the autoencoder's hidden layers.
    ae_bottleneck : int, default=5
        Width of the autoencoder's bottleneck.
    ae_max_epochs : int, default=30
        Epochs of autoencoder training.
    ae_lr : float, default=1e-3
        Adam learning rate of the autoencoder.
    contamination : float in (0, 0.5], default=0.01
        Fraction of the reference data flagged as outliers: the target false-alarm rate that
        sets ``offset_``.
    random_state : int, RandomState instance or None, default=None
        Seed of the augmentations, initialisation and batching; the global numpy and torch
        random states are left untouched.
    device : str or torch.device, default="cpu"
        Torch device that trains and scores, e.g. ``"cuda"`` or ``"cuda:1"``. A CUDA device on
        a machine where torch sees none is an error at ``fit``. The fitted modules are kept on
        the CPU (a model trained on a GPU loads anywhere); each call copies them to
        ``device``, or, when ``device`` is a CUDA device but torch sees none, runs on the CPU
        with a ``UserWarning``.
    verbose : int, default=0
        When positive, log skorch's progress table of each training (epoch, loss, seconds;
        ``contrastive:`` then ``autoencoder:``) at INFO level of logger
        ``channeldecomp.detectors._anomalyclr``.

    Attributes
    ----------
    object_shape_ : tuple of int
        The resolved ``(n_objects, n_properties)``.
    object_types_ : ndarray of str
        Type of each slot.
    encoder_ : SetTransformerEncoder
        The trained encoder (float64, on the CPU).
    autoencoder_ : torch.nn.Module
        The autoencoder on the representations (float64, on the CPU).
    contrastive_loss_curve_ : list of float
        Contrastive loss per epoch.
    loss_curve_ : list of float
        Autoencoder loss per epoch.
    offset_ : float
        Threshold on ``score_samples`` (its ``contamination`` quantile on the training data).
    n_features_in_ : int
        Number of columns seen in ``fit``.
    feature_names_in_ : ndarray of str
        Column names, when X had string column names.

    See Also
    --------
    AutoencoderDetector : the same autoencoder on the scaled raw inputs (the baseline).
    channeldecomp.datasets.make_adc_events : events in this layout, with four signals.

    References
    ----------
    .. [1] B. M. Dillon, L. Favaro, F. Feiden, T. Modak, T. Plehn, "Anomalies,
       Representations, and Self-Supervision", arXiv:2301.04660 (2023).

    Examples
    --------
    >>> from channeldecomp.datasets import make_adc_events
    >>> from channeldecomp.detectors import AnomalyCLR
    >>> events = make_adc_events(n_background=200, n_signal=0, random_state=0)
    >>> detector = AnomalyCLR(embed_dim=16, n_layers=1, output_dim=8, max_epochs=1,
    ...                       ae_max_epochs=2, random_state=0).fit(events.data)
    >>> detector.transform(events.data[:3]).shape
    (3, 8)
    >>> detector.predict(events.data[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **_ObjectOutlierDetector._parameter_constraints,
        "object_types": [StrOptions({"adc"}), "array-like", None],
        "embed_dim": [Interval(Integral, 1, None, closed="left")],
        "n_heads": [Interval(Integral, 1, None, closed="left")],
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "output_dim": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "augmentations": ["array-like"],
        "anomaly_augmentations": ["array-like"],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        object_shape=(19, 3),
        *,
        object_types="adc",
        embed_dim=64,
        n_heads=4,
        n_layers=2,
        output_dim=32,
        dropout=0.1,
        temperature=0.1,
        augmentations=PHYSICAL_AUGMENTATIONS,
        anomaly_augmentations=ANOMALY_AUGMENTATIONS,
        max_epochs=10,
        lr=1e-3,
        batch_size=128,
        ae_hidden_size=32,
        ae_bottleneck=5,
        ae_max_epochs=30,
        ae_lr=1e-3,
        contamination=0.01,
        random_state=None,
        verbose=0,
        device="cpu",
    ):
        self.object_shape = object_shape
        self.object_types = object_types
        self.embed_dim = embed_dim
        self.n_heads = n_heads
        self.n_layers = n_layers
        self.output_dim = output_dim
        self.dropout = dropout
        self.temperature = temperature
        self.augmentations = augmentations
        self.anomaly_augmentations = anomaly_augmentations
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.ae_hidden_size = ae_hidden_size
        self.ae_bottleneck = ae_bottleneck
        self.ae_max_epochs = ae_max_epochs
        self.ae_lr = ae_lr
        self.contamination = contamination
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    # -- checks --------------------------------------------------------------------------
    def _check_augmentations(self):
        physical = [self.augmentations] if isinstance(self.augmentations, str) else None
        physical = list(self.augmentations) if physical is None else physical
        anomaly = self.anomaly_augmentations
        anomaly = [anomaly] if isinstance(anomaly, str) else list(anomaly)
        for names, allowed, label in (
            (physical, PHYSICAL_AUGMENTATIONS, "augmentations"),
            (anomaly, ANOMALY_AUGMENTATIONS, "anomaly_augmentations"),
        ):
            unknown = [name for name in names if name not in allowed]
            if unknown:
                raise ValueError(f"Unknown {label} {unknown}; choose from {list(allowed)}.")
        if not anomaly:
            raise ValueError(
                "anomaly_augmentations is empty: AnomalyCLR needs at least one of "
                f"{list(ANOMALY_AUGMENTATIONS)}."
            )
        needs_angles = [name for name in physical if name in _NEEDS_ANGLES]
        if needs_angles and self.object_shape_[1] < 3:
            raise ValueError(
                f"augmentations {needs_angles} need (pT, eta, phi) objects but object_shape_ "
                f"is {self.object_shape_}; leave them out, e.g. augmentations=('smear_energy',)."
            )
        if self.embed_dim % self.n_heads:
            raise ValueError(
                f"embed_dim={self.embed_dim} must be divisible by n_heads={self.n_heads}."
            )
        return physical, anomaly

    # -- scaling ---------------------------------------------------------------------------
    def _fit_scaling(self, objects):
        present = objects[..., 0] > 0
        values = objects[present]
        values = values.reshape(-1, objects.shape[2])
        if len(values) == 0:
            values = np.zeros((1, objects.shape[2]))
        values = values.copy()
        values[:, 0] = np.log1p(values[:, 0])
        self.input_mean_, self.input_scale_ = _standardise_fit(values)

    def _object_features(self, objects, dtype=torch.float32, device=None):
        n_properties = objects.shape[2]
        present = objects[..., 0] > 0
        columns = [(np.log1p(objects[..., 0]) - self.input_mean_[0]) / self.input_scale_[0]]
        for j in range(1, n_properties):
            if n_properties == 3 and j == 2:
                columns += [np.cos(objects[..., 2]), np.sin(objects[..., 2])]
            else:
                columns.append((objects[..., j] - self.input_mean_[j]) / self.input_scale_[j])
        features = np.stack(columns, axis=-1) * present[..., None]
        one_hot = np.broadcast_to(self._type_one_hot, (*present.shape, self._type_one_hot.shape[1]))
        features = np.concatenate([features, one_hot], axis=-1)
        return (
            torch.as_tensor(features, dtype=dtype, device=device),
            torch.as_tensor(~present, device=device),
        )

    # -- augmentations ---------------------------------------------------------------------
    def _physical_view(self, objects, names, rng):
        shape, types = self.object_shape_, self.object_types_
        apply_to = ("jet",) if "jet" in set(types) else None
        for name in names:
            if name == "rotate_phi":
                objects = rotate_phi(objects, object_shape=shape, random_state=rng)
            elif name == "smear_energy":
                objects = smear_energy(
                    objects, object_types=types, apply_to=apply_to, random_state=rng
                )
            else:
                objects = smear_angles(
                    objects, object_types=types, apply_to=apply_to, random_state=rng
                )
        return objects

    def _anomaly_view(self, objects, names, rng):
        types = self.object_types_
        choice = rng.integers(0, len(names), size=len(objects))
        out = objects.copy()
        for k, name in enumerate(names):
            rows = choice == k
            if not rows.any():
                continue
            if name == "add_objects":
                out[rows] = add_objects(objects[rows], object_types=types, random_state=rng)
            else:
                out[rows] = split_objects(objects[rows], object_types=types, random_state=rng)
        return out

    # -- fitting ---------------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the encoder contrastively, then the autoencoder on its representations.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_objects * n_properties) or 3-D
            Reference (background) events in physical units; 3-D: of shape
            ``(n_samples, n_objects, n_properties)``.
        y : None
            Ignored.

        Returns
        -------
        self : AnomalyCLR
        """
        device = check_device(self.device)
        objects = self._validate_objects(X, reset=True)
        self.object_types_ = _types(self.object_types, self.object_shape_[0])
        physical, anomaly = self._check_augmentations()
        kinds = list(dict.fromkeys(self.object_types_))
        self._type_one_hot = (self.object_types_[:, None] == np.array(kinds)[None, :]).astype(float)
        self._fit_scaling(objects)
        rng, seed = self._seeds()
        with private_torch_rng(seed, device):
            self.encoder_, self.contrastive_loss_curve_ = self._train_encoder(
                objects, physical, anomaly, rng, device
            )
            representations = self._represent(objects, device)
            self.representation_mean_, self.representation_scale_ = _standardise_fit(
                representations
            )
            features = self._scale_representations(representations)
            self._fit_scorer(features, rng, device)
        return self

    def _train_encoder(self, objects, physical, anomaly, rng, device):
        """Build and train the encoder contrastively (a skorch net); return it on the CPU in
        float64, with the loss per epoch."""

        def contrastive_batch(batch):
            # The events, their physical views and their anomaly views, scaled, in one input.
            events, _ = batch
            positive = self._physical_view(events, physical, rng)
            anomalous = self._anomaly_view(events, anomaly, rng)
            features, padding = self._object_features(
                np.concatenate([events, positive, anomalous]), device=device
            )
            return {"objects": features, "padding": padding}, None

        net = train_self_supervised(
            SetTransformerEncoder,
            AnomalyCLRLoss,
            Rows(objects),
            module__n_inputs=self._object_features(objects[:1])[0].shape[-1],
            module__embed_dim=self.embed_dim,
            module__n_heads=self.n_heads,
            module__n_layers=self.n_layers,
            module__output_dim=self.output_dim,
            module__dropout=self.dropout,
            criterion__temperature=self.temperature,
            lr=self.lr,
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            random_state=rng,
            collate=contrastive_batch,
            device=device,
            log=self._log("contrastive"),
        )
        return _trained_for_inference(net)

    def _represent(self, objects, device):
        encoder = module_on(self.encoder_, device)
        outputs = []
        with torch.no_grad():
            for start in range(0, len(objects), _SCORE_BATCH):
                features, padding = self._object_features(
                    objects[start : start + _SCORE_BATCH], dtype=torch.float64, device=device
                )
                outputs.append(encoder(features, padding).cpu().numpy())
        if not outputs:
            return np.zeros((0, self.output_dim))
        return np.concatenate(outputs)

    def _scale_representations(self, representations):
        return (representations - self.representation_mean_) / self.representation_scale_

    def transform(self, X):
        """Map events to their contrastive representations (the encoder's head output).

        The contrastive loss compares unit-normalised representations; this returns them
        before the normalisation, since their norm carries information (through the sum
        pooling, e.g. the object multiplicity) that the autoencoder uses.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_objects * n_properties) or 3-D
            Events in physical units.

        Returns
        -------
        representations : ndarray of shape (n_samples, output_dim)
        """
        check_is_fitted(self)
        device = inference_device(self)
        return self._represent(self._validate_objects(X, reset=False), device)

    def score_samples(self, X):
        """Minus the autoencoder's reconstruction error of the representations.

        Higher means more like the reference (background) data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_objects * n_properties) or 3-D
            Events in physical units.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        device = inference_device(self)
        objects = self._validate_objects(X, reset=False)
        features = self._scale_representations(self._represent(objects, device))
        return -_reconstruction_error(self.autoencoder_, features, device)

    def get_feature_names_out(self, input_features=None):
        """Names of the representation dimensions, ``anomalyclr0`` ... .

        Parameters
        ----------
        input_features : None
            Ignored.

        Returns
        -------
        names : ndarray of str
        """
        check_is_fitted(self)
        return np.array([f"anomalyclr{i}" for i in range(self.output_dim)], dtype=object)
