"""The skorch side of the classifier: the net subclass, its batch loader and its schedule.

The classifier builds a :class:`ChannelDecompositionNet` inside ``fit``. Data lives in two
tensors on the training device (features; label and weight), and batches are cut from them by
index, which avoids the per-sample collation of a generic ``DataLoader``.
"""

from __future__ import annotations

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback

__all__ = ["TensorData", "BatchLoader", "ChannelDecompositionNet", "SoftPretrainingSchedule"]


class TensorData(torch.utils.data.Dataset):
    """Features, and optionally targets, as tensors; what the net trains and predicts on."""

    def __init__(self, X, target=None):
        self.X = X
        self.target = target

    def __len__(self):
        return len(self.X)

    def __getitem__(self, index):
        return self.X[index], (None if self.target is None else self.target[index])


class BatchLoader:
    """Iterate over a :class:`TensorData` in batches, optionally shuffled by ``rng``."""

    def __init__(self, dataset, batch_size, rng=None):
        self.dataset = dataset
        self.batch_size = batch_size
        self.rng = rng

    def __len__(self):
        return -(-len(self.dataset) // self.batch_size)

    def __iter__(self):
        X, target = self.dataset.X, self.dataset.target
        n = len(X)
        if self.rng is None:
            for start in range(0, n, self.batch_size):
                stop = start + self.batch_size
                yield X[start:stop], (None if target is None else target[start:stop])
            return
        order = torch.from_numpy(self.rng.permutation(n)).to(X.device)
        for start in range(0, n, self.batch_size):
            index = order[start : start + self.batch_size]
            yield X[index], (None if target is None else target[index])


class ChannelDecompositionNet(NeuralNet):
    """skorch net for :class:`~channeldecomp.decomposition.ChannelDecompositionModule`.

    Adds a seeded shuffling generator (``shuffle_seed``), the soft-pretraining weight
    ``aux_weight_`` (set by :class:`SoftPretrainingSchedule`) and passes the module to the loss
    for its max-over-heads L2 penalty.
    """

    def __init__(self, *args, shuffle_seed=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.shuffle_seed = shuffle_seed

    def get_default_callbacks(self):
        # The classifier passes its complete callback list (timer, losses, schedule, logging).
        return []

    def initialize(self):
        super().initialize()
        self.aux_weight_ = 0.0
        self.shuffle_rng_ = np.random.default_rng(self.shuffle_seed)
        return self

    def get_iterator(self, dataset, training=False):
        batch_size = self.batch_size if self.batch_size != -1 else len(dataset)
        if not training:
            # Evaluation has no backward pass: larger batches are cheaper and give the same result.
            batch_size = max(batch_size, 4096)
        return BatchLoader(dataset, batch_size, rng=self.shuffle_rng_ if training else None)

    def move_to_cpu(self):
        """Move everything trained (module, loss, optimizer state, early stopping's best
        weights) to the CPU and set ``device="cpu"``, so the net pickles without CUDA tensors.

        ``Module.to`` moves parameters in place, so the optimizer still refers to them.
        """
        self.module_.to("cpu")
        self.criterion_.to("cpu")
        for state in self.optimizer_.state.values():
            for key, value in state.items():
                if torch.is_tensor(value):
                    state[key] = value.cpu()
        for _, callback in self.callbacks_:
            weights = getattr(callback, "best_model_weights_", None)
            if weights is not None:
                callback.best_model_weights_ = {k: v.cpu() for k, v in weights.items()}
        self.device = "cpu"
        return self

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return self.criterion_(
            y_pred,
            y_true,
            module=self.module_,
            aux_weight=self.aux_weight_ if training else 0.0,
            training=training,
        )


class SoftPretrainingSchedule(Callback):
    """Decay the auxiliary-loss weight C and the learning rate on a step schedule.

    Before epoch ``e`` (counted from 1), with ``k`` the number of decay epochs
    ``first_epoch, first_epoch + every, ...`` already completed (``< e``):
    ``C = initial * decay**k`` and ``lr = lr0 * lr_decay**k``. The paper's schedule is
    ``initial=0.7, decay=0.8, first_epoch=20, every=100, lr_decay=0.8``.
    """

    def __init__(self, initial, decay, first_epoch, every, lr_decay):
        self.initial = initial
        self.decay = decay
        self.first_epoch = first_epoch
        self.every = every
        self.lr_decay = lr_decay

    def n_decays(self, epoch):
        completed = epoch - 1
        if completed < self.first_epoch:
            return 0
        return 1 + (completed - self.first_epoch) // self.every

    def on_epoch_begin(self, net, **kwargs):
        epoch = len(net.history)
        k = self.n_decays(epoch)
        net.aux_weight_ = self.initial * self.decay**k
        lr = net.lr * self.lr_decay**k
        for group in net.optimizer_.param_groups:
            group["lr"] = lr
        net.history.record("aux_loss_weight", net.aux_weight_)
        net.history.record("lr", lr)
