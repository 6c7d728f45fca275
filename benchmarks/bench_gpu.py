"""Training and inference on a CUDA GPU against the CPU, measured in the same run.

Three tasks, each timed with ``device="cpu"`` and ``device="cuda"``:

(a) the default ``ChannelDecompositionClassifier`` fitted on paper-sized data (16,000
    lumisections, 891 columns in channels of 267/232/126/266; its default 40 epochs), wall
    time and epochs, with the global ROC AUC on 4,000 held-out rows;
(b) ``predict_channel_scores`` throughput (rows/s) on 100,000 rows (float64 inference);
(c) AnomalyCLR contrastive-training throughput (events/s) on ``make_adc_events`` background:
    the time of a fit with ``max_epochs`` epochs minus that of a fit with none, per event-epoch.

The table gives each task's CPU and CUDA figures and the CUDA/CPU speed-up; CUDA cells say
"no GPU" when torch sees none.

    python benchmarks/bench_gpu.py                   # full size (a few minutes)
    python benchmarks/bench_gpu.py --quick           # smoke run
    python benchmarks/bench_gpu.py --output gpu.md   # also write the table as markdown
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from channeldecomp import ChannelDecompositionClassifier
from channeldecomp.datasets import make_adc_events, make_channel_anomalies
from channeldecomp.detectors import AnomalyCLR

PAPER_CHANNELS = {"muons": 267, "photons": 232, "pf": 126, "calo_jets": 266}
NO_GPU = "no GPU"


def _sizes(quick):
    if quick:
        return {
            "channels": {name: max(2, size // 20) for name, size in PAPER_CHANNELS.items()},
            "n_train": 2000,
            "n_test": 500,
            "max_epochs": 2,
            "n_predict": 5000,
            "n_events": 500,
            "clr_epochs": 1,
        }
    return {
        "channels": PAPER_CHANNELS,
        "n_train": 16_000,
        "n_test": 4000,
        "max_epochs": None,  # the default
        "n_predict": 100_000,
        "n_events": 10_000,
        "clr_epochs": 3,
    }


def _timed(function, *args):
    """Wall time of ``function(*args)`` (CUDA work included), and its result."""
    start = time.perf_counter()
    result = function(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, result


def _classifier(sizes, device):
    params = {} if sizes["max_epochs"] is None else {"max_epochs": sizes["max_epochs"]}
    return ChannelDecompositionClassifier(random_state=0, device=device, **params)


def classifier_tasks(sizes, devices):
    """(a) fit time, epochs and held-out AUC; (b) predict_channel_scores rows/s, per device."""
    data = make_channel_anomalies(
        n_samples=sizes["n_train"] + sizes["n_test"], channels=sizes["channels"], random_state=0
    )
    scaler = StandardScaler().set_output(transform="pandas")
    X_train = scaler.fit_transform(data.data.iloc[: sizes["n_train"]])
    X_test = scaler.transform(data.data.iloc[sizes["n_train"] :])
    y_train, y_test = data.target.iloc[: sizes["n_train"]], data.target.iloc[sizes["n_train"] :]
    repeats = -(-sizes["n_predict"] // len(X_train))
    X_predict = pd.DataFrame(
        np.tile(X_train.to_numpy(), (repeats, 1))[: sizes["n_predict"]], columns=X_train.columns
    )
    fits, predictions = {}, {}
    for device in devices:
        # Warm-up: the first fit on a device pays one-off costs (CUDA context, kernels). Its
        # 500 rows hold too few bad lumisections for fit's reliability warning to mean anything.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The training data has", UserWarning)
            _classifier(sizes, device).set_params(max_epochs=1).fit(
                X_train.iloc[:500], y_train.iloc[:500]
            )
        seconds, clf = _timed(_classifier(sizes, device).fit, X_train, y_train)
        auc = roc_auc_score(y_test, clf.predict_proba(X_test)[:, 1])
        fits[device] = (seconds, len(clf.history_), auc)
        print(
            f"  {device}: classifier fit {seconds:.1f} s, {len(clf.history_)} epochs, AUC {auc:.3f}"
        )
        clf.predict_channel_scores(X_predict.iloc[:1000])  # warm-up
        best = min(_timed(clf.predict_channel_scores, X_predict)[0] for _ in range(3))
        predictions[device] = len(X_predict) / best
        print(f"  {device}: predict_channel_scores {predictions[device]:,.0f} rows/s")
    return fits, predictions


def anomalyclr_task(sizes, devices):
    """(c) contrastive-training events/s, per device."""
    events = make_adc_events(n_background=sizes["n_events"], n_signal=0, random_state=0).data
    rates = {}
    for device in devices:
        detector = AnomalyCLR(ae_max_epochs=1, random_state=0, device=device)
        detector.set_params(max_epochs=1).fit(events[:500])  # warm-up
        without, _ = _timed(detector.set_params(max_epochs=0).fit, events)
        with_training, _ = _timed(detector.set_params(max_epochs=sizes["clr_epochs"]).fit, events)
        rates[device] = len(events) * sizes["clr_epochs"] / max(with_training - without, 1e-9)
        print(f"  {device}: AnomalyCLR training {rates[device]:,.0f} events/s")
    return rates


def _headline(value):
    """The figure a speed-up compares: a tuple's first (fit seconds), or the value itself."""
    return value[0] if isinstance(value, tuple) else value


def _cells(values, cuda_ok, fmt, higher_is_better):
    cpu = fmt(values["cpu"])
    if not cuda_ok:
        return cpu, NO_GPU, NO_GPU
    cuda = fmt(values["cuda"])
    ratio = _headline(values["cuda"]) / _headline(values["cpu"])
    return cpu, cuda, f"{ratio if higher_is_better else 1 / ratio:.2f}x"


def results_table(sizes, fits, predictions, clr_rates, cuda_ok):
    """One row per task: CPU figure, CUDA figure, CUDA/CPU speed-up."""
    n_columns = sum(sizes["channels"].values())
    max_epochs = sizes["max_epochs"] or ChannelDecompositionClassifier().max_epochs
    rows = [
        (
            f"(a) classifier fit, {sizes['n_train']:,} x {n_columns} (max_epochs={max_epochs})",
            *_cells(
                fits,
                cuda_ok,
                lambda v: f"{v[0]:.1f} s, {v[1]} epochs, AUC {v[2]:.3f}",
                higher_is_better=False,
            ),
        ),
        (
            f"(b) predict_channel_scores, {sizes['n_predict']:,} rows",
            *_cells(predictions, cuda_ok, lambda v: f"{v:,.0f} rows/s", higher_is_better=True),
        ),
        (
            f"(c) AnomalyCLR training, {sizes['n_events']:,} events x {sizes['clr_epochs']} epochs",
            *_cells(clr_rates, cuda_ok, lambda v: f"{v:,.0f} events/s", higher_is_better=True),
        ),
    ]
    return pd.DataFrame(rows, columns=["task", "CPU", "CUDA", "CUDA/CPU speed-up"])


def to_markdown(table):
    lines = ["| " + " | ".join(table.columns) + " |", "|" + " --- |" * len(table.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data, few epochs")
    parser.add_argument("--output", metavar="FILE", help="also write the table as markdown")
    args = parser.parse_args(argv)

    cuda_ok = torch.cuda.is_available()
    gpu = torch.cuda.get_device_name() if cuda_ok else "none (torch sees no CUDA device)"
    environment = (
        f"torch {torch.__version__}; CPU: {torch.get_num_threads()} torch threads "
        f"({os.cpu_count()} logical CPUs); GPU: {gpu}"
    )
    print(environment)
    sizes = _sizes(args.quick)
    devices = ["cpu", "cuda"] if cuda_ok else ["cpu"]
    start = time.perf_counter()
    fits, predictions = classifier_tasks(sizes, devices)
    clr_rates = anomalyclr_task(sizes, devices)
    table = results_table(sizes, fits, predictions, clr_rates, cuda_ok)
    print(f"\nCUDA against the CPU ({time.perf_counter() - start:.0f} s in all):")
    print(table.to_string(index=False))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(f"{environment}\n\n{to_markdown(table)}")
        print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
