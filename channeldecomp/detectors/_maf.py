"""The conditional masked autoregressive flow of FluxMutability: zuko's MAF, rebuildable.

The flow of Papamakarios, Pavlakou and Murray (2017, arXiv:1705.07057) is ``zuko.flows.MAF``:
a stack of MADE blocks (Germain et al. 2015, arXiv:1502.03509), each an affine autoregressive
transform whose shift and log-scale for a dimension depend on the dimensions before it and on
the conditioning inputs, the order of the dimensions reversed between blocks. This module wraps
it in a torch module whose constructor takes plain numbers, so that model files rebuild it
(:func:`~channeldecomp._torch_state.rebuildable_module`), and adds what FluxMutability needs:
its log-density as the output (the training loss is minus its mean) and sampling from fixed
base noise together with the samples' log-densities.

zuko is imported when a flow is built (the ``flows`` extra: ``pip install 'channeldecomp[flows]'``),
not with the package.

zuko replaced a hand-written MAF of the same architecture (identity-initialised MADE blocks,
log-scales bounded by a tanh) once ``benchmarks/bench_flux.py --quick --seeds 0 1 2`` gave the
same figures within the spread over seeds. ROC AUC of conditional anomalies, mean +- std over
the seeds, hand-written -> zuko: FluxMutability 0.986 +- 0.010 -> 0.983 +- 0.008 (test set
with min distance 1.0) and 0.963 +- 0.007 -> 0.960 +- 0.003 (0.5), its "distance" mutability
0.974 +- 0.018 -> 0.971 +- 0.013 and 0.944 +- 0.010 -> 0.941 +- 0.006, the unconditional flow
of all columns 0.977 +- 0.007 -> 0.976 +- 0.003 and 0.943 +- 0.003 -> 0.937 +- 0.006; marginal
anomalies 0.999-1.000 for both; false alarms at the 5 % cut 0.055 +- 0.014 -> 0.057 +- 0.004
and 0.058 +- 0.014 -> 0.063 +- 0.021. With the default parameters (early stopping; 1500
reference rows, seeds 0-3), negative log-likelihood per row of fresh reference rows 1.685 +-
0.091 -> 1.701 +- 0.062 and ROC AUC 0.973 -> 0.973. After the benchmark's short training (30
epochs; seeds 0-5) zuko's flow gives fresh reference rows a lower likelihood in every seed (by
0.003 to 0.22 nats per row, 0.07 on average; starting it as the identity did not change that),
without a visible change in the figures above. Its CPU time is 1.0 to 1.2 times the
hand-written flow's, for training and for generating the populations (zuko computes a sample's
log-density from the sample, one more pass per block; the hand-written flow during the
inversion).
"""

from __future__ import annotations

import torch
from torch import nn

from .._torch_state import rebuildable_module

__all__ = ["ConditionalMAF"]


def _zuko():
    try:
        import zuko
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "FluxMutability's flow is zuko's masked autoregressive flow: install zuko "
            "(pip install 'channeldecomp[flows]', or pip install zuko)."
        ) from error
    return zuko


@rebuildable_module
class ConditionalMAF(nn.Module):
    """A conditional masked autoregressive flow ``p(x | c)`` on a standard normal base.

    Parameters
    ----------
    n_features : int
        Dimensions modelled.
    n_context : int
        Conditioning inputs (0 for an unconditional flow).
    n_blocks : int
        Number of MADE blocks (autoregressive transforms).
    hidden_units : int
        Width of the hidden layers of each block.
    n_hidden_layers : int
        Hidden layers per block.
    """

    def __init__(self, n_features, n_context, n_blocks, hidden_units, n_hidden_layers):
        super().__init__()
        self.n_features = n_features
        self.n_context = n_context
        self.flow = _zuko().flows.MAF(
            n_features,
            n_context,
            transforms=n_blocks,
            hidden_features=[hidden_units] * n_hidden_layers,
        )

    def _distribution(self, context):
        return self.flow(context if self.n_context else None)

    def forward(self, inputs, context=None):
        """Log-density of each row of ``inputs`` given its row of ``context`` (as
        :meth:`log_prob`; what the flow outputs in training, its loss being minus the mean)."""
        return self.log_prob(inputs, context)

    def log_prob(self, inputs, context=None):
        """Log-density of each row of ``inputs`` given its row of ``context``."""
        return self._distribution(context).log_prob(inputs)

    def to_noise(self, inputs, context=None):
        """The base-noise point of each row of ``inputs`` (the flow's transform)."""
        return self._distribution(context).transform(inputs)

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
        distribution = self._distribution(context)
        samples = distribution.transform.inv(noise)
        return samples, distribution.log_prob(samples)
