"""Training cost of ChannelDecompositionClassifier against a plain PyTorch loop.

Both train the same module (``ChannelDecompositionModule``) with the same loss, data, batch
size, epochs, optimizer and soft-pretraining schedule, in the same process; the ratio
estimator / plain loop is the overhead of the scikit-learn + skorch wrapper (validation,
channel resolution, class weights, callbacks, history). Then the default configuration is fitted
on paper-sized data (16,000 lumisections; channels of 267/232/126/266 columns) and evaluated on
a held-out quarter.

    python benchmarks/bench_classifier.py            # paper-sized, ~ a few minutes
    python benchmarks/bench_classifier.py --quick    # small smoke run
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from channeldecomp import ChannelDecompositionClassifier
from channeldecomp.datasets import make_channel_anomalies
from channeldecomp.decomposition._network import (
    ChannelDecompositionLoss,
    ChannelDecompositionModule,
)
from channeldecomp.decomposition._training import SoftPretrainingSchedule

PAPER_CHANNELS = {"muons": 267, "photons": 232, "pf": 126, "calo_jets": 266}


def plain_torch_fit(X, y, params, channel_sizes, seed):
    """The same training, written as an ordinary PyTorch loop with no framework around it."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    is_good = y == 1
    weights = np.ones(len(y))
    for value in (False, True):
        weights[is_good == value] *= len(y) / (2 * (is_good == value).sum())
    features = torch.from_numpy(X.astype(np.float32))
    target = torch.from_numpy(np.column_stack([is_good, weights]).astype(np.float32))
    module = ChannelDecompositionModule(
        channel_sizes,
        hidden_layer_sizes=params["hidden_layer_sizes"],
        activation=params["activation"],
        input_dropout=params["input_dropout"],
        dropout=params["dropout"],
        combiner=params["combiner"],
    )
    loss_fn = ChannelDecompositionLoss(alpha=params["alpha"])
    optimizer = torch.optim.Adam(module.parameters(), lr=params["lr"])
    schedule = SoftPretrainingSchedule(
        params["aux_loss_weight"],
        params["aux_loss_decay"],
        params["aux_decay_start"],
        params["aux_decay_every"],
        params["lr_decay"],
    )
    batch_size = params["batch_size"]
    module.train()
    for epoch in range(1, params["max_epochs"] + 1):
        k = schedule.n_decays(epoch)
        aux_weight = params["aux_loss_weight"] * params["aux_loss_decay"] ** k
        for group in optimizer.param_groups:
            group["lr"] = params["lr"] * params["lr_decay"] ** k
        order = torch.from_numpy(rng.permutation(len(features)))
        for start in range(0, len(features), batch_size):
            index = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(
                module(features[index]), target[index], module=module, aux_weight=aux_weight
            )
            loss.backward()
            optimizer.step()
    return module


def overhead(X, y, channel_sizes, params, repeats):
    estimator_times, plain_times = [], []
    for repeat in range(repeats):
        clf = ChannelDecompositionClassifier(channels="prefix", random_state=repeat, **params)
        start = time.perf_counter()
        clf.fit(X, y)
        estimator_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        plain_torch_fit(X.to_numpy(), y.to_numpy(), clf.get_params(), channel_sizes, repeat)
        plain_times.append(time.perf_counter() - start)
    return min(estimator_times), min(plain_times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data, few epochs")
    args = parser.parse_args(argv)

    if args.quick:
        channels = {name: max(2, size // 20) for name, size in PAPER_CHANNELS.items()}
        n_samples, epochs, repeats = 2000, 2, 1
    else:
        channels, n_samples, epochs, repeats = PAPER_CHANNELS, 16_000, 3, 2
    data = make_channel_anomalies(n_samples=n_samples, channels=channels, random_state=0)
    X_train, X_test, y_train, y_test, _, truth_test = train_test_split(
        data.data, data.target, data.channel_truth, random_state=0, stratify=data.target
    )
    scaler = StandardScaler().set_output(transform="pandas").fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    sizes = list(channels.values())
    print(
        f"data: {len(X_train)} training rows, {X_train.shape[1]} columns in channels "
        f"{channels}; torch threads: {torch.get_num_threads()}"
    )

    # Warm-up: the first torch call of a process pays one-off costs (allocator, kernels).
    warm = ChannelDecompositionClassifier(max_epochs=1, random_state=0)
    warm.fit(X_train.iloc[:500], y_train.iloc[:500])
    plain_torch_fit(
        X_train.iloc[:500].to_numpy(), y_train.iloc[:500].to_numpy(), warm.get_params(), sizes, 0
    )

    rows = []
    default = ChannelDecompositionClassifier().get_params()
    paper = ChannelDecompositionClassifier.from_preset("paper").get_params()
    for name, params in [("default", default), ("paper", paper)]:
        keys = [
            "hidden_layer_sizes", "activation", "input_dropout", "dropout", "combiner", "alpha",
            "aux_loss_weight", "aux_loss_decay", "aux_decay_start", "aux_decay_every",
            "lr_decay", "lr", "batch_size",
        ]  # fmt: skip
        config = {key: params[key] for key in keys}
        config["max_epochs"] = epochs
        estimator_s, plain_s = overhead(X_train, y_train, sizes, config, repeats)
        rows.append(
            {
                "configuration": name,
                "batch_size": config["batch_size"],
                "epochs": epochs,
                "estimator_s": round(estimator_s, 2),
                "plain_torch_s": round(plain_s, 2),
                "ratio": round(estimator_s / plain_s, 3),
            }
        )
    print("\nTraining time, estimator vs plain PyTorch loop (min of repeats):")
    print(pd.DataFrame(rows).to_string(index=False))

    print("\nDefault configuration to convergence on this data:")
    results = []
    for label, extra in [
        ("default (40 epochs)", {}),
        ("default + early_stopping", {"early_stopping": True}),
    ]:
        clf = ChannelDecompositionClassifier(random_state=0, **extra)
        if args.quick:
            clf.set_params(max_epochs=3)
        start = time.perf_counter()
        clf.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        scores = clf.predict_channel_scores(X_test)
        channel_auc = [roc_auc_score(1 - truth_test[c], 1 - scores[c]) for c in scores]
        results.append(
            {
                "run": label,
                "epochs": len(clf.history_),
                "fit_s": round(seconds, 1),
                "global_auc": round(roc_auc_score(y_test, clf.predict_proba(X_test)[:, 1]), 4),
                "min_channel_auc": round(min(channel_auc), 4),
                "mean_channel_auc": round(float(np.mean(channel_auc)), 4),
            }
        )
    print(pd.DataFrame(results).to_string(index=False))


if __name__ == "__main__":
    main()
