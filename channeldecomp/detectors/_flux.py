"""Flux+Mutability: a conditional flow of the reference class, and a generated reference
population per sample to decide whether the sample lies outside it."""

from __future__ import annotations

import logging
import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch.callbacks import Callback

from .._device import check_device, inference_device, module_on, private_torch_rng
from .._torch_state import TorchModulesStateMixin
from ._base import ThresholdMixin
from ._calibration import empirical_pvalues
from ._maf import ConditionalMAF
from ._training import Rows, train_self_supervised

__all__ = ["FluxMutability"]

logger = logging.getLogger(__name__)

# Rows pushed through the flow at once when generating populations (samples x population):
# small enough to stay in cache, which is several times faster than one large pass.
_GENERATION_CHUNK_ROWS = 4096
# Pairwise distances held at once by the "distance" mutability (samples x population^2).
_DISTANCE_CHUNK_ENTRIES = 2**22


class NegativeLogLikelihood(torch.nn.Module):
    """Mean negative log-likelihood of a batch, from the flow's log-densities (its output);
    the criterion of the flow's :class:`~._training.SelfSupervisedNet`."""

    def forward(self, log_prob, inputs=None):
        return -log_prob.mean()


class _StopOnDivergence(Callback):
    """Raise a ValueError as soon as an epoch's training loss is not finite."""

    def on_epoch_end(self, net, **kwargs):
        epoch, loss = net.history[-1, "epoch"], net.history[-1, "train_loss"]
        if not np.isfinite(loss):
            raise ValueError(
                f"Training of the flow diverged at epoch {epoch} (loss {loss}). Lower lr, or "
                "check X for extreme values."
            )


class FluxMutability(TorchModulesStateMixin, ThresholdMixin, OutlierMixin, BaseEstimator):
    """Flux+Mutability outlier detector: a conditional flow and a per-sample reference population.

    **Flux**: a conditional masked autoregressive flow learns the density ``p(x | c)`` of the
    reference class, ``x`` the modelled columns of X and ``c`` the conditioning columns (e.g.
    luminosity, pile-up), by maximum likelihood on reference data only. **Mutability**: at
    inference, for each sample the flow generates a reference population *for the sample's own
    conditions*, and the sample is scored by how far outside that population it lies. No
    assumption is made about what anomalies look like.

    Reading of the paper where it is not explicit (only its abstract is at hand):

    - The population is ``population_size`` draws from ``p(x | c)`` at the sample's ``c``. The
      same base-noise draws (fixed at fit) are used for every sample, so a sample's score does not
      depend on which other samples are scored with it, and scores are reproducible.
    - "How far outside" is measured with ``mutability="density"`` (default) as the quantile of the
      sample's log-density among the log-densities of its population: the fraction of generated
      points that are *less* likely than the sample, a conditional p-value (the sample lies in
      the highest-density region holding ``1 - p`` of the reference mass). With
      ``mutability="distance"``, the clustering reading: the sample's mean Euclidean distance (in
      standardised units) to its ``n_neighbors`` nearest generated points, ranked among the same
      statistic of each generated point with respect to the others (the sample included, so
      the sample's rank is uniform under the reference hypothesis).
    - The "quantile cut" is a threshold on that p-value: with ``contamination="auto"`` a sample
      is an outlier when fewer than ``false_alarm_rate`` of its population are less typical than
      it, a false-alarm rate that holds for every condition value when the flow is right.

    The flow is zuko's masked autoregressive flow (``zuko.flows.MAF``; fitting needs zuko
    installed), trained through skorch: Adam on the negative log-likelihood, with early
    stopping on held-out reference rows.

    Parameters
    ----------
    conditions : list of str or list of int, default=None
        The conditioning columns, by name (X must then be a DataFrame) or by integer index. The
        other columns are modelled. ``None``: no conditioning, an unconditional flow of all
        columns (the population is then the same for every sample).
    n_blocks : int, default=4
        MADE blocks of the flow.
    hidden_units : int, default=64
        Width of the hidden layers of each block.
    n_hidden_layers : int, default=2
        Hidden layers per block.
    max_epochs : int, default=100
        Largest number of passes over the training data.
    batch_size : int, default=256
        Rows per gradient step.
    lr : float, default=1e-3
        Learning rate of Adam.
    weight_decay : float, default=1e-6
        L2 penalty of Adam.
    validation_fraction : float, default=0.1
        Fraction of the reference rows held out to stop training early and keep the best epoch;
        0 trains for ``max_epochs`` on all rows.
    n_iter_no_change : int, default=10
        Epochs without improvement of the validation log-likelihood before stopping.
    population_size : int, default=200
        Size of the generated reference population of each sample.
    mutability : {"density", "distance"}, default="density"
        How a sample is compared with its population (see above).
    n_neighbors : int, default=5
        Neighbours of the ``"distance"`` mutability.
    contamination : "auto" or float, default="auto"
        ``"auto"``: the cut is the quantile ``false_alarm_rate`` of the per-sample population
        (``offset_ = false_alarm_rate``). A float in (0, 0.5]: the fraction of the training data
        to flag, ``offset_`` being that quantile of the training scores (as in scikit-learn's
        detectors).
    false_alarm_rate : float, default=0.05
        Target fraction of reference samples flagged, used when ``contamination="auto"``.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the batches, the validation split and the population noise. The
        global numpy and torch random states are left untouched.
    verbose : int, default=0
        When positive, log skorch's progress table of the training (epoch, training and
        validation loss, seconds) at INFO level of logger ``channeldecomp.detectors._flux``.
    device : str or torch.device, default="cpu"
        Torch device that trains, generates and scores, e.g. ``"cuda"`` or ``"cuda:1"``. A CUDA
        device on a machine where torch sees none is an error at ``fit``. The fitted flow is
        kept on the CPU (a model trained on a GPU loads anywhere); each call copies it to
        ``device``, or, when ``device`` is a CUDA device but torch sees none, runs on the CPU
        with a ``UserWarning``.

    Attributes
    ----------
    flow_ : ConditionalMAF
        The trained flow (a torch module, float32, in evaluation mode, on the CPU). Scoring
        and generation run on a float64 copy of it on ``device``, so a sample's score does not
        depend on the batch it is scored in, nor on the CPU's vector width or thread count.
    condition_indices_ : ndarray of int
        Columns of X used as conditions.
    feature_indices_ : ndarray of int
        Columns of X modelled by the flow.
    reference_noise_ : ndarray of shape (population_size, n_modelled)
        Base-noise draws behind every generated population.
    offset_ : float
        ``decision_function = score_samples - offset_``.
    history_ : list of dict
        Per epoch: ``epoch``, ``train_loss`` and (with a validation split) ``valid_loss``, in
        negative log-likelihood per row (standardised units).
    n_iter_ : int
        Epochs run.
    n_features_in_ : int
        Number of columns of X seen in fit.
    feature_names_in_ : ndarray of str
        Column names of X, when X had string column names.

    References
    ----------
    C. Fanelli, J. Giroux, Z. Papandreou, "Flux+Mutability: A Conditional Generative Approach to
    One-Class Classification and Anomaly Detection", arXiv:2204.08609.
    G. Papamakarios, T. Pavlakou, I. Murray, "Masked Autoregressive Flow for Density Estimation",
    arXiv:1705.07057.

    Examples
    --------
    >>> from channeldecomp.datasets import make_conditional_anomalies
    >>> from channeldecomp.detectors import FluxMutability
    >>> train = make_conditional_anomalies(n_samples=300, anomaly_fraction=0.0, random_state=0)
    >>> detector = FluxMutability(
    ...     conditions=["luminosity", "pileup"], max_epochs=5, hidden_units=16,
    ...     population_size=50, random_state=0,
    ... ).fit(train.data)
    >>> scores = detector.score_samples(train.data.iloc[:4])
    >>> scores.shape, bool(((scores > 0) & (scores <= 1)).all())
    ((4,), True)
    """

    _torch_module_attributes = ("flow_",)

    _parameter_constraints: dict = {
        "conditions": [str, list, tuple, np.ndarray, None],
        "n_blocks": [Interval(numbers.Integral, 1, None, closed="left")],
        "hidden_units": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_hidden_layers": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "population_size": [Interval(numbers.Integral, 2, None, closed="left")],
        "mutability": [StrOptions({"density", "distance"})],
        "n_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
        "contamination": [StrOptions({"auto"}), Interval(numbers.Real, 0, 0.5, closed="right")],
        "false_alarm_rate": [Interval(numbers.Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "device": [str, torch.device],
    }

    def __init__(
        self,
        conditions=None,
        *,
        n_blocks=4,
        hidden_units=64,
        n_hidden_layers=2,
        max_epochs=100,
        batch_size=256,
        lr=1e-3,
        weight_decay=1e-6,
        validation_fraction=0.1,
        n_iter_no_change=10,
        population_size=200,
        mutability="density",
        n_neighbors=5,
        contamination="auto",
        false_alarm_rate=0.05,
        random_state=None,
        verbose=0,
        device="cpu",
    ):
        self.conditions = conditions
        self.n_blocks = n_blocks
        self.hidden_units = hidden_units
        self.n_hidden_layers = n_hidden_layers
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.population_size = population_size
        self.mutability = mutability
        self.n_neighbors = n_neighbors
        self.contamination = contamination
        self.false_alarm_rate = false_alarm_rate
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    # -- columns -----------------------------------------------------------------------------

    def _resolve_conditions(self):
        n_features = self.n_features_in_
        if self.conditions is None:
            return np.array([], dtype=np.intp)
        members = list(np.asarray(self.conditions, dtype=object).ravel())
        names = getattr(self, "feature_names_in_", None)
        indices = []
        for member in members:
            if isinstance(member, str):
                if names is None:
                    raise ValueError(
                        f"conditions names the column {member!r}, but X has no column names. "
                        "Pass X as a pandas DataFrame, or give the conditions as integer indices."
                    )
                matches = np.flatnonzero(names == member)
                if matches.size == 0:
                    raise ValueError(
                        f"Condition column {member!r} is not in X; X has columns "
                        f"{list(names)[:10]}. Check the spelling."
                    )
                indices.append(int(matches[0]))
            elif isinstance(member, (numbers.Integral, np.integer)) and not isinstance(
                member, bool
            ):
                if not -n_features <= member < n_features:
                    raise ValueError(
                        f"Condition column index {member} is out of range: X has {n_features} "
                        f"columns (valid indices 0..{n_features - 1})."
                    )
                indices.append(int(member) % n_features)
            else:
                raise TypeError(
                    "conditions must list column names (str) or integer indices; got "
                    f"{member!r} of type {type(member).__name__}."
                )
        indices = np.asarray(indices, dtype=np.intp)
        if np.unique(indices).size != indices.size:
            raise ValueError(f"conditions lists a column twice: {self.conditions!r}.")
        if indices.size >= n_features:
            raise ValueError(
                f"All {n_features} columns of X are conditions; FluxMutability needs at least one "
                "column to model besides the conditions."
            )
        return indices

    def _standardise(self, X):
        features = (X[:, self.feature_indices_] - self._feature_mean_) / self._feature_scale_
        context = (X[:, self.condition_indices_] - self._condition_mean_) / self._condition_scale_
        return features, context

    # -- fit ---------------------------------------------------------------------------------

    def fit(self, X, y=None):
        """Train the flow on reference data.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Reference (good) rows: the modelled columns and the conditions.
        y : None
            Ignored.

        Returns
        -------
        self : FluxMutability
            The fitted detector.
        """
        self._validate_params()
        device = check_device(self.device)
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        self.condition_indices_ = self._resolve_conditions()
        self.feature_indices_ = np.setdiff1d(
            np.arange(self.n_features_in_), self.condition_indices_
        )
        if self.mutability == "distance" and self.n_neighbors >= self.population_size:
            raise ValueError(
                f"n_neighbors={self.n_neighbors} must be smaller than population_size="
                f"{self.population_size}."
            )

        def _location_scale(columns):
            mean = columns.mean(axis=0)
            scale = columns.std(axis=0)
            return mean, np.where(scale > 0, scale, 1.0)

        self._feature_mean_, self._feature_scale_ = _location_scale(X[:, self.feature_indices_])
        self._condition_mean_, self._condition_scale_ = _location_scale(
            X[:, self.condition_indices_]
        )
        features, context = self._standardise(X)

        rng = check_random_state(self.random_state)
        torch_seed = int(rng.randint(np.iinfo(np.int32).max))
        n_samples = features.shape[0]
        order = rng.permutation(n_samples)
        n_valid = int(self.validation_fraction * n_samples)
        if n_valid >= n_samples:
            n_valid = 0
        valid_rows, train_rows = order[:n_valid], order[n_valid:]

        self.flow_ = self._train(features, context, train_rows, valid_rows, rng, torch_seed, device)
        self.reference_noise_ = rng.standard_normal((self.population_size, features.shape[1]))

        if self.contamination == "auto":
            self.offset_ = float(self.false_alarm_rate)
        else:
            self.offset_ = float(
                np.percentile(self._score(features, context), 100.0 * self.contamination)
            )
        return self

    def _train(self, features, context, train_rows, valid_rows, rng, torch_seed, device):
        """Build the flow and train it by maximum likelihood (a skorch net) on ``device``;
        return it on the CPU, in evaluation mode."""

        def rows(index):
            return Rows(
                {
                    "inputs": torch.as_tensor(features[index], dtype=torch.float32, device=device),
                    "context": torch.as_tensor(context[index], dtype=torch.float32, device=device),
                }
            )

        with private_torch_rng(torch_seed, device):
            net = train_self_supervised(
                ConditionalMAF,
                NegativeLogLikelihood,
                rows(train_rows),
                valid_rows=rows(valid_rows) if valid_rows.size else None,
                n_iter_no_change=self.n_iter_no_change,
                module__n_features=features.shape[1],
                module__n_context=context.shape[1],
                module__n_blocks=self.n_blocks,
                module__hidden_units=self.hidden_units,
                module__n_hidden_layers=self.n_hidden_layers,
                optimizer__weight_decay=self.weight_decay,
                lr=self.lr,
                batch_size=self.batch_size,
                max_epochs=self.max_epochs,
                random_state=rng,
                device=device,
                log=logger.info if self.verbose else None,
                callbacks=[("divergence", _StopOnDivergence())],
            )
        # skorch's history, without the per-batch records: epoch and losses as plain numbers.
        self.history_ = [
            {"epoch": int(row["epoch"])}
            | {key: float(row[key]) for key in ("train_loss", "valid_loss") if key in row}
            for row in net.history
        ]
        self.n_iter_ = len(self.history_)
        return net.module_.cpu().eval()

    # -- scoring -----------------------------------------------------------------------------

    def _inference_flow(self, device):
        """A float64 copy of the trained flow on ``device``, in evaluation mode.

        Inference runs in float64 so that a sample's score does not depend on the batch it is
        scored in: float32 kernels round differently with the batch size, the CPU's vector width
        (AVX2 or AVX-512) and the thread count, which moves a log-density by ~1e-7 relative and
        can flip its rank within the population. In float64 those differences stay ~1e-16.
        """
        return module_on(self.flow_, device, torch.float64).eval()

    def _populations(self, flow, context, keep_points):
        """Generated populations for each row of ``context``: (n, m, d) points (or None when
        not kept) and (n, m) log-densities; n = 1 for an unconditional flow."""
        m, d = self.reference_noise_.shape
        device = next(flow.parameters()).device
        noise = torch.as_tensor(self.reference_noise_, dtype=torch.float64, device=device)
        if context.shape[1] == 0:
            context = context[:1]
        n_rows = context.shape[0]
        points = np.empty((n_rows, m, d)) if keep_points else None
        log_prob = np.empty((n_rows, m))
        chunk = max(1, _GENERATION_CHUNK_ROWS // m)
        for start in range(0, n_rows, chunk):
            rows = context[start : start + chunk]
            stop = start + rows.shape[0]
            repeated = torch.as_tensor(
                np.repeat(rows, m, axis=0), dtype=torch.float64, device=device
            )
            chunk_points, chunk_log_prob = flow.sample(noise.repeat(rows.shape[0], 1), repeated)
            if keep_points:
                points[start:stop] = chunk_points.cpu().numpy().reshape(-1, m, d)
            log_prob[start:stop] = chunk_log_prob.cpu().numpy().reshape(-1, m)
        return points, log_prob

    def _score(self, features, context):
        device = inference_device(self)
        flow = self._inference_flow(device)
        if self.mutability == "distance":
            # Populations of (n, m, m) distances: score in chunks to bound memory.
            chunk = max(1, _DISTANCE_CHUNK_ENTRIES // self.population_size**2)
            scores = []
            for start in range(0, features.shape[0], chunk):
                rows = slice(start, start + chunk)
                points, _ = self._populations(flow, context[rows], keep_points=True)
                scores.append(self._distance_score(features[rows], points, device))
            return np.concatenate(scores)
        _, population_log_prob = self._populations(flow, context, keep_points=False)
        with torch.no_grad():
            log_prob = (
                flow.log_prob(
                    torch.as_tensor(features, dtype=torch.float64, device=device),
                    torch.as_tensor(context, dtype=torch.float64, device=device),
                )
                .cpu()
                .numpy()
            )
        if population_log_prob.shape[0] == 1:
            return empirical_pvalues(log_prob, population_log_prob[0])
        return empirical_pvalues(log_prob, population_log_prob)

    def _distance_score(self, features, points, device):
        """k-NN distance of each sample to its population, ranked among the population's own.

        The sample and its ``m`` generated points are treated alike: each point's statistic is
        its mean distance to its ``n_neighbors`` nearest among the other ``m`` (the rest of the
        population and the sample), so under the reference hypothesis the sample's rank is
        uniform among the ``m + 1``.
        """
        k = self.n_neighbors
        points_t = torch.as_tensor(points, device=device)
        samples = torch.as_tensor(features, device=device)
        if points_t.shape[0] == 1:
            points_t = points_t.expand(samples.shape[0], -1, -1)
        to_sample = torch.cdist(points_t, samples[:, None, :])  # (n, m, 1)
        within = torch.cdist(points_t, points_t)
        within.diagonal(dim1=1, dim2=2).fill_(np.inf)
        neighbours = torch.cat([within, to_sample], dim=2)
        population_stat = -neighbours.topk(k, dim=2, largest=False).values.mean(dim=2).cpu().numpy()
        sample_stat = -to_sample[:, :, 0].topk(k, dim=1, largest=False).values.mean(dim=1)
        sample_stat = sample_stat.cpu().numpy()
        return empirical_pvalues(sample_stat, population_stat)

    def score_samples(self, X):
        """Mutability score: how typical each sample is of its own generated population.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Samples, with the same columns as in fit.

        Returns
        -------
        ndarray of shape (n_samples,)
            In (0, 1], higher = more normal; for reference data roughly uniform, for a sample
            outside its population near 0.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self._score(*self._standardise(X))

    def generate(self, conditions, n_samples_per_condition=1, random_state=None):
        """Draw reference-class samples for given conditions (in the units of X).

        Parameters
        ----------
        conditions : array-like of shape (n_conditions, n_condition_columns) or None
            Condition values, columns in the order of ``condition_indices_``; None for an
            unconditional flow.
        n_samples_per_condition : int, default=1
            Draws per row of ``conditions``.
        random_state : int, RandomState instance or None, default=None
            Seed of the base noise.

        Returns
        -------
        ndarray of shape (n_conditions * n_samples_per_condition, n_modelled)
            The modelled columns (``feature_indices_``), condition by condition.
        """
        check_is_fitted(self)
        device = inference_device(self)
        rng = check_random_state(random_state)
        n_context = self.condition_indices_.size
        if n_context == 0:
            context = np.zeros((n_samples_per_condition, 0))
        else:
            conditions = np.asarray(conditions, dtype=np.float64).reshape(-1, n_context)
            conditions = (conditions - self._condition_mean_) / self._condition_scale_
            context = np.repeat(conditions, n_samples_per_condition, axis=0)
        noise = rng.standard_normal((context.shape[0], self.feature_indices_.size))
        points, _ = self._inference_flow(device).sample(
            torch.as_tensor(noise, dtype=torch.float64, device=device),
            torch.as_tensor(context, dtype=torch.float64, device=device),
        )
        return points.cpu().numpy() * self._feature_scale_ + self._feature_mean_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
