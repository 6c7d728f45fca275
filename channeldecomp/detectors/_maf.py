"""A compact conditional masked autoregressive flow (MAF) in plain torch.

The flow of Papamakarios, Pavlakou and Murray (2017, arXiv:1705.07057): a stack of MADE blocks
(Germain et al. 2015, arXiv:1502.03509), each an affine autoregressive transform whose shift and
log-scale for dimension ``i`` depend only on the dimensions before ``i`` and on the conditioning
inputs, with the order of the dimensions reversed between blocks. The conditioning inputs enter
every hidden unit of a block without a mask, so the flow models ``p(x | c)``.

Density evaluation is one pass per block; sampling is sequential, one pass per dimension per block,
which is cheap for the few to few tens of dimensions this package models.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .._torch_state import rebuildable_module

__all__ = ["ConditionalMADE", "ConditionalMAF"]

# The log-scale of each affine step is squashed into (-_LOG_SCALE_BOUND, _LOG_SCALE_BOUND), so an
# early, badly conditioned update cannot blow the density up.
_LOG_SCALE_BOUND = 5.0


class _MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask (out x in)."""

    def __init__(self, in_features, out_features, mask):
        super().__init__(in_features, out_features)
        self.register_buffer("mask", mask.to(self.weight.dtype))

    def forward(self, inputs):
        return F.linear(inputs, self.weight * self.mask, self.bias)


class ConditionalMADE(nn.Module):
    """One MADE block: outputs the shift and log-scale of an affine autoregressive transform.

    Parameters
    ----------
    n_features : int
        Dimensions modelled.
    n_context : int
        Conditioning inputs (0 for an unconditional block).
    hidden_units : int
        Width of each hidden layer.
    n_hidden_layers : int
        Number of hidden layers (at least 1).
    """

    def __init__(self, n_features, n_context, hidden_units, n_hidden_layers):
        super().__init__()
        self.n_features = n_features
        input_degrees = torch.arange(1, n_features + 1)
        # Hidden degrees 0 .. n_features - 1, cycled: a unit of degree k sees inputs 1..k (degree 0
        # sees only the context, so the first dimension is still modelled given the conditions).
        hidden_degrees = [torch.arange(hidden_units) % n_features for _ in range(n_hidden_layers)]
        layers = []
        previous = input_degrees
        for layer, degrees in enumerate(hidden_degrees):
            # The first layer's mask compares with input degrees 1..D, later ones with the
            # previous hidden degrees 0..D-1: "k >= j" in both cases.
            mask = degrees[:, None] >= previous[None, :]
            in_features = n_features if layer == 0 else hidden_units
            layers.append(_MaskedLinear(in_features, hidden_units, mask))
            previous = degrees
        self.hidden = nn.ModuleList(layers)
        self.context = nn.Linear(n_context, hidden_units, bias=False) if n_context else None
        output_degrees = torch.cat([input_degrees, input_degrees])
        self.output = _MaskedLinear(
            hidden_units, 2 * n_features, output_degrees[:, None] > previous[None, :]
        )
        # Start as the identity transform: zero shift and zero log-scale.
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def forward(self, inputs, context=None):
        """Return ``(shift, log_scale)``, each of the shape of ``inputs``."""
        hidden = self.hidden[0](inputs)
        if self.context is not None:
            hidden = hidden + self.context(context)
        hidden = F.relu(hidden)
        for layer in self.hidden[1:]:
            hidden = F.relu(layer(hidden))
        shift, raw_log_scale = self.output(hidden).chunk(2, dim=1)
        log_scale = _LOG_SCALE_BOUND * torch.tanh(raw_log_scale / _LOG_SCALE_BOUND)
        return shift, log_scale


@rebuildable_module
class ConditionalMAF(nn.Module):
    """A stack of :class:`ConditionalMADE` blocks with order reversals, on a standard normal base.

    The generative direction is ``x = u * exp(log_scale) + shift`` per block; the density is
    evaluated in the other direction, ``u = (x - shift) * exp(-log_scale)``, in one pass.

    Parameters
    ----------
    n_features : int
        Dimensions modelled.
    n_context : int
        Conditioning inputs (0 for an unconditional flow).
    n_blocks : int
        Number of MADE blocks.
    hidden_units : int
        Width of the hidden layers of each block.
    n_hidden_layers : int
        Hidden layers per block.
    """

    def __init__(self, n_features, n_context, n_blocks, hidden_units, n_hidden_layers):
        super().__init__()
        self.n_features = n_features
        self.n_context = n_context
        self.blocks = nn.ModuleList(
            ConditionalMADE(n_features, n_context, hidden_units, n_hidden_layers)
            for _ in range(n_blocks)
        )
        self.register_buffer("reverse", torch.arange(n_features - 1, -1, -1))

    def _base_log_prob(self, noise):
        return -0.5 * (noise**2).sum(dim=1) - 0.5 * self.n_features * math.log(2 * math.pi)

    def forward(self, inputs, context=None):
        """Log-density of each row of ``inputs`` given its row of ``context`` (as
        :meth:`log_prob`; what the flow outputs in training, its loss being minus the mean)."""
        return self.log_prob(inputs, context)

    def log_prob(self, inputs, context=None):
        """Log-density of each row of ``inputs`` given its row of ``context``."""
        log_det = inputs.new_zeros(inputs.shape[0])
        hidden = inputs
        for block in self.blocks:
            shift, log_scale = block(hidden, context)
            hidden = (hidden - shift) * torch.exp(-log_scale)
            log_det = log_det - log_scale.sum(dim=1)
            hidden = hidden[:, self.reverse]
        return self._base_log_prob(hidden) + log_det

    @torch.no_grad()
    def sample(self, noise, context=None):
        """Push base noise through the flow; return ``(samples, log_prob of the samples)``.

        Parameters
        ----------
        noise : Tensor of shape (n, n_features)
            Standard normal draws (fixed by the caller, so results are reproducible).
        context : Tensor of shape (n, n_context) or None
            The conditions of each draw.
        """
        log_det = noise.new_zeros(noise.shape[0])
        hidden = noise
        for block in reversed(self.blocks):
            hidden = hidden[:, self.reverse]
            outputs = torch.zeros_like(hidden)
            for i in range(self.n_features):
                shift, log_scale = block(outputs, context)
                outputs[:, i] = hidden[:, i] * torch.exp(log_scale[:, i]) + shift[:, i]
            # After the last step every input of the block is final, so this is its log-scale.
            log_det = log_det + log_scale.sum(dim=1)
            hidden = outputs
        return hidden, self._base_log_prob(noise) - log_det
