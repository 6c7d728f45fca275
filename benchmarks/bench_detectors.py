"""The reference-only detectors of ``channeldecomp.detectors``, one run, one table.

Runs both parts and prints them as one long table (system, dataset, method, metric, mean over
seeds, std, ratio to the part's baseline):

- AnomalyCLR against the same autoencoder on the raw inputs (the paper's baseline), per signal
  of ``make_adc_events``: ROC AUC and background rejection at 30 % signal efficiency
  (``benchmarks/bench_anomalyclr.py``);
- FluxMutability against IsolationForest and unconditional flows on the conditional toy, and
  PerChannelOutlierDetector's per-channel ROC AUC against the truth of
  ``make_channel_anomalies`` and of the simulated detector (``benchmarks/bench_flux.py``).

    python benchmarks/bench_detectors.py            # about 20 minutes on 2 cores
    python benchmarks/bench_detectors.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

import bench_anomalyclr
import bench_flux


def anomalyclr_long(table):
    """bench_anomalyclr's per-signal table as rows of the long format."""
    rows = []
    for signal, row in table.iterrows():
        for metric, ours, baseline, spread in [
            ("roc_auc", "anomalyclr_auc", "baseline_auc", "auc_std_"),
            ("rejection_at_30pct", "anomalyclr_rejection", "baseline_rejection", None),
        ]:
            for method, column in [("AnomalyCLR", ours), ("autoencoder (raw inputs)", baseline)]:
                std = row[spread + column.split("_")[0]] if spread else float("nan")
                rows.append(
                    {
                        "system": "AnomalyCLR",
                        "dataset": f"adc2021 {signal}",
                        "method": method,
                        "metric": metric,
                        "mean": row[column],
                        "std": std,
                        "ratio": row[column] / row[baseline],
                    }
                )
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default: 0 1 2")
    args = parser.parse_args(argv)
    seeds = args.seeds if args.seeds is not None else ((0,) if args.quick else (0, 1, 2))
    start = time.perf_counter()
    clr = anomalyclr_long(bench_anomalyclr.run(quick=args.quick, seeds=seeds))
    flux = bench_flux.run(quick=args.quick, seeds=seeds)
    flux.insert(0, "system", "FluxMutability / PerChannelOutlierDetector")
    table = pd.concat([clr, flux], ignore_index=True)
    with pd.option_context("display.width", 220, "display.max_colwidth", 50):
        print(
            f"seeds {list(seeds)}; ratio = mean / the baseline's mean for that dataset and metric"
        )
        print(table.to_string(index=False, float_format="%.3f"))
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
