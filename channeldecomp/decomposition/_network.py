"""Torch modules of the channel-decomposition network: the per-channel heads and the loss.

The network sees the columns of X reordered so that each channel's columns are contiguous;
``channel_sizes`` gives the widths of those blocks in order. Every head outputs a *logit*
``h_i``; its score is ``f_i = sigmoid(h_i)``, read as "channel i looks good". A combiner (see
``_combiners.py``) turns the head logits into ``log P(good)`` and ``log P(bad)``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .._torch_state import rebuildable_module
from ._combiners import get_combiner

__all__ = [
    "ACTIVATIONS",
    "ChannelDecompositionLoss",
    "ChannelDecompositionModule",
    "ChannelHead",
]

ACTIVATIONS = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "selu": nn.SELU,
}


class ChannelHead(nn.Module):
    """Dense sub-network for one channel: its columns in, one logit out.

    Layout: with ``squared_inputs``, the inputs followed by their squares; then input
    dropout, then per hidden layer ``Linear -> activation``, with dropout after every hidden
    layer but the last (the paper's 100-50-20 head has dropout after 100 and 50), then
    ``Linear(..., 1)``.
    """

    def __init__(
        self,
        n_inputs,
        hidden_layer_sizes,
        activation,
        input_dropout,
        dropout,
        squared_inputs=False,
    ):
        super().__init__()
        self.squared_inputs = bool(squared_inputs)
        layers = [nn.Dropout(input_dropout)] if input_dropout > 0 else []
        width = 2 * n_inputs if self.squared_inputs else n_inputs
        sizes = list(hidden_layer_sizes)
        for position, size in enumerate(sizes):
            layers += [nn.Linear(width, size), ACTIVATIONS[activation]()]
            if dropout > 0 and position < len(sizes) - 1:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, X):
        if self.squared_inputs:
            X = torch.cat([X, X * X], dim=1)
        return self.layers(X).squeeze(-1)

    def squared_weight_norm(self):
        """Sum of squared weights of the head's linear layers (biases excluded)."""
        return sum((layer.weight**2).sum() for layer in self.layers if isinstance(layer, nn.Linear))


@rebuildable_module
class ChannelDecompositionModule(nn.Module):
    """One head per channel, combined into the global probability of "good".

    Parameters
    ----------
    channel_sizes : sequence of int
        Number of columns of each channel; X's columns are the channels' blocks in this order.
    hidden_layer_sizes : sequence of int
        Hidden widths of each head.
    activation : str
        One of ``"sigmoid"``, ``"tanh"``, ``"relu"``, ``"elu"``, ``"gelu"``, ``"selu"``.
    input_dropout, dropout : float
        Dropout on each head's inputs, and after its hidden layers (all but the last).
    combiner : str or type
        A name of :data:`~channeldecomp.decomposition.COMBINERS` (``"fuzzy_and"``, ``"min"``,
        ``"logistic"``) or a :class:`~channeldecomp.decomposition.Combiner` subclass, built
        with the number of channels as the submodule ``combiner``.
    squared_inputs : bool
        Each head also sees the square of each of its inputs. On centred, scaled inputs a
        square measures a deviation in either direction, which one linear unit can then use.
    head_dropout : float
        Training only: each head's score is replaced, with this probability, by 1 ("no evidence
        of an anomaly"), so the other heads must carry the evidence. With ``"fuzzy_and"`` this
        counters explaining-away: a fault seen by two channels cannot be left to the clearer
        one alone.

    Notes
    -----
    ``forward(X)`` returns ``(log_p_good, log_p_bad, head_logits)``: two tensors of shape
    ``(n,)`` and the heads' logits, of shape ``(n, n_channels)``.
    """

    def __init__(
        self,
        channel_sizes,
        hidden_layer_sizes=(64, 32),
        activation="relu",
        input_dropout=0.1,
        dropout=0.25,
        combiner="fuzzy_and",
        head_dropout=0.0,
        squared_inputs=False,
    ):
        super().__init__()
        self.channel_sizes = [int(size) for size in channel_sizes]
        self.head_dropout = float(head_dropout)
        self.heads = nn.ModuleList(
            ChannelHead(
                size, hidden_layer_sizes, activation, input_dropout, dropout, squared_inputs
            )
            for size in self.channel_sizes
        )
        self.combiner = get_combiner(combiner)(len(self.channel_sizes))

    def head_logits(self, X):
        blocks = torch.split(X, self.channel_sizes, dim=1)
        return torch.stack([head(block) for head, block in zip(self.heads, blocks)], dim=1)

    def combine(self, head_logits):
        """Return ``(log P(good), log P(bad))`` from the head logits."""
        dropped = None
        if self.training and self.head_dropout > 0:
            dropped = torch.rand_like(head_logits) < self.head_dropout
        return self.combiner(head_logits, dropped)

    def forward(self, X):
        """``(log P(good), log P(bad), head logits)`` of the rows of X (channels' columns in
        order); the head logits have one column per channel."""
        head_logits = self.head_logits(X)
        log_p_good, log_p_bad = self.combine(head_logits)
        return log_p_good, log_p_bad, head_logits

    def largest_head_penalty(self):
        """``max_k ||W_k||^2``: the squared weight norm of the heaviest head."""
        return torch.stack([head.squared_weight_norm() for head in self.heads]).max()


class ChannelDecompositionLoss(nn.Module):
    """Weighted BCE on the combined output, max-head L2 penalty, and soft-pretraining terms.

    ``loss = (1 - C) * (L + alpha * max_k ||W_k||^2) + C * mean_i L_i`` where ``L`` is the
    weighted binary cross-entropy of ``P(good)`` and ``L_i`` that of head ``i``'s own score
    ``f_i`` against the *global* label (paper eq. 2). Targets are ``(n, 2)``: label (1 = good)
    and weight.
    """

    def __init__(self, alpha=0.0):
        super().__init__()
        self.alpha = alpha

    def forward(self, y_pred, target, *, module, aux_weight=0.0, training=True):
        log_p_good, log_p_bad, head_logits = y_pred
        label, weight = target[:, 0], target[:, 1]
        global_loss = -(weight * (label * log_p_good + (1 - label) * log_p_bad)).mean()
        if not training:
            return global_loss
        loss = global_loss
        if self.alpha:
            loss = loss + self.alpha * module.largest_head_penalty()
        if aux_weight > 0:
            per_head = F.binary_cross_entropy_with_logits(
                head_logits, label[:, None].expand_as(head_logits), reduction="none"
            )
            aux_loss = (weight[:, None] * per_head).mean()
            loss = (1 - aux_weight) * loss + aux_weight * aux_loss
        return loss
