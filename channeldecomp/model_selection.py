"""Model selection for channel models: splits by run, the random-partition control, reliability.

:class:`RunSplit` holds out whole runs, stratified by fault mode, so that a fault episode never
sits on both sides and every fault mode with episodes in several runs is seen in training and
in the test alike. :func:`random_partition_control` refits a channel model with its columns
split into random channels (the paper's control). These fit or split; the metrics they report
are the pure functions of :mod:`channeldecomp.metrics`. :func:`channel_reliability` tells,
from the global label alone, which channels' scores can be trusted.
"""

from __future__ import annotations

import itertools
import numbers
import warnings

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import (
    BaseCrossValidator,
    GroupShuffleSplit,
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)
from sklearn.utils import Bunch, check_consistent_length, check_random_state

from ._validation import check_sample_weight, take_rows
from .base import get_channel_model, get_channel_scores, predict_good_proba
from .metrics import (
    bad_only_decomposition_auc,
    channel_subsystem_auc,
    decomposition_auc,
    fault_mode_indicators,
)

__all__ = [
    "RELIABILITY_THRESHOLD",
    "RunSplit",
    "channel_reliability",
    "random_channel_partition",
    "random_partition_control",
    "reliability_warnings",
]

#: ``reliable`` is ``reliability >= RELIABILITY_THRESHOLD`` in :func:`channel_reliability`.
RELIABILITY_THRESHOLD = 0.4


def _rarest_mode(fault_mode):
    """Each LS's rarest fault mode (``"subsystem:mode"``), ``""`` for a LS without one."""
    modes = fault_mode_indicators(fault_mode)
    label = np.full(len(fault_mode), "")
    if modes.shape[1]:
        label = np.where(modes.any(axis=1), (modes / modes.sum()).idxmax(axis=1), "")
    return label


class RunSplit(BaseCrossValidator):
    """Hold out whole runs, stratified by fault mode: one train/test split.

    A fault lasts for consecutive lumisections of a run, so a split by lumisection puts one
    fault episode on both sides. This splitter holds out whole runs (``groups``).

    With ``stratify=True``, the runs are dealt to the folds of a shuffled
    ``StratifiedGroupKFold`` with ``round(1 / test_size)`` folds and the first fold is the test
    set, stratified by ``strata``. Given the fault modes (a DataFrame, one column per
    subsystem), each lumisection is labelled by its rarest fault mode, so every fault mode with
    episodes in several runs is seen in training and in the test alike. A plain split of some
    fifty runs can otherwise put nearly all of a mode into the test set, which turns the
    held-out AUC into a test of faults hardly trained on. With ``stratify=False``, whole runs in
    random order go to the test set as long as it stays within ``test_size + 0.05`` of the
    lumisections.

    With fewer runs than folds, or when ``y`` is given and one side would lack one of its
    classes, the lumisections are dealt at random one by one instead (each in the test with
    probability ``test_size``), with a warning: runs then sit on both sides.

    Parameters
    ----------
    test_size : float in (0, 1), default=0.25
        About the fraction of lumisections held out; with ``stratify``, the test set is one of
        ``round(1 / test_size)`` folds (at least 2).
    stratify : bool, default=True
        Stratify the runs by ``strata`` (see above), or deal them at random.
    random_state : int, RandomState instance or None, default=None
        Seed of the split; the same integer gives the same split.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> runs = np.repeat(np.arange(12), 5)
    >>> modes = pd.DataFrame({"DT": np.where(runs % 4 == 0, "dead_region", "")})
    >>> splitter = RunSplit(test_size=0.35, random_state=0)
    >>> train, test = next(splitter.split(np.zeros((60, 1)), groups=runs, strata=modes))
    >>> sorted(set(runs[test]) & set(runs[train]))
    []
    >>> int((modes["DT"].iloc[train] != "").sum()), int((modes["DT"].iloc[test] != "").sum())
    (10, 5)
    """

    # groups and strata reach split through scikit-learn's metadata routing.
    __metadata_request__split = {"groups": True, "strata": True}

    def __init__(self, test_size=0.25, *, stratify=True, random_state=None):
        self.test_size = test_size
        self.stratify = stratify
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None):
        """The number of splits: 1.

        Parameters
        ----------
        X, y, groups : object
            Ignored.

        Returns
        -------
        int
            1.
        """
        return 1

    def split(self, X, y=None, groups=None, strata=None):
        """Yield the one (train, test) pair of row indices.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows (only their number is read).
        y : array-like of shape (n_samples,), default=None
            Global labels: when given, both sides must hold every class (see above); without
            ``strata``, also the stratification.
        groups : array-like of shape (n_samples,)
            The run of each lumisection.
        strata : DataFrame of shape (n_samples, n_subsystems) or array-like of shape \
                (n_samples,), default=None
            The fault mode of each lumisection in each subsystem (``""`` for none), each
            lumisection then stratified by its rarest mode; or one stratum label per
            lumisection. None: ``y``.

        Yields
        ------
        train, test : ndarray of int
            Row indices, ascending.
        """
        if groups is None:
            raise ValueError(
                "RunSplit holds out whole runs: pass groups= the run of each lumisection."
            )
        if not isinstance(self.test_size, numbers.Real) or not 0 < self.test_size < 1:
            raise ValueError(f"test_size must be in (0, 1); got {self.test_size!r}.")
        runs = np.asarray(groups)
        check_consistent_length(X, runs, y, strata)
        if isinstance(strata, pd.DataFrame):
            labels = _rarest_mode(strata)
        elif strata is not None:
            labels = np.asarray(strata)
        elif y is not None:
            labels = np.asarray(y)
        else:
            labels = np.full(len(runs), "")
        test = self._test_mask(runs, labels, None if y is None else np.asarray(y))
        rows = np.arange(len(runs))
        yield rows[~test], rows[test]

    def _seed(self):
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(2**31))

    def _test_mask(self, runs, labels, y):
        seed, test_size = self._seed(), self.test_size
        n_splits = max(2, round(1 / test_size))
        test = None
        if not self.stratify:
            test = _deal_runs(runs, test_size, seed)
        elif len(np.unique(runs)) >= n_splits:
            cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
            with warnings.catch_warnings():
                # A mode seen in fewer LS than folds is expected (short episodes).
                warnings.filterwarnings("ignore", message="The least populated class")
                _, test_index = next(cv.split(np.zeros(len(runs)), labels, runs))
            test = np.zeros(len(runs), dtype=bool)
            test[test_index] = True
        if test is None:
            reason = f"{len(np.unique(runs))} run(s) for {n_splits} folds"
        elif y is not None and (len(np.unique(y[test])) < 2 or len(np.unique(y[~test])) < 2):
            reason = "a split by whole runs leaves one side without one of y's classes"
        else:
            return test
        warnings.warn(
            f"RunSplit: {reason}; the lumisections are dealt at random one by one instead, so "
            "runs sit on both sides.",
            UserWarning,
            stacklevel=3,
        )
        return np.random.default_rng(seed).random(len(runs)) < test_size


def _deal_runs(runs, test_size, seed):
    """Whole runs in random order into the test set while it stays near ``test_size``."""
    unique_runs = np.random.default_rng(seed).permutation(np.unique(runs))
    sizes = pd.Series(runs).value_counts()
    target = test_size * len(runs)
    test_runs, n_test = [], 0
    for run in unique_runs:
        if n_test + sizes[run] <= target + 0.05 * len(runs):
            test_runs.append(run)
            n_test += sizes[run]
    return np.isin(runs, test_runs)


def random_channel_partition(sizes, n_features, random_state=None):
    """Split ``n_features`` columns at random into groups of the given sizes.

    The channels of the random-partition control: the same number of channels with the same
    numbers of columns, but no relation to the physical grouping.

    Parameters
    ----------
    sizes : sequence of int
        Columns per group; they must sum to at most ``n_features``.
    n_features : int
        Number of columns to draw from.
    random_state : int, RandomState instance or None, default=None
        Seed of the permutation.

    Returns
    -------
    list of ndarray of int
        Sorted column indices of each group.

    Raises
    ------
    ValueError
        When the sizes need more columns than ``n_features``, or a size is negative.

    Examples
    --------
    >>> [group.tolist() for group in random_channel_partition([2, 3], 5, random_state=0)]
    [[0, 2], [1, 3, 4]]
    """
    sizes = [int(s) for s in sizes]
    if any(s < 0 for s in sizes):
        raise ValueError(f"Group sizes must be non-negative; got {sizes}.")
    if sum(sizes) > n_features:
        raise ValueError(f"Group sizes {sizes} need {sum(sizes)} columns; X has {n_features}.")
    permutation = check_random_state(random_state).permutation(n_features)
    bounds = np.cumsum([0, *sizes])
    return [np.sort(permutation[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def _final_step(estimator):
    """The last step of a Pipeline (or the estimator itself) and its parameter prefix."""
    steps = getattr(estimator, "steps", None)
    if steps:
        name, final = steps[-1]
        return final, f"{name}__"
    return estimator, ""


def _evaluate(model, X, y, *, subsystem_labels, channel_truth, sample_weight, good_label):
    """The control's metrics of one fitted model on the held-out rows."""
    scores = get_channel_scores(model, X)
    y_good = (np.asarray(y) == good_label).astype(int)
    p_good = predict_good_proba(model, X, good_label)
    result = Bunch(
        global_auc=float(roc_auc_score(y_good, p_good, sample_weight=sample_weight)),
        channel_auc=channel_subsystem_auc(
            scores,
            pd.DataFrame({"global": y_good}, index=scores.index),
            sample_weight=sample_weight,
        )["global"].rename("channel_auc"),
    )
    if subsystem_labels is not None:
        labels = subsystem_labels
        if isinstance(labels, pd.DataFrame):
            labels = labels.set_axis(scores.index, axis=0)
        result.channel_subsystem_auc = channel_subsystem_auc(
            scores, labels, sample_weight=sample_weight
        )
    if channel_truth is not None:
        truth = channel_truth
        if isinstance(truth, pd.DataFrame):
            truth = truth.set_axis(scores.index, axis=0)
        result.decomposition_auc = decomposition_auc(scores, truth, sample_weight=sample_weight)
        result.bad_only_decomposition_auc = bad_only_decomposition_auc(
            scores, truth, y_good, sample_weight=sample_weight
        )
    return result


def random_partition_control(
    estimator,
    X,
    y,
    *,
    subsystem_labels=None,
    channel_truth=None,
    sample_weight=None,
    n_repeats=1,
    test_size=0.25,
    groups=None,
    good_label=1,
    random_state=None,
):
    """Refit with the features split into random channels of the same sizes.

    The control experiment of the paper's discussion: if a model whose channels are *random*
    groups of columns reaches nearly the same channel x subsystem AUC matrix, that matrix
    measures correlation with the global label, not decomposition. The estimator (a channel
    model with a ``channels`` parameter, or a Pipeline ending in one) is cloned and fitted once
    with its own channels (the reference) and ``n_repeats`` times with random channels, on the
    same stratified training split; all are evaluated on the same held-out split.

    The random channels keep the names and sizes of the reference's channels (channel ``c`` of
    a random model has as many columns as ``c``, drawn at random by
    :func:`channeldecomp.model_selection.random_channel_partition`), so the metrics line up
    row by row.

    Parameters
    ----------
    estimator : estimator
        Unfitted (or fitted: it is cloned) classifier with a ``channels`` parameter and
        ``predict_channel_scores``, or a Pipeline ending in one.
    X : DataFrame or array-like of shape (n_samples, n_features)
        Features.
    y : array-like of shape (n_samples,)
        Global labels.
    subsystem_labels : DataFrame or array-like of shape (n_samples, n_subsystems), default=None
        Expert flags per subsystem (1 = good); adds ``channel_subsystem_auc``.
    channel_truth : DataFrame of shape (n_samples, n_channels), default=None
        Known per-channel truth (1 = nothing visible); adds ``decomposition_auc``.
    sample_weight : array-like of shape (n_samples,), default=None
        Passed to ``fit`` (as ``sample_weight``, routed to the final step of a Pipeline) and
        to the metrics.
    n_repeats : int, default=1
        Number of random partitions.
    test_size : float in (0, 1), default=0.25
        Fraction of lumisections held out for evaluation.
    groups : array-like of shape (n_samples,), default=None
        Group of each lumisection, e.g. its run: whole groups are held out
        (``GroupShuffleSplit``), so lumisections of one fault episode never sit on both sides.
        Default: a stratified split of the lumisections.
    good_label : int or str, default=1
        The label that means good.
    random_state : int, RandomState instance or None, default=None
        Seed of the split and of the partitions (the estimator's own ``random_state`` is
        left as given).

    Returns
    -------
    result : sklearn.utils.Bunch
        ``reference``: metrics of the estimator with its own channels; ``random``: list of
        metrics, one per partition; ``partitions``: list of ``{channel: column indices}``.
        Each metrics Bunch holds ``global_auc``, ``channel_auc`` (each channel's score against
        the global label) and, when the inputs are given, ``channel_subsystem_auc``,
        ``decomposition_auc`` and ``bad_only_decomposition_auc`` (the same over the globally
        bad lumisections only, where a score must tell which channel is bad: a global detector
        scores 0.5 there).

    Examples
    --------
    >>> from channeldecomp import ChannelDecompositionClassifier
    >>> from channeldecomp.datasets import make_channel_anomalies
    >>> data = make_channel_anomalies(n_samples=400, n_features_per_channel=4, random_state=0)
    >>> model = ChannelDecompositionClassifier(hidden_layer_sizes=(8,), max_epochs=2,
    ...                                        random_state=0)
    >>> control = random_partition_control(
    ...     model, data.data, data.target, channel_truth=data.channel_truth, random_state=0
    ... )
    >>> {channel: len(columns) for channel, columns in control.partitions[0].items()}
    {'muons': 4, 'photons': 4, 'pf': 4, 'calo_jets': 4}
    >>> list(control.random[0].decomposition_auc.index) == data.channel_names
    True
    """
    if not isinstance(n_repeats, numbers.Integral) or n_repeats < 1:
        raise ValueError(f"n_repeats must be a positive integer; got {n_repeats!r}.")
    final, prefix = _final_step(estimator)
    if "channels" not in final.get_params(deep=False):
        raise TypeError(
            f"{type(final).__name__} has no 'channels' parameter: random_partition_control needs "
            "a channel model (ChannelDecompositionClassifier, a model of channeldecomp.baselines) "
            "or a Pipeline ending in one."
        )
    n_samples = len(y)
    if len(X) != n_samples:
        raise ValueError(f"X has {len(X)} rows but y has {n_samples}.")
    for name, values in (("subsystem_labels", subsystem_labels), ("channel_truth", channel_truth)):
        if values is not None and len(values) != n_samples:
            raise ValueError(f"{name} has {len(values)} rows but y has {n_samples}.")
    weight = None if sample_weight is None else check_sample_weight(sample_weight, n_samples)
    rng = check_random_state(random_state)
    y_array = np.asarray(y)
    if groups is None:
        train, test = train_test_split(
            np.arange(n_samples), test_size=test_size, stratify=y_array, random_state=rng
        )
    else:
        if len(groups) != n_samples:
            raise ValueError(f"groups has {len(groups)} rows but y has {n_samples}.")
        splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=rng)
        train, test = next(splitter.split(np.zeros(n_samples), y_array, groups=np.asarray(groups)))

    def fit_and_evaluate(model):
        fit_params = {}
        if weight is not None:
            fit_params[f"{prefix}sample_weight"] = weight[train]
        model.fit(take_rows(X, train), take_rows(y, train), **fit_params)
        return _evaluate(
            model,
            take_rows(X, test),
            y_array[test],
            subsystem_labels=take_rows(subsystem_labels, test),
            channel_truth=take_rows(channel_truth, test),
            sample_weight=None if weight is None else weight[test],
            good_label=good_label,
        )

    reference_model = clone(estimator)
    reference = fit_and_evaluate(reference_model)
    fitted_final = get_channel_model(reference_model)
    channel_indices = fitted_final.channel_indices_
    names = list(fitted_final.channel_names_)
    sizes = [len(channel_indices[name]) for name in names]
    n_features = fitted_final.n_features_in_

    partitions, random_results = [], []
    for _ in range(n_repeats):
        groups = random_channel_partition(sizes, n_features, rng)
        partition = {name: group.tolist() for name, group in zip(names, groups)}
        model = clone(estimator).set_params(**{f"{prefix}channels": partition})
        random_results.append(fit_and_evaluate(model))
        partitions.append(partition)
    return Bunch(reference=reference, random=random_results, partitions=partitions)


def _reseeded(estimator, seed):
    """A clone whose final step has ``random_state=seed`` (when it has that parameter)."""
    final, prefix = _final_step(estimator)
    model = clone(estimator)
    if "random_state" in final.get_params(deep=False):
        model.set_params(**{f"{prefix}random_state": seed})
    return model


def _cross_fitted_scores(estimator, X, y, groups, cv, seed, fit_params):
    """Channel scores of every row from a clone fitted on the other folds (by group)."""
    y_array = np.asarray(y)
    if groups is None:
        folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
        split = folds.split(np.zeros(len(y_array)), y_array)
    else:
        folds = StratifiedGroupKFold(n_splits=cv, shuffle=True, random_state=seed)
        split = folds.split(np.zeros(len(y_array)), y_array, groups)
    scores = None
    for train, test in split:
        if len(np.unique(y_array[train])) < 2:
            raise ValueError(
                "channel_reliability: a cross-validation fold trains on one class only; pass "
                "fewer folds (cv) or data with bad lumisections in more runs."
            )
        model = clone(estimator).fit(take_rows(X, train), y_array[train], **fit_params(train))
        fold_scores = get_channel_scores(model, take_rows(X, test))
        if scores is None:
            scores = pd.DataFrame(np.nan, index=range(len(y_array)), columns=fold_scores.columns)
        scores.iloc[test] = fold_scores.to_numpy()
    return scores


def _claims(claim_scores, is_good, false_alarm_rate):
    """The rows one refit flags: below the ``false_alarm_rate`` quantile of the good rows'
    ``claim_scores``. Returns the bad ones flagged (the *claims*) and the good ones (the false
    alarms), as bool arrays."""
    flagged = claim_scores < np.quantile(claim_scores[is_good], false_alarm_rate)
    return flagged & ~is_good, flagged & is_good


def _replicated_claims(
    claim_scores, check_scores, is_good, false_alarm_rate, blamed=None, runs=None
):
    """Do the bad rows one refit flags stay flagged in another, more than its good flags do?

    The claims and false alarms of ``claim_scores`` are those of :func:`_claims`. Returns the
    ROC AUC, in ``check_scores``, of the claims against the good rows flagged alike (the false
    alarms: what chance agreement of two fits gives), the same against all good rows, the number
    of claims and the share of the claims that ``blamed`` (bool per row: the channel has the
    lowest score of all channels in the refit of ``claim_scores``) marks; 1 without ``blamed``,
    NaN without a claim; and the number of runs the claims lie in (``runs``: the run of each
    row; without it each row counts as a run). The AUCs are NaN with fewer than two claims or
    no flagged good row.
    """
    claimed, false_alarms = _claims(claim_scores, is_good, false_alarm_rate)
    n_claimed = int(claimed.sum())
    n_runs = n_claimed if runs is None else len(np.unique(runs[claimed]))
    if n_claimed == 0:
        blamed_share = np.nan
    else:
        blamed_share = 1.0 if blamed is None else float(blamed[claimed].mean())
    if n_claimed < 2 or not false_alarms.any():
        return np.nan, np.nan, n_claimed, blamed_share, n_runs
    against_alarms = claimed | false_alarms
    against_good = claimed | is_good
    return (
        float(roc_auc_score(claimed[against_alarms], -check_scores[against_alarms])),
        float(roc_auc_score(claimed[against_good], -check_scores[against_good])),
        n_claimed,
        blamed_share,
        n_runs,
    )


def _reliability_of(
    repeats, is_good, false_alarm_rate, min_claimed, blamed=None, runs=None, min_claim_runs=0.0
):
    """One channel's statistic over the ordered pairs of its held-out scores ``repeats``.

    ``blamed``: per repeat, a bool per row (the channel has the lowest score of all channels
    in that repeat), or None. ``runs``: the run of each row, or None (each row a run of its
    own). Returns per pair: the reliability ``clip(2 AUC - 1, 0, 1) * n / (n + min_claimed) *
    r / (r + min_claim_runs)`` (0 when the AUC is undefined), the replicated claim AUC, the AUC
    against all good rows, the number of claims ``n``, the share of them the channel is blamed
    for (see :func:`_replicated_claims`) and the number of runs ``r`` the claims lie in.
    """
    values, aucs, aucs_vs_good, claims, shares, claim_runs = [], [], [], [], [], []
    for a, b in itertools.permutations(range(len(repeats)), 2):
        auc, auc_vs_good, n_claimed, share, n_runs = _replicated_claims(
            repeats[a], repeats[b], is_good, false_alarm_rate,
            None if blamed is None else blamed[a], runs,
        )  # fmt: skip
        evidence = n_claimed / (n_claimed + min_claimed)
        if min_claim_runs > 0:
            evidence *= n_runs / (n_runs + min_claim_runs)
        values.append(0.0 if np.isnan(auc) else np.clip(2 * auc - 1, 0, 1) * evidence)
        aucs.append(auc)
        aucs_vs_good.append(auc_vs_good)
        claims.append(n_claimed)
        shares.append(share)
        claim_runs.append(n_runs)
    return values, aucs, aucs_vs_good, claims, shares, claim_runs


def _nanmean(values):
    return np.nan if np.isnan(values).all() else float(np.nanmean(values))


def channel_reliability(
    estimator,
    X,
    y,
    *,
    groups=None,
    cv=5,
    n_repeats=2,
    false_alarm_rate=0.02,
    min_claimed=20,
    min_claim_runs=0.5,
    threshold=RELIABILITY_THRESHOLD,
    good_label=1,
    sample_weight=None,
    random_state=None,
):
    """How far each channel's scores can be trusted, from the global label alone.

    A channel score is worth acting on when the bad lumisections it flags are flagged for a
    reason in the data, not by chance of one fit. This is measured without channel truth by
    cross-fitting: the estimator is refitted ``n_repeats`` times over ``cv`` folds of whole
    runs (``groups``, stratified by the global label so that every training fold holds its
    share of the bad lumisections), each repeat with its own seed of the folds and of the
    estimator (its ``random_state``, drawn from ``random_state``), so every lumisection gets
    ``n_repeats`` held-out channel scores from independent refits, none of which saw its run.
    (With a few runs the stratified folds leave little choice and are often the same in every
    repeat; the refits still differ by their seed.) For each channel and each ordered pair of
    repeats (a, b):

    1. the *claims* of repeat a: the bad lumisections whose score is below the
       ``false_alarm_rate`` quantile of the good lumisections' scores (what the channel would
       flag at that false-alarm rate);
    2. the *replicated claim AUC*: the ROC AUC of repeat b's scores, the claims against the
       good lumisections repeat a flagged alike (its false alarms). A channel that sees its
       faults flags its claims again and not its false alarms (AUC near 1); a channel whose
       flags are noise, or a function of its inputs that has nothing to do with the faults
       (two fits on overlapping runs can learn the same one), treats both alike (AUC 0.5).

    ``reliability = clip(2 * AUC - 1, 0, 1) * n / (n + min_claimed) * r / (r +
    min_claim_runs)``, the mean over pairs, where ``n`` is the number of claims and ``r`` the
    number of runs they lie in: a channel that flags only a handful of bad lumisections gives
    too little evidence to vouch for it, and so does one whose claims all sit in one or two
    runs, where refits sharing those runs can agree for reasons of those runs alone. Without
    ``groups`` each lumisection counts as a run of its own. ``reliable`` is ``reliability >=
    threshold``. The defaults (claims at a 2 % false-alarm rate, ``min_claimed=20``,
    ``min_claim_runs=0.5``, threshold 0.4) were chosen on simulated-detector seeds apart from
    those of the validation (seeds 5-16, 448 (cell, channel) pairs). On the validation seeds
    0-4, over the learning curve's whole grid (1,000-16,000 lumisections x 200 and 500 events x
    two difficulties: 400 pairs), against each channel's true decomposition AUC on a fresh
    simulation of the same detector, the rank correlation was 0.744, 36 of the 40 channels
    below 0.7 were marked not reliable and 1 of the 92 above 0.95 (``docs/reliability.md``;
    two of the four misses are channels whose training runs lack a fault mode they see on
    fresh data). At 1,000-2,000 lumisections, where a channel's faults
    sit in a few runs that some refits never see, the statistic is conservative. Read
    ``reliable=False`` as "not shown to be trustworthy", not as "shown to be wrong".

    Parameters
    ----------
    estimator : estimator
        Unfitted (or fitted: it is cloned) channel model, or a Pipeline ending in one, e.g.
        :class:`~channeldecomp.ChannelDecompositionClassifier`.
    X : DataFrame or array-like of shape (n_samples, n_features)
        Features of the lumisections.
    y : array-like of shape (n_samples,)
        Global labels.
    groups : array-like of shape (n_samples,), default=None
        The run of each lumisection: folds hold out whole runs, so a fault episode never
        sits on both sides. Without it, lumisections are dealt to folds one by one, which
        overstates reliability when faults last several lumisections.
    cv : int, default=5
        Number of folds (at least 2); each repeat fits the estimator ``cv`` times.
    n_repeats : int, default=2
        Number of cross-fits with different folds (at least 2): ``cv * n_repeats`` fits.
    false_alarm_rate : float in (0, 1), default=0.02
        Fraction of good lumisections a channel may flag when its claims are drawn.
    min_claimed : int, default=20
        Number of claimed bad lumisections at which the evidence counts half.
    min_claim_runs : float, default=0.5
        The evidence of claims in ``r`` runs is scaled by ``r / (r + min_claim_runs)``
        (2/3 for one run, 0.8 for two); 0 leaves it out.
    threshold : float, default=RELIABILITY_THRESHOLD
        ``reliable`` is ``reliability >= threshold``.
    good_label : int or str, default=1
        The label that means good.
    sample_weight : array-like of shape (n_samples,), default=None
        Passed to ``fit`` (routed to the final step of a Pipeline); the metrics are unweighted.
    random_state : int, RandomState instance or None, default=None
        Seed of the fold assignments and of each repeat's refits: the estimator's (final
        step's) ``random_state``, when it has one, is replaced by a seed drawn from it, one per
        repeat, so that the repeats are independent fits.

    Returns
    -------
    DataFrame
        Indexed by channel name: ``reliability`` (in [0, 1], higher = trustworthy),
        ``reliable`` (bool), ``replicated_auc`` (mean replicated claim AUC; NaN when the
        channel claims fewer than two bad lumisections), ``replicated_auc_vs_good`` (the
        claims against all good lumisections instead of the false alarms), ``claimed`` (mean
        number of claimed bad lumisections), ``claim_runs`` (mean number of runs the claims
        lie in; the number of claims without ``groups``), ``blamed_share`` (mean share of the
        claims on which the channel has the lowest score of all channels, i.e. is blamed; NaN
        without a claim; a diagnostic, not part of ``reliability``: see
        ``docs/reliability.md``), ``heldout_auc`` (mean ROC AUC of the held-out score against
        the global label, bad = positive). ``attrs["threshold"]`` holds ``threshold``.

    Raises
    ------
    ValueError
        When ``cv`` or ``n_repeats`` is below 2, the inputs' lengths differ, y does not hold
        two classes with ``good_label`` one of them, or a fold trains on one class only.
    TypeError
        When the estimator is not a channel model.

    Examples
    --------
    >>> from channeldecomp import ChannelDecompositionClassifier
    >>> from channeldecomp.datasets import make_channel_anomalies
    >>> data = make_channel_anomalies(n_samples=300, n_features_per_channel=3, random_state=0)
    >>> model = ChannelDecompositionClassifier(hidden_layer_sizes=(8,), max_epochs=3,
    ...                                        random_state=0)
    >>> table = channel_reliability(model, data.data, data.target, cv=2, random_state=0)
    >>> list(table.columns[:2]), list(table.index) == data.channel_names
    (['reliability', 'reliable'], True)
    """
    final, prefix = _final_step(estimator)
    if not hasattr(final, "predict_channel_scores"):
        raise TypeError(
            f"{type(final).__name__} has no predict_channel_scores: channel_reliability needs a "
            "channel model (ChannelDecompositionClassifier, a model of channeldecomp.baselines) "
            "or a Pipeline ending in one."
        )
    for name, value in (("cv", cv), ("n_repeats", n_repeats)):
        if not isinstance(value, numbers.Integral) or value < 2:
            raise ValueError(f"{name} must be an integer of at least 2; got {value!r}.")
    if not 0 < false_alarm_rate < 1:
        raise ValueError(f"false_alarm_rate must be in (0, 1); got {false_alarm_rate!r}.")
    if isinstance(min_claim_runs, bool) or not (
        isinstance(min_claim_runs, numbers.Real) and min_claim_runs >= 0
    ):
        raise ValueError(f"min_claim_runs must be a number of at least 0; got {min_claim_runs!r}.")
    y_array = np.asarray(y)
    check_consistent_length(X, y_array, groups, sample_weight)
    classes = np.unique(y_array)
    if len(classes) != 2 or good_label not in classes.tolist():
        raise ValueError(
            f"y must hold two classes, one of them good_label={good_label!r}; got classes "
            f"{classes.tolist()}."
        )
    is_good = y_array == good_label
    weight = None if sample_weight is None else check_sample_weight(sample_weight, len(y_array))

    def fit_params(train):
        return {} if weight is None else {f"{prefix}sample_weight": weight[train]}

    rng = check_random_state(random_state)
    groups = None if groups is None else np.asarray(groups)
    repeats = []
    for _ in range(n_repeats):
        seed = int(rng.randint(2**31))
        model = _reseeded(estimator, seed)
        repeats.append(_cross_fitted_scores(model, X, y_array, groups, cv, seed, fit_params))
    names = list(repeats[0].columns)
    repeats = [scores.to_numpy() for scores in repeats]
    lowest = [scores.argmin(axis=1) for scores in repeats]  # the blamed channel of each row
    rows = {}
    for position, name in enumerate(names):
        values, aucs, aucs_vs_good, claims, shares, claim_runs = _reliability_of(
            [scores[:, position] for scores in repeats],
            is_good,
            false_alarm_rate,
            min_claimed,
            blamed=[blamed == position for blamed in lowest],
            runs=groups,
            min_claim_runs=min_claim_runs,
        )
        heldout = [roc_auc_score(~is_good, -scores[:, position]) for scores in repeats]
        rows[name] = {
            "reliability": float(np.mean(values)),
            "replicated_auc": _nanmean(aucs),
            "replicated_auc_vs_good": _nanmean(aucs_vs_good),
            "claimed": float(np.mean(claims)),
            "claim_runs": float(np.mean(claim_runs)),
            "blamed_share": _nanmean(shares),
            "heldout_auc": float(np.mean(heldout)),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.insert(1, "reliable", table["reliability"] >= threshold)
    table.index.name = "channel"
    table.attrs["threshold"] = threshold
    return table


def reliability_warnings(reliability):
    """One sentence per channel that :func:`channel_reliability` marks not reliable.

    What the demo, the report and the command line print next to the channel scores.

    Parameters
    ----------
    reliability : DataFrame
        The table of :func:`channel_reliability` (indexed by channel, with ``reliability``
        and ``reliable`` columns).

    Returns
    -------
    list of str
        Empty when every channel is reliable.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"reliability": [0.9, 0.2], "reliable": [True, False]},
    ...                      index=["muons", "photons"])
    >>> reliability_warnings(table)[0].split(":")[0]
    "Channel 'photons' is not reliable (reliability 0.20 < 0.40)"
    """
    missing = {"reliability", "reliable"} - set(reliability.columns)
    if missing:
        raise ValueError(
            f"reliability lacks the column(s) {sorted(missing)}; pass the table of "
            "channel_reliability."
        )
    threshold = reliability.attrs.get("threshold", RELIABILITY_THRESHOLD)
    return [
        f"Channel {channel!r} is not reliable (reliability {row['reliability']:.2f} < "
        f"{threshold:.2f}): the bad lumisections it flags are not flagged again, apart from "
        "its false alarms, by independent refits on other runs, or it flags too few "
        "of them to tell; so its score may blame it for faults it does not see. More "
        "lumisections, more runs with faults, or merging it with a related channel would help."
        for channel, row in reliability.iterrows()
        if not row["reliable"]
    ]
