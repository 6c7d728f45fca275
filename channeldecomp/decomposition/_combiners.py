"""Combiners: how the heads' channel scores make the global probability of "good".

A combiner is a small torch module: built with the number of channels, called with the head
logits ``h`` of shape (n, n_channels) (the channel scores are ``f_i = sigmoid(h_i)``) and an
optional boolean mask of heads dropped for this batch (their score counts as 1, "no anomaly
seen"). It returns ``(log P(good), log P(bad))``, both of shape (n,), computed in log space so
the loss stays finite when the heads saturate. :data:`COMBINERS` maps the names the classifier's
``combiner`` parameter accepts to the classes.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["COMBINERS", "Combiner", "FuzzyAnd", "LogisticCombiner", "MinCombiner", "get_combiner"]

# log P(bad) = log(1 - exp(log P(good))) needs log P(good) < 0; a fully saturated network would
# give exactly 0 in float32. Keeping it below -_LOG_EPS bounds P(good) by 1 - 1e-7.
_LOG_EPS = 1e-7


def _log1mexp(log_p):
    """Return ``log(1 - exp(log_p))`` for ``log_p < 0``, accurately."""
    log_p = torch.clamp(log_p, max=-_LOG_EPS)
    # The two branches of Maechler (2012): expm1 near 0, log1p(-exp) further away.
    return torch.where(
        log_p > -0.6931471805599453,
        torch.log(-torch.expm1(log_p)),
        torch.log1p(-torch.exp(log_p)),
    )


class Combiner(nn.Module):
    """Base class of the combiners: head logits in, ``(log P(good), log P(bad))`` out.

    A subclass takes ``n_channels`` in its constructor and implements :meth:`forward`. Pass the
    class as the classifier's ``combiner`` to use it.

    Parameters
    ----------
    n_channels : int
        Number of heads.

    Attributes
    ----------
    default_head_dropout : float
        The head dropout of ``head_dropout="auto"`` with this combiner.
    """

    default_head_dropout = 0.0

    def __init__(self, n_channels):
        super().__init__()
        self.n_channels = int(n_channels)

    def forward(self, head_logits, dropped=None):
        """Combine the head logits into ``(log P(good), log P(bad))``.

        Parameters
        ----------
        head_logits : Tensor of shape (n, n_channels)
            The heads' logits.
        dropped : bool Tensor of shape (n, n_channels) or None
            Heads dropped for this batch (training only): their score counts as 1.

        Returns
        -------
        log_p_good, log_p_bad : Tensor of shape (n,)
        """
        raise NotImplementedError(f"{type(self).__name__} must implement forward.")

    @staticmethod
    def _scores(head_logits, dropped):
        scores = torch.sigmoid(head_logits)
        if dropped is not None:
            scores = scores.masked_fill(dropped, 1.0)
        return scores


class FuzzyAnd(Combiner):
    """The Fuzzy AND: ``P(good) = exp(sum_i (f_i - 1))``.

    One bad head is enough to make the row bad, and a head gains nothing by flagging what it
    cannot see. No parameters.
    """

    default_head_dropout = 0.1

    def forward(self, head_logits, dropped=None):
        # f_i - 1 = -sigmoid(-h_i), exact also when f_i rounds to 1. A dropped head's score is
        # 1: its term is 0.
        terms = torch.sigmoid(-head_logits)
        if dropped is not None:
            terms = terms.masked_fill(dropped, 0.0)
        log_p_good = -terms.sum(dim=1)
        return log_p_good, _log1mexp(log_p_good)


class MinCombiner(Combiner):
    """``P(good) = sigmoid(a * min_i f_i + b)``, ``a > 0`` and ``b`` learned.

    ``a = softplus(raw_scale)``, initialised at the paper's fixed ``a = 3`` (with ``b = 0``).
    """

    default_head_dropout = 0.1

    def __init__(self, n_channels):
        super().__init__(n_channels)
        self.raw_scale = nn.Parameter(torch.tensor(3.0).expm1().log())
        self.bias = nn.Parameter(torch.tensor(0.0))

    def forward(self, head_logits, dropped=None):
        scores = self._scores(head_logits, dropped)
        logit = F.softplus(self.raw_scale) * scores.min(dim=1).values + self.bias
        return F.logsigmoid(logit), F.logsigmoid(-logit)


class LogisticCombiner(Combiner):
    """A logistic regression on the channel scores: ``P(good) = sigmoid(sum_i w_i f_i + b)``.

    The weights may turn negative, so a head's meaning is not tied down (the paper's reason to
    prefer the Fuzzy AND). Initialised at ``w_i = 3``, ``b = -1.5 * n_channels``.
    """

    def __init__(self, n_channels):
        super().__init__(n_channels)
        self.weights = nn.Parameter(torch.full((self.n_channels,), 3.0))
        self.bias = nn.Parameter(torch.tensor(-1.5 * self.n_channels))

    def forward(self, head_logits, dropped=None):
        logit = self._scores(head_logits, dropped) @ self.weights + self.bias
        return F.logsigmoid(logit), F.logsigmoid(-logit)


#: The combiners by the names the classifier's ``combiner`` parameter accepts.
COMBINERS = {"fuzzy_and": FuzzyAnd, "min": MinCombiner, "logistic": LogisticCombiner}


def get_combiner(combiner):
    """The combiner class of a name of :data:`COMBINERS` or of a :class:`Combiner` subclass.

    Parameters
    ----------
    combiner : str or type
        A name of :data:`COMBINERS`, or a subclass of :class:`Combiner`.

    Returns
    -------
    type
        The combiner class.

    Raises
    ------
    ValueError
        For an unknown name.
    TypeError
        For anything else than a name or a :class:`Combiner` subclass.

    Examples
    --------
    >>> get_combiner("min").__name__
    'MinCombiner'
    """
    if isinstance(combiner, str):
        if combiner not in COMBINERS:
            raise ValueError(
                f"combiner must be one of {sorted(COMBINERS)} or a Combiner subclass; "
                f"got {combiner!r}."
            )
        return COMBINERS[combiner]
    if isinstance(combiner, type) and issubclass(combiner, Combiner):
        return combiner
    raise TypeError(
        f"combiner must be one of {sorted(COMBINERS)} or a subclass of "
        f"channeldecomp.decomposition.Combiner; got {combiner!r}."
    )
