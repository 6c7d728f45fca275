"""ChannelDecompositionClassifier: the multi-head "Fuzzy AND" network as an sklearn classifier."""

from __future__ import annotations

import copy
import json
import numbers
import secrets
import warnings

import numpy as np
import torch
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
from skorch.callbacks import EarlyStopping, EpochTimer, PassthroughScoring, PrintLog
from skorch.helper import predefined_split
from skorch.history import History

from .._device import check_device, inference_device, module_on, private_torch_rng
from .._torch_state import module_from_state, module_to_state
from ..base import ChannelModelMixin
from ._combiners import COMBINERS, get_combiner
from ._network import ACTIVATIONS, ChannelDecompositionLoss, ChannelDecompositionModule
from ._training import ChannelDecompositionNet, SoftPretrainingSchedule, TensorData

__all__ = ["ChannelDecompositionClassifier", "PRESETS"]

#: ``fit`` warns when the training data has fewer bad lumisections than this per channel ...
MIN_BAD_PER_CHANNEL = 50
#: ... or, with ``groups``, fewer runs with bad lumisections (fault episodes) than this.
MIN_FAULT_RUNS_PER_CHANNEL = 3

#: Named configurations. ``"paper"`` is the configuration the original authors trained
#: (Borisyak et al., see ``docs/method.md``): 100-50-20 sigmoid heads, input dropout 0.1,
#: dropout 0.25, Adam at 2e-3, batch 63, 801 epochs, C = 0.7 decayed (with the learning rate)
#: by 0.8 at epochs 20, 120, 220, ...
PRESETS = {
    "paper": {
        "hidden_layer_sizes": (100, 50, 20),
        "activation": "sigmoid",
        "input_dropout": 0.1,
        "dropout": 0.25,
        "squared_inputs": False,
        "combiner": "fuzzy_and",
        "head_dropout": 0.0,
        "alpha": 6e-7,
        "class_weight": "balanced",
        "aux_loss_weight": 0.7,
        "aux_loss_decay": 0.8,
        "aux_decay_start": 20,
        "aux_decay_every": 100,
        "lr_decay": 0.8,
        "lr": 2e-3,
        "batch_size": 63,
        "max_epochs": 801,
        "early_stopping": False,
    },
}

_OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}


def _json_number(value):
    """JSON fallback for the numpy (or torch) numbers and arrays a skorch history may hold."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _log_sigmoid(logits):
    """``log(sigmoid(logits))`` without overflow: ``-log(1 + exp(-logits))``."""
    return -np.logaddexp(0.0, -logits)


def _channel_scores(head_logits):
    """Channel scores from each network's head logits: one network's sigmoid, or the geometric
    mean over the ensemble (the mean in log space); at least the smallest normal float."""
    if len(head_logits) == 1:
        scores = expit(head_logits[0])
    else:
        scores = np.exp(np.mean([_log_sigmoid(logits) for logits in head_logits], axis=0))
    return np.maximum(scores, np.finfo(np.float64).tiny)


def _log1mexp(log_p):
    """``log(1 - exp(log_p))`` for ``log_p <= 0``, accurate at both ends (Maechler, 2012)."""
    log_p = np.minimum(log_p, -np.finfo(np.float64).tiny)
    return np.where(log_p > -np.log(2), np.log(-np.expm1(log_p)), np.log1p(-np.exp(log_p)))


def _describe_columns(indices, feature_names, limit=5):
    labels = [
        repr(feature_names[i]) if feature_names is not None else f"index {i}"
        for i in indices[:limit]
    ]
    more = f", ... ({len(indices)} columns in all)" if len(indices) > limit else ""
    return ", ".join(labels) + more


class ChannelDecompositionClassifier(ClassifierMixin, ChannelModelMixin, BaseEstimator):
    """Global good/bad classifier whose heads tell which channel an anomaly is visible in.

    One dense head per channel sees only that channel's columns and outputs a score
    ``f_i`` in (0, 1], "this channel looks good". The heads are combined by a "Fuzzy AND",
    ``P(good) = exp(sum_i (f_i - 1))``, and the whole network is trained on the *global*
    good/bad label only. Because one bad head is enough to make the lumisection bad and a head
    gains nothing by flagging anomalies it cannot see, each head learns to flag the anomalies
    visible in its own channel (Borisyak et al.). The network is a skorch net built inside
    ``fit`` (``net_``).

    The classifier is a channel model (:class:`~channeldecomp.base.ChannelModelMixin`):
    :meth:`~channeldecomp.base.ChannelModelMixin.transform` gives the channel scores, so
    ``pipeline.transform(X)`` of a fitted Pipeline ending in it returns one column per channel,
    named by ``get_feature_names_out()``.

    Parameters
    ----------
    channels : dict or {"auto", "prefix", "columns"}, default="auto"
        How the columns of X group into channels: ``{name: [column names]}``,
        ``{name: [integer indices]}``, ``{name: regex}`` (matched against feature names),
        ``"prefix"`` (feature names grouped by the part before the first ``"__"``, the naming
        of :class:`~channeldecomp.LumiSectionPercentiles` and of scikit-learn's
        ``ColumnTransformer``), ``"columns"`` (every column its own channel), or ``"auto"``:
        ``"prefix"`` when some feature name contains ``"__"``, else ``"columns"`` (so a plain
        array gets one channel per column, named by its index).
    remainder : {"error", "drop"}, default="error"
        Columns in no channel raise an error, or are left out of the model.
    hidden_layer_sizes : tuple of int, default=(64, 32)
        Hidden widths of every head.
    activation : {"elu", "relu", "gelu", "selu", "tanh", "sigmoid"}, default="elu"
        Hidden activation.
    input_dropout : float, default=0.1
        Dropout on each head's inputs.
    dropout : float, default=0.25
        Dropout after each hidden layer but the last.
    squared_inputs : bool, default=True
        Each head also sees the square of each of its columns (input dropout then acts on both).
        On centred, scaled features a square measures a deviation in either direction: a dead
        eta-phi region shifts a channel's phi percentiles up or down depending on where it
        lies, which a square turns into one direction a hidden unit can use. Scale X first (a
        ``StandardScaler`` or ``QuantileTransformer``), as for any neural network. The paper's
        heads have no squares (``from_preset("paper")``).
    combiner : {"fuzzy_and", "min", "logistic"} or Combiner subclass, default="fuzzy_and"
        How head scores combine into ``P(good)``, by name (the registry
        :data:`~channeldecomp.decomposition.COMBINERS`): the Fuzzy AND
        (:class:`~channeldecomp.decomposition.FuzzyAnd`); ``sigmoid(a * min_i f_i + b)``
        (:class:`~channeldecomp.decomposition.MinCombiner`, ``a > 0`` and ``b`` learned; the
        paper fixed ``a = 3, b = 0``); or a logistic regression on the scores
        (:class:`~channeldecomp.decomposition.LogisticCombiner`), whose weights may turn
        negative so a head's meaning is not tied down (the paper's reason to prefer the Fuzzy
        AND). A class is also accepted, as skorch takes ``module=``: a subclass of
        :class:`~channeldecomp.decomposition.Combiner`, built with the number of channels.
        Model files keep the package's combiners as plain data; a class of your own is pickled
        by reference, so it must be importable where the model is loaded.
    head_dropout : float or "auto", default="auto"
        Probability of replacing a head's score by 1 ("no anomaly seen") during training, so
        the other heads must carry the evidence. With the Fuzzy AND this counters
        explaining-away: a fault visible in two channels is not left to the clearer one alone.
        ``"auto"``: the combiner's ``default_head_dropout``: 0.1 for ``"fuzzy_and"`` and
        ``"min"`` (the paper's setting for ``"min"``), 0 for ``"logistic"``.
    alpha : float, default=1e-5
        Weight of the L2 penalty on the *largest* head, ``max_k ||W_k||^2``, so no head lowers
        the penalty by weakening another.
    class_weight : "balanced", dict or None, default="balanced"
        Class weights multiplied into ``sample_weight``. ``"balanced"`` gives each class half of
        the total weight, as the method's argument assumes.
    good_label : label or None, default=1
        The label of y meaning "good" (certified; 1 in the golden-JSON convention). The other
        label means "bad". None: the larger of the two labels (``classes_[1]``) is good.
    aux_loss_weight : float, default=0.5
        Initial weight C of the soft-pretraining loss: the mean over heads of each head's own
        BCE against the global label. ``loss = (1 - C) * (L + penalty) + C * mean_i L_i``.
    aux_loss_decay : float, default=0.7
        Factor applied to C at each decay epoch.
    aux_decay_start : int, default=5
        First decay epoch.
    aux_decay_every : int, default=5
        Epochs between later decays.
    lr_decay : float, default=0.7
        Factor applied to the learning rate at each decay epoch (the paper: 0.8). The default
        schedule ends 40 epochs at 0.08 of ``lr``, which steadies the last epochs.
    optimizer : {"adam", "adamw", "sgd"}, default="adam"
        Optimizer.
    lr : float, default=2e-3
        Learning rate.
    batch_size : int, default=64
        Minibatch size (-1: the whole training set).
    max_epochs : int, default=40
        Number of epochs (the maximum, with early stopping).
    early_stopping : bool, default=False
        Hold out a seeded, stratified, shuffled ``validation_fraction`` of the training rows and
        stop when the validation loss has not improved by ``tol`` (relative) for
        ``n_iter_no_change`` epochs; the best weights are restored.
    validation_fraction : float, default=0.1
        Held-out fraction for early stopping.
    n_iter_no_change : int, default=10
        Patience of early stopping.
    tol : float, default=1e-4
        Relative improvement that counts for early stopping.
    device : str or torch.device, default="cpu"
        Torch device that trains and predicts, e.g. ``"cuda"`` or ``"cuda:1"``. A CUDA device
        on a machine where torch sees none is an error at ``fit``. The fitted net is kept on
        the CPU (a model trained on a GPU loads anywhere); each prediction copies it to
        ``device``, or, when ``device`` is a CUDA device but torch sees none (a model trained
        on a GPU, loaded on a machine without one), runs on the CPU with a ``UserWarning``.
    callbacks : list of skorch callbacks or None, default=None
        Extra callbacks for the skorch net (copied at fit).
    verbose : int, default=0
        0: silent; 1 or more: one line per epoch.
    n_estimators : int, default=1
        Number of networks. With more than one, each is trained with its own seed and, when
        ``fit`` is given ``groups``, on a bootstrap resample of the runs; predictions are
        averaged in log space (the geometric mean of the channel scores, the mean of log
        P(good)), and ``predict_channel_scores(X, return_std=True)`` also gives each score's
        spread over the networks. Fitting costs ``n_estimators`` times one network's
        without ``groups``; with them each network trains on the lumisections of the runs its
        resample draws (about 63 % of the runs, on average), so about ``0.63 * n_estimators``
        times.
    reliability_cv : int or None, default=None
        With an int (at least 2), ``fit`` also estimates how far each channel's scores can be
        trusted, :func:`channeldecomp.model_selection.channel_reliability` with
        ``cv=reliability_cv`` and the ``groups`` given to ``fit``, kept as
        ``channel_reliability_``, and warns about the channels it finds unreliable. It costs
        ``2 * reliability_cv`` more fits of the same configuration. None: not estimated.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, dropout, shuffling, the validation split and the bootstrap. With
        an int, two fits on the CPU are bit-identical. The caller's global torch and numpy
        random states are never changed.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two labels, sorted.
    good_class_index_ : int
        Position of ``good_label`` in ``classes_``.
    channel_names_ : list of str
        Channel names, the column order of :meth:`predict_channel_scores`.
    channel_indices_ : dict of str to ndarray
        Column indices of X used by each channel.
    n_features_in_ : int
        Number of columns of X seen in ``fit``.
    feature_names_in_ : ndarray of str
        Column names of X seen in ``fit``, when X had string column names.
    nets_ : list of skorch.net.NeuralNet
        The ``n_estimators`` trained nets (the ensemble), each as ``net_`` below.
    net_ : skorch.net.NeuralNet
        The first trained skorch net (the only one when ``n_estimators=1``);
        ``net_.module_`` is the torch module. Kept on the CPU
        (``net_.device == "cpu"``) whatever ``device`` trained it. In a model loaded from a
        file (:func:`channeldecomp.load`, pickle) the net holds the module and the history,
        without optimizer state or callbacks.
    history_ : skorch.history.History
        Per-epoch training record (``train_loss``, ``valid_loss``, ``aux_loss_weight``, ``lr``,
        ``dur``, ...).
    channel_reliability_ : DataFrame
        With ``reliability_cv`` set: the table of
        :func:`channeldecomp.model_selection.channel_reliability` of this configuration on the
        training data (indexed by channel; ``reliability``, ``reliable``, ...).

    See Also
    --------
    channeldecomp.LumiSectionPercentiles : per-lumisection features named for ``"prefix"``.

    References
    ----------
    .. [1] M. Borisyak, F. Ratnikov, D. Derkach, A. Ustyuzhanin, "Towards automation of data
       quality system for CERN CMS experiment", J. Phys.: Conf. Ser. 898 (2017) 092041,
       arXiv:1709.08607; and the channel-decomposition follow-up of the same group.

    Examples
    --------
    >>> from channeldecomp import ChannelDecompositionClassifier
    >>> from channeldecomp.datasets import make_channel_anomalies
    >>> data = make_channel_anomalies(n_samples=400, random_state=0)
    >>> clf = ChannelDecompositionClassifier(max_epochs=5, random_state=0)
    >>> clf.fit(data.data, data.target).channel_names_
    ['muons', 'photons', 'pf', 'calo_jets']
    >>> clf.predict_channel_scores(data.data).shape
    (400, 4)
    """

    def __init__(
        self,
        channels="auto",
        *,
        remainder="error",
        hidden_layer_sizes=(64, 32),
        activation="elu",
        input_dropout=0.1,
        dropout=0.25,
        squared_inputs=True,
        combiner="fuzzy_and",
        head_dropout="auto",
        alpha=1e-5,
        class_weight="balanced",
        good_label=1,
        aux_loss_weight=0.5,
        aux_loss_decay=0.7,
        aux_decay_start=5,
        aux_decay_every=5,
        lr_decay=0.7,
        optimizer="adam",
        lr=2e-3,
        batch_size=64,
        max_epochs=40,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        device="cpu",
        callbacks=None,
        verbose=0,
        n_estimators=1,
        reliability_cv=None,
        random_state=None,
    ):
        self.channels = channels
        self.remainder = remainder
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.input_dropout = input_dropout
        self.dropout = dropout
        self.squared_inputs = squared_inputs
        self.combiner = combiner
        self.head_dropout = head_dropout
        self.alpha = alpha
        self.class_weight = class_weight
        self.good_label = good_label
        self.aux_loss_weight = aux_loss_weight
        self.aux_loss_decay = aux_loss_decay
        self.aux_decay_start = aux_decay_start
        self.aux_decay_every = aux_decay_every
        self.lr_decay = lr_decay
        self.optimizer = optimizer
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.device = device
        self.callbacks = callbacks
        self.verbose = verbose
        self.n_estimators = n_estimators
        self.reliability_cv = reliability_cv
        self.random_state = random_state

    @classmethod
    def from_preset(cls, name, **params):
        """Create a classifier with a named configuration of :data:`PRESETS`.

        Parameters
        ----------
        name : str
            ``"paper"``: the configuration of the original authors (801 epochs: slow).
        **params
            Parameters to set on top of the preset, e.g. ``channels`` or ``max_epochs``.

        Returns
        -------
        ChannelDecompositionClassifier

        Examples
        --------
        >>> clf = ChannelDecompositionClassifier.from_preset("paper", max_epochs=100)
        >>> clf.hidden_layer_sizes, clf.batch_size, clf.max_epochs
        ((100, 50, 20), 63, 100)
        """
        if name not in PRESETS:
            raise ValueError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}.")
        return cls(**{**PRESETS[name], **params})

    # ------------------------------------------------------------------ validation helpers

    def _check_params(self):
        """Validate the parameters; return the hidden sizes and the head dropout to use."""
        combiner = get_combiner(self.combiner)
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}; got {self.activation!r}."
            )
        if isinstance(self.optimizer, str) and self.optimizer not in _OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {sorted(_OPTIMIZERS)} or a torch optimizer class; "
                f"got {self.optimizer!r}."
            )
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral):
            sizes = (sizes,)
        sizes = tuple(sizes)
        if not all(isinstance(s, numbers.Integral) and s > 0 for s in sizes):
            raise ValueError(
                f"hidden_layer_sizes must be positive integers; got {self.hidden_layer_sizes!r}."
            )
        for name in ("input_dropout", "dropout", "aux_loss_weight"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or not 0 <= value < 1:
                raise ValueError(f"{name} must be in [0, 1); got {value!r}.")
        if not isinstance(self.squared_inputs, (bool, np.bool_)):
            raise TypeError(f"squared_inputs must be True or False; got {self.squared_inputs!r}.")
        head_dropout = self.head_dropout
        if head_dropout == "auto":
            head_dropout = combiner.default_head_dropout
        if not isinstance(head_dropout, numbers.Real) or not 0 <= head_dropout < 1:
            raise ValueError(f"head_dropout must be 'auto' or in [0, 1); got {head_dropout!r}.")
        names = ("max_epochs", "n_iter_no_change", "aux_decay_start", "aux_decay_every")
        for name in (*names, "n_estimators"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or value < (0 if "start" in name else 1):
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        if self.reliability_cv is not None and not (
            isinstance(self.reliability_cv, numbers.Integral)
            and not isinstance(self.reliability_cv, bool)
            and self.reliability_cv >= 2
        ):
            raise ValueError(
                f"reliability_cv must be None or an integer of at least 2; got "
                f"{self.reliability_cv!r}."
            )
        if not (
            isinstance(self.batch_size, numbers.Integral)
            and (self.batch_size >= 1 or self.batch_size == -1)
        ):
            raise ValueError(
                f"batch_size must be a positive integer or -1; got {self.batch_size!r}."
            )
        for name in ("lr", "alpha", "aux_loss_decay", "lr_decay", "tol"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or value < 0:
                raise ValueError(f"{name} must be a non-negative number; got {value!r}.")
        check_device(self.device)
        if self.early_stopping and not 0 < self.validation_fraction < 1:
            raise ValueError(
                f"validation_fraction must be in (0, 1); got {self.validation_fraction!r}."
            )
        return sizes, float(head_dropout)

    def _check_finite(self, X):
        finite = np.isfinite(X)
        if finite.all():
            return
        bad_columns = np.flatnonzero(~finite.all(axis=0))
        column = bad_columns[0]
        values = X[:, column][~finite[:, column]]
        kind = "NaN" if np.isnan(values).any() else "infinity"
        names = getattr(self, "feature_names_in_", None)
        label = f"{names[column]!r}" if names is not None else f"index {column}"
        raise ValueError(
            f"Input X contains {kind} in column {label} ({int((~finite[:, column]).sum())} "
            f"row(s)); columns with non-finite values: "
            f"{_describe_columns(bad_columns, names)}. Impute them (e.g. with "
            "sklearn.impute.SimpleImputer) or drop those rows before fitting or predicting."
        )

    def _validate_X(self, X, reset):
        X = validate_data(
            self, X, reset=reset, dtype=[np.float32, np.float64], ensure_all_finite=False
        )
        self._check_finite(X)
        return X

    def _encode_target(self, y):
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(
                "y has a single class "
                f"({classes[0]!r}); the classifier needs both good and bad samples to fit."
            )
        if len(classes) > 2:
            raise ValueError(
                f"Only binary classification is supported: y has {len(classes)} classes "
                f"({', '.join(map(repr, classes[:5].tolist()))}). Encode it as good/bad."
            )
        if self.good_label is None:
            return classes, 1
        matches = np.flatnonzero(classes == self.good_label)
        if matches.size != 1:
            raise ValueError(
                f"good_label={self.good_label!r} is not among the labels of y "
                f"{classes.tolist()}; set good_label to the label that means 'good'."
            )
        return classes, int(matches[0])

    def _class_weights(self, is_good, sample_weight):
        """Return per-row weights: sample_weight times class weights, mean 1 over non-zero rows."""
        weights = sample_weight.astype(np.float64).copy()
        if self.class_weight == "balanced":
            totals = [weights[~is_good].sum(), weights[is_good].sum()]
            for value, total in zip((False, True), totals):
                if total <= 0:
                    label = self.classes_[
                        self.good_class_index_ if value else 1 - self.good_class_index_
                    ]
                    raise ValueError(
                        f"All samples of class {label!r} have zero weight; class balancing "
                        "needs some weight in both classes."
                    )
                weights[is_good == value] *= weights.sum() / (2 * total)
        elif isinstance(self.class_weight, dict):
            unknown = set(self.class_weight) - set(self.classes_.tolist())
            if unknown:
                raise ValueError(
                    f"class_weight names label(s) {sorted(unknown, key=str)} not in y's "
                    f"classes {self.classes_.tolist()}."
                )
            for index, label in enumerate(self.classes_):
                factor = self.class_weight.get(label, 1.0)
                if factor < 0:
                    raise ValueError(f"class_weight for {label!r} is negative: {factor}.")
                weights[is_good == (index == self.good_class_index_)] *= factor
        elif self.class_weight is not None:
            raise ValueError(
                f"class_weight must be 'balanced', a dict or None; got {self.class_weight!r}."
            )
        positive = weights > 0
        if not positive.any():
            raise ValueError("All sample weights are zero: nothing to fit.")
        return weights / weights[positive].mean()

    def _combiner_argument(self):
        """The module's ``combiner``: a registered class by its name, so model files hold text."""
        for name, combiner in COMBINERS.items():
            if self.combiner is combiner:
                return name
        return self.combiner

    def _seed(self):
        if self.random_state is None:
            return secrets.randbits(31)
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state) % (2**31)
        # A RandomState instance: draw from it, as scikit-learn estimators do.
        return int(self.random_state.randint(2**31))

    # ------------------------------------------------------------------ fit / predict

    def fit(self, X, y, sample_weight=None, groups=None):
        """Train the network (or the ``n_estimators`` networks) on the global label.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Features; with ``channels="prefix"`` or name lists, a DataFrame (or any input with
            string column names); with ``channels="auto"`` any array.
        y : array-like of shape (n_samples,)
            Global label with two classes; ``good_label`` means good.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights (e.g. luminosity), multiplied by the class weights. Rows of
            weight 0 are left out of training entirely.
        groups : array-like of shape (n_samples,), default=None
            The run of each lumisection. With ``n_estimators > 1`` each network trains on a
            bootstrap resample of the runs; it also counts the fault episodes (runs with bad
            lumisections) of the warning below.

        Returns
        -------
        self : ChannelDecompositionClassifier
            The fitted estimator.

        Warns
        -----
        UserWarning
            When the training data has fewer than ``MIN_BAD_PER_CHANNEL`` (50) bad
            lumisections per channel or, with ``groups``, fewer than
            ``MIN_FAULT_RUNS_PER_CHANNEL`` (3) runs with bad lumisections per channel: some
            channel scores will then be unreliable (check them with
            :func:`channeldecomp.model_selection.channel_reliability`).
        """
        hidden_layer_sizes, head_dropout = self._check_params()
        inputs = (X, y, sample_weight)  # as given, for the reliability's refits
        X, is_good, sample_weight = self._validate_training_data(X, y, sample_weight)
        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape != (len(X),):
                raise ValueError(
                    f"groups must hold one run per row of X ({len(X)}); got shape {groups.shape}."
                )
        self._resolve_channels(X)
        self._warn_few_faults(is_good, sample_weight, groups)
        seed = self._seed()
        seeds = [seed]
        rng = np.random.default_rng(seed)
        seeds += [int(value) for value in rng.integers(2**31, size=self.n_estimators - 1)]
        self.nets_ = []
        for member_seed in seeds:
            weights = sample_weight
            if self.n_estimators > 1 and groups is not None:
                weights = sample_weight * self._bootstrap_counts(groups, is_good, rng)
            weights = self._class_weights(is_good, weights)
            self.nets_.append(
                self._fit_net(X, is_good, weights, member_seed, hidden_layer_sizes, head_dropout)
            )
        self.net_ = self.nets_[0]
        self.history_ = self.net_.history
        self.__dict__.pop("_channel_reliability", None)  # of an earlier fit
        if self.reliability_cv is not None:
            self._estimate_reliability(*inputs, groups, seed)
        return self

    @property
    def channel_reliability_(self):
        """The reliability table estimated in ``fit`` (with ``reliability_cv`` set)."""
        import pandas as pd

        table = self.__dict__.get("_channel_reliability")
        if table is None:
            raise AttributeError(
                "channel_reliability_ is estimated by fit when reliability_cv is set (e.g. "
                "reliability_cv=3, with fit(X, y, groups=runs))."
            )
        frame = pd.DataFrame(table["columns"], index=pd.Index(table["index"], name="channel"))
        frame.attrs.update(table["attrs"])
        return frame

    def _estimate_reliability(self, X, y, sample_weight, groups, seed):
        """Set ``channel_reliability_``; warn about the channels found unreliable."""
        from ..model_selection import channel_reliability, reliability_warnings

        if groups is None:
            warnings.warn(
                "reliability_cv is set but fit has no groups: the reliability's folds then deal "
                "lumisections one by one, which overstates it when faults last several "
                "lumisections. Pass the runs: fit(X, y, groups=runs).",
                UserWarning,
                stacklevel=3,
            )
        refit = clone(self).set_params(reliability_cv=None, verbose=0)
        with warnings.catch_warnings():
            # the refits train on parts of this data: its warnings were given by this fit
            warnings.simplefilter("ignore", UserWarning)
            table = channel_reliability(
                refit, X, y, groups=groups, cv=self.reliability_cv,
                good_label=self.classes_[self.good_class_index_],
                sample_weight=sample_weight, random_state=seed,
            )  # fmt: skip
        # kept as plain lists (a model file holds no pandas object), given back as a DataFrame
        self._channel_reliability = {
            "index": table.index.tolist(),
            "columns": {name: table[name].tolist() for name in table.columns},
            "attrs": dict(table.attrs),
        }
        for message in reliability_warnings(table):
            warnings.warn(message, UserWarning, stacklevel=3)

    def _fit_net(self, X, is_good, weights, seed, hidden_layer_sizes, head_dropout):
        """Train one skorch net on the rows of non-zero weight; return it, on the CPU."""
        # Rows of weight 0 are left out; the network sees the channels' column blocks in order.
        keep = weights > 0
        features = X[keep][:, self._column_order()].astype(np.float32)
        target = np.column_stack([is_good[keep], weights[keep]]).astype(np.float32)
        train, train_split = self._split(features, target, seed)
        net = self._new_net(
            ChannelDecompositionModule,
            callbacks=self._callbacks(),
            train_split=train_split,
            device=self.device,
            shuffle_seed=seed,
            **self._module_params(hidden_layer_sizes, head_dropout),
        )
        with private_torch_rng(seed, self.device):
            net.fit(train, y=None)
        # Keep the fitted net on the CPU, so a model file loads on a machine without a GPU;
        # inference copies the module to ``device`` for each call.
        return net.move_to_cpu()

    @staticmethod
    def _bootstrap_counts(groups, is_good, rng):
        """Per row: how often its run is drawn in a bootstrap resample of the runs."""
        runs, run_of_row = np.unique(groups, return_inverse=True)
        for _ in range(100):
            counts = np.bincount(rng.integers(len(runs), size=len(runs)), minlength=len(runs))
            drawn = counts[run_of_row] > 0
            if is_good[drawn].any() and not is_good[drawn].all():
                return counts[run_of_row].astype(np.float64)
        raise ValueError(
            f"groups: bootstrap resamples of the {len(runs)} run(s) keep missing good or bad "
            "lumisections; pass groups with both classes in several runs, or fit with "
            "n_estimators=1."
        )

    def _warn_few_faults(self, is_good, sample_weight, groups):
        """Warn when the training data has few bad LS or fault episodes per channel."""
        n_channels = len(self.channel_names_)
        bad = ~is_good & (sample_weight > 0)
        problems = []
        if bad.sum() < MIN_BAD_PER_CHANNEL * n_channels:
            problems.append(f"{int(bad.sum())} bad lumisections")
        if groups is not None:
            n_runs = len(np.unique(groups[bad]))
            if n_runs < MIN_FAULT_RUNS_PER_CHANNEL * n_channels:
                problems.append(f"{n_runs} runs with bad lumisections (fault episodes)")
        if problems:
            warnings.warn(
                f"The training data has {' and '.join(problems)} for {n_channels} channels "
                f"(fewer than {MIN_BAD_PER_CHANNEL} bad lumisections or "
                f"{MIN_FAULT_RUNS_PER_CHANNEL} fault episodes per channel): some channel "
                "scores are likely unreliable. Check them with "
                "channeldecomp.model_selection.channel_reliability; more lumisections, more "
                "runs with faults or fewer (merged) channels would help.",
                UserWarning,
                stacklevel=3,
            )

    def _validate_training_data(self, X, y, sample_weight):
        """Validate X, y and the weights; set ``classes_``; return X, is-good mask, row weights."""
        X, y = validate_data(
            self,
            X,
            y,
            reset=True,
            dtype=[np.float32, np.float64],
            ensure_all_finite=False,
            ensure_min_samples=2,
        )
        self._check_finite(X)
        self.classes_, self.good_class_index_ = self._encode_target(y)
        is_good = y == self.classes_[self.good_class_index_]
        sample_weight = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
        return X, is_good, sample_weight.astype(np.float64)

    def _split(self, features, target, seed):
        """The training data and skorch's ``train_split`` (a seeded hold-out if early stopping)."""
        if not self.early_stopping:
            return self._tensor_data(features, target), None
        train_index, valid_index = train_test_split(
            np.arange(len(features)),
            test_size=self.validation_fraction,
            stratify=target[:, 0],
            shuffle=True,
            random_state=seed,
        )
        valid = self._tensor_data(features[valid_index], target[valid_index])
        train = self._tensor_data(features[train_index], target[train_index])
        return train, predefined_split(valid)

    def _callbacks(self):
        """The net's callbacks: timer, losses, the soft-pretraining schedule, early stopping,
        the user's callbacks (copied) and the epoch log."""
        schedule = SoftPretrainingSchedule(
            initial=self.aux_loss_weight,
            decay=self.aux_loss_decay,
            first_epoch=self.aux_decay_start,
            every=self.aux_decay_every,
            lr_decay=self.lr_decay,
        )
        callbacks = [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("soft_pretraining", schedule),
        ]
        if self.early_stopping:
            stopping = EarlyStopping(
                monitor="valid_loss",
                patience=self.n_iter_no_change,
                threshold=self.tol,
                threshold_mode="rel",
                load_best=True,
            )
            callbacks += [
                ("valid_loss", PassthroughScoring(name="valid_loss")),
                ("early_stopping", stopping),
            ]
        callbacks += list(copy.deepcopy(self.callbacks or []))
        if self.verbose:
            callbacks.append(("print_log", PrintLog()))
        return callbacks

    def _module_params(self, hidden_layer_sizes, head_dropout):
        """The ``module__`` parameters of :class:`ChannelDecompositionModule`."""
        return {
            "module__channel_sizes": [len(idx) for idx in self.channel_indices_.values()],
            "module__hidden_layer_sizes": hidden_layer_sizes,
            "module__activation": self.activation,
            "module__input_dropout": self.input_dropout,
            "module__dropout": self.dropout,
            "module__combiner": self._combiner_argument(),
            "module__head_dropout": head_dropout,
            "module__squared_inputs": self.squared_inputs,
        }

    def _new_net(self, module, *, callbacks, train_split, device, shuffle_seed, **module_params):
        """The skorch net around ``module`` (a class with ``module__`` parameters, or a module)."""
        optimizer = self.optimizer
        if isinstance(optimizer, str):
            optimizer = _OPTIMIZERS[optimizer]
        return ChannelDecompositionNet(
            module=module,
            **module_params,
            criterion=ChannelDecompositionLoss,
            criterion__alpha=self.alpha,
            optimizer=optimizer,
            lr=self.lr,
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            train_split=train_split,
            callbacks=callbacks,
            predict_nonlinearity=None,
            device=device,
            verbose=self.verbose,
            shuffle_seed=shuffle_seed,
        )

    # ------------------------------------------------------------------ saving and loading

    def __getstate__(self):
        """State for pickle and skops: the skorch nets as plain data (see :meth:`__setstate__`).

        Each net of ``nets_`` (``net_`` is the first) becomes its module as plain data (class,
        constructor arguments, weights as CPU numpy arrays), the training history as a JSON
        string and the shuffling seed. The optimizer state, the callbacks and a held-out
        validation set are left out: ``fit`` always trains from scratch, so nothing uses them
        after fit.
        """
        state = dict(super().__getstate__())
        net = state.pop("net_", None)
        nets = state.pop("nets_", None) or ([] if net is None else [net])
        state.pop("history_", None)
        if net is not None and isinstance(net.module_.combiner, tuple(COMBINERS.values())):
            saved = [
                {
                    "module": module_to_state(member.module_),
                    "history": json.dumps(member.history.to_list(), default=_json_number),
                    "shuffle_seed": member.shuffle_seed,
                }
                for member in nets
            ]
            state["net_"] = saved[0]
            if len(saved) > 1:
                state["nets_"] = saved
        elif net is not None:
            # A combiner class of the user's: the nets are pickled as they are, the class by
            # reference.
            state["net_"], state["nets_"], state["history_"] = net, nets, net.history
        return state

    def __setstate__(self, state):
        """Rebuild ``nets_``, ``net_`` and ``history_`` on the CPU from :meth:`__getstate__`.

        A model fitted on a GPU loads on a machine without one; inference runs where the
        network is, on the CPU (refit with ``device="cuda"`` to train on a GPU again).
        """
        state = dict(state)
        saved_net, saved_nets = state.get("net_"), state.pop("nets_", None)
        if isinstance(saved_net, dict):
            state["net_"] = None
        super().__setstate__(state)
        if isinstance(saved_net, dict):
            self.nets_ = [self._net_from_state(saved) for saved in (saved_nets or [saved_net])]
            self.net_ = self.nets_[0]
            self.history_ = self.net_.history
        elif saved_net is not None:
            self.nets_ = saved_nets or [saved_net]

    def _net_from_state(self, saved):
        net = self._new_net(
            module_from_state(saved["module"]),
            callbacks=[],
            train_split=None,
            device="cpu",
            shuffle_seed=saved["shuffle_seed"],
        ).initialize()
        net.history = History(json.loads(saved["history"]))
        return net

    def _column_order(self):
        """Columns of X in the network's order: the channels' blocks, one after the other."""
        return np.concatenate(list(self.channel_indices_.values()))

    def _tensor_data(self, features, target=None):
        device = torch.device(self.device)
        X = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)).to(device)
        if target is not None:
            target = torch.from_numpy(np.ascontiguousarray(target, dtype=np.float32)).to(device)
        return TensorData(X, target)

    def _member_outputs(self, X):
        """Per net of the ensemble: (log P(good), log P(bad), head logits) as float64 arrays.

        Inference runs on a float64 copy of each network, so a row's prediction does not depend
        on which other rows are predicted with it (float32 matrix kernels differ with the batch
        size in the last bits).
        """
        X = self._validate_X(X, reset=False)
        device = inference_device(self)
        features = torch.from_numpy(np.ascontiguousarray(X[:, self._column_order()], np.float64))
        members = []
        for net in getattr(self, "nets_", None) or [self.net_]:
            module = module_on(net.module_, device, torch.float64).eval()
            outputs = []
            with torch.no_grad():
                for start in range(0, len(features), 8192):
                    batch = features[start : start + 8192].to(device)
                    outputs.append([part.cpu().numpy() for part in module(batch)])
            members.append(tuple(np.concatenate(parts) for parts in zip(*outputs)))
        return members

    def _forward(self, X):
        """Return (log P(good), log P(bad)): one net's own, or over the ensemble the mean of
        log P(good) (log P(bad) from it)."""
        members = self._member_outputs(X)
        if len(members) == 1:
            return members[0][:2]
        log_p_good = np.mean([member[0] for member in members], axis=0)
        return log_p_good, _log1mexp(log_p_good)

    def predict_proba(self, X):
        """Probability of each class, in ``classes_`` order.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Features with the columns seen in ``fit``.

        Returns
        -------
        ndarray of shape (n_samples, 2)
        """
        return np.exp(self.predict_log_proba(X))

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`, computed without loss of precision.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, 2)
        """
        check_is_fitted(self)
        log_p_good, log_p_bad = self._forward(X)
        log_proba = np.empty((len(log_p_good), 2))
        log_proba[:, self.good_class_index_] = log_p_good
        log_proba[:, 1 - self.good_class_index_] = log_p_bad
        return log_proba

    def decision_function(self, X):
        """Log-odds of ``classes_[1]`` (positive means ``classes_[1]`` is predicted).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        log_p_good, log_p_bad = self._forward(X)
        logit_good = log_p_good - log_p_bad
        return logit_good if self.good_class_index_ == 1 else -logit_good

    def predict(self, X):
        """Predicted label.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    def predict_channel_scores(self, X, return_std=False):
        """Per-channel scores ``f_i``: 1 = the channel looks good, near 0 = anomaly visible.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        return_std : bool, default=False
            Also return each score's spread over the ensemble's networks (all zero when
            ``n_estimators=1``).

        Returns
        -------
        scores : DataFrame of shape (n_samples, n_channels)
            One column per channel in ``channel_names_`` order, values in (0, 1]; the index
            of X when X is a DataFrame. With ``n_estimators > 1``, the geometric mean of the
            networks' scores.
        spread : DataFrame of shape (n_samples, n_channels)
            Only with ``return_std=True``: the standard deviation of the networks' scores
            (the scores of ``n_estimators=1`` networks), same index and columns. Where it is
            large, the networks disagree and the channel's score for that lumisection is
            uncertain.
        """
        check_is_fitted(self)
        head_logits = [member[2] for member in self._member_outputs(X)]
        frame = self._channel_frame(_channel_scores(head_logits), X)
        if not return_std:
            return frame
        spread = np.std([expit(logits) for logits in head_logits], axis=0)
        return frame, self._channel_frame(spread, X)

    def predict_blame(self, X):
        """The channel each lumisection's scores blame, and how many of the networks agree.

        The blamed channel is the one with the lowest score (of
        :meth:`predict_channel_scores`); on a bad lumisection it is where the anomaly is
        visible. Two things mark a doubtful blame (measured on the simulated detector, see
        :doc:`/reliability`): a high ``score`` (the lumisection is bad but no channel looks
        clearly bad), for one network as for an ensemble; and, with an ensemble
        (``n_estimators > 1``), a low ``agreement``, the share of its networks whose own lowest
        score is that channel. The spread of :meth:`predict_channel_scores` does not tell it:
        it is largest where a channel's score is low in every network, but by how much differs.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        DataFrame of shape (n_samples, 3)
            ``channel`` (the blamed channel's name), ``score`` (its score) and ``agreement``
            (in [0, 1]; 0 where every network puts another channel lowest but their geometric
            mean puts this one; 1.0 with ``n_estimators=1``); the index of X when X is a
            DataFrame. Read it on the lumisections the model finds bad: on a good one every
            score is near 1 and the lowest says little.

        Examples
        --------
        >>> from channeldecomp import ChannelDecompositionClassifier
        >>> from channeldecomp.datasets import make_channel_anomalies
        >>> data = make_channel_anomalies(n_samples=300, n_features_per_channel=3,
        ...                               random_state=0)
        >>> model = ChannelDecompositionClassifier(hidden_layer_sizes=(8,), max_epochs=3,
        ...                                        n_estimators=3, random_state=0)
        >>> blame = model.fit(data.data, data.target).predict_blame(data.data)
        >>> list(blame.columns), sorted(set(blame["agreement"]) - {0.0, 1 / 3, 2 / 3, 1.0})
        (['channel', 'score', 'agreement'], [])
        """
        check_is_fitted(self)
        head_logits = [member[2] for member in self._member_outputs(X)]
        scores = self._channel_frame(_channel_scores(head_logits), X)
        blamed = scores.to_numpy().argmin(axis=1)
        agreement = np.mean([logits.argmin(axis=1) == blamed for logits in head_logits], axis=0)
        return self._blame_frame(scores, agreement)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.allow_nan = False
        return tags
