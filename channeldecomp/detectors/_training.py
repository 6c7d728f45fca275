"""The skorch side of the detectors: rows cut into batches by index, and a self-supervised net.

AnomalyCLR's encoder, the autoencoders and FluxMutability's flow learn without a target: their
loss is a function of what the module outputs and of what it was given (a reconstruction
error, a contrastive loss over the views of a batch, a negative log-likelihood). Each trains as
a :class:`SelfSupervisedNet`, whose ``get_loss`` passes the module's input to the criterion in
place of a target; skorch runs the epochs, the callbacks (epoch timing, the loss history, early
stopping, the per-epoch log) and the device.

Batches are cut from the training rows by index, in an order drawn from the estimator's own
numpy generator each epoch, which keeps training reproducible without touching the global
random state (and avoids the per-sample collation of a ``DataLoader``).
"""

from __future__ import annotations

import re

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping
from skorch.helper import predefined_split
from skorch.utils import noop

__all__ = ["Rows", "ShuffledBatches", "SelfSupervisedNet", "train_self_supervised"]

# The terminal colours skorch's progress table marks the best scores with.
_ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def _take(data, index):
    if data is None:
        return None
    if isinstance(data, dict):
        return {key: _take(value, index) for key, value in data.items()}
    if isinstance(data, torch.Tensor) and isinstance(index, np.ndarray):
        index = torch.as_tensor(index, device=data.device)
    return data[index]


class Rows(torch.utils.data.Dataset):
    """Rows of ``X`` (an array, a tensor, or a dict of them keyed by the module's forward
    arguments); indexing by an integer array or a slice gives ``(X rows, None)``."""

    def __init__(self, X):
        self.X = X

    def __len__(self):
        X = next(iter(self.X.values())) if isinstance(self.X, dict) else self.X
        return len(X)

    def __getitem__(self, index):
        return _take(self.X, index), None


class ShuffledBatches:
    """Batches of a :class:`Rows` dataset, cut by index.

    Parameters
    ----------
    dataset : Rows
        The rows.
    batch_size : int
        Rows per batch.
    random_state : numpy Generator or RandomState, default=None
        Draws a fresh order of the rows at the start of each pass; None keeps their order.
    collate : callable, default=None
        Maps each ``(X rows, None)`` batch to what the net gets (e.g. builds the views of a
        contrastive batch); it runs as the batch is needed, so its random draws follow the
        order's.
    """

    def __init__(self, dataset, batch_size, random_state=None, collate=None):
        self.dataset = dataset
        self.batch_size = batch_size
        self.random_state = random_state
        self.collate = collate

    def __len__(self):
        return -(-len(self.dataset) // self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        order = None if self.random_state is None else self.random_state.permutation(n)
        for start in range(0, n, self.batch_size):
            stop = start + self.batch_size
            batch = self.dataset[slice(start, stop) if order is None else order[start:stop]]
            yield batch if self.collate is None else self.collate(batch)


class SelfSupervisedNet(NeuralNet):
    """A skorch net whose loss compares the module's output with its input, not with a target.

    The criterion is called as ``criterion(output, X)``, ``X`` being what the module was given
    for the batch: ``torch.nn.MSELoss`` then trains an autoencoder, and a criterion that
    ignores ``X`` (a contrastive loss over the batch, a negative log-likelihood) a model whose
    output is its own loss term.
    """

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return self.criterion_(y_pred, X)


def train_self_supervised(
    module,
    criterion,
    rows,
    *,
    lr,
    batch_size,
    max_epochs,
    random_state,
    device,
    log=None,
    valid_rows=None,
    n_iter_no_change=None,
    collate=None,
    callbacks=(),
    **params,
):
    """Train ``module`` on ``rows`` as a :class:`SelfSupervisedNet` with Adam; return the net.

    Call it inside :func:`~channeldecomp._device.private_torch_rng`: a module given as a class
    is built (its initial weights drawn) when training starts.

    Parameters
    ----------
    module : torch.nn.Module class or instance
        With ``module__<name>`` entries of ``params`` for a class.
    criterion : torch.nn.Module class
        Called as ``criterion(output, X)``.
    rows, valid_rows : Rows
        Training rows, and rows held out to stop early (None: train ``max_epochs``).
    lr, batch_size, max_epochs
        As skorch's.
    random_state : numpy Generator or RandomState
        Draws the order of the training rows in each epoch.
    device : torch.device
        Where training runs; ``rows`` should be there already.
    log : callable, default=None
        Called with each line of skorch's progress table (without terminal colours) and with
        early stopping's messages, e.g. a logger's ``info``; None trains silently.
    n_iter_no_change : int, default=None
        With ``valid_rows``: epochs without a lower validation loss (by more than 1e-4) before
        stopping; the weights of the best epoch are kept.
    collate : callable, default=None
        Turns each batch of training rows into the module's input (see
        :class:`ShuffledBatches`).
    callbacks : sequence of (name, skorch Callback), default=()
        Run after skorch's epoch timer and loss scoring, before early stopping.
    **params
        More parameters of the net (``module__*``, ``criterion__*``, ``optimizer__*``).

    Returns
    -------
    net : SelfSupervisedNet
        Trained; ``net.module_`` is on ``device``, ``net.history`` is skorch's history.
    """
    sink = noop if log is None else (lambda line: log(_ANSI_COLOUR.sub("", line)))
    callbacks = list(callbacks)
    if valid_rows is not None:
        stopping = EarlyStopping(
            monitor="valid_loss",
            patience=n_iter_no_change,
            threshold=1e-4,
            threshold_mode="abs",
            load_best=True,
            sink=sink,
        )
        callbacks.append(("early_stopping", stopping))
    net = SelfSupervisedNet(
        module,
        criterion=criterion,
        optimizer=torch.optim.Adam,
        lr=lr,
        batch_size=batch_size,
        max_epochs=max_epochs,
        train_split=None if valid_rows is None else predefined_split(valid_rows),
        iterator_train=ShuffledBatches,
        iterator_train__random_state=random_state,
        iterator_train__collate=collate,
        iterator_valid=ShuffledBatches,
        # One validation batch: no backward pass to bound, and one pass is cheapest.
        iterator_valid__batch_size=-1,
        callbacks=callbacks,
        # skorch's progress table, only when it is logged (it is built every epoch).
        **({"callbacks__print_log": None} if log is None else {"callbacks__print_log__sink": sink}),
        predict_nonlinearity=None,
        device=device,
        verbose=int(log is not None),
        **params,
    )
    return net.fit(rows, None)
