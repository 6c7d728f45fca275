"""ONNX export: parity with the Python model, and ONNX Runtime's speed against it.

On the simulated detector (``simulate_lumisections`` -> ``LumiSectionPercentiles``, runs held
out as in the demo) three models are fitted: the bare classifier, and Pipelines behind a
``StandardScaler`` and behind the demo's ``QuantileTransformer(output_distribution="normal",
n_quantiles=200)``. Each is exported with ``channeldecomp.export.to_onnx`` and compared on the
held-out lumisections:

- ``max |diff|``: the largest absolute difference of ``p_good`` and of any channel score between
  the Python model and ONNX Runtime, both given the same float32 features (``onnx_parity``);
- ``incl. float32 input``: the same with the Python model given the float64 features, so the
  figure includes rounding the features to float32 (the model's input type);
- throughput: rows per second of ``predict_proba`` + ``predict_channel_scores`` in Python, and
  of one ONNX Runtime ``session.run`` (all outputs) on the same rows, one thread each; the
  ratio is ONNX Runtime / Python (the baseline), for the whole test split in one batch and for
  one row at a time.

    python benchmarks/bench_export.py            # 6,000 lumisections of 500 events, 40 epochs
    python benchmarks/bench_export.py --quick    # 1,000 of 250, 30 epochs (the demo's quick size)
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import onnxruntime as ort
import pandas as pd
import torch
from sklearn.model_selection import GroupShuffleSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import QuantileTransformer, StandardScaler

from channeldecomp import ChannelDecompositionClassifier, LumiSectionPercentiles
from channeldecomp.datasets import simulate_lumisections
from channeldecomp.export import onnx_parity, to_onnx

SIZES = {
    True: {"n_lumisections": 1000, "events_per_lumisection": 250, "max_epochs": 30},
    False: {"n_lumisections": 6000, "events_per_lumisection": 500, "max_epochs": 40},
}


def models(max_epochs, random_state):
    def classifier():
        return ChannelDecompositionClassifier(max_epochs=max_epochs, random_state=random_state)

    return {
        "classifier": classifier(),
        "StandardScaler": Pipeline(
            [("scale", StandardScaler().set_output(transform="pandas")), ("clf", classifier())]
        ),
        "QuantileTransformer(normal)": Pipeline(
            [
                (
                    "scale",
                    QuantileTransformer(output_distribution="normal", n_quantiles=200).set_output(
                        transform="pandas"
                    ),
                ),
                ("clf", classifier()),
            ]
        ),
    }


def rows_per_second(function, n_rows, min_seconds=1.0):
    """Best of repeated timings of ``function()``, as rows per second."""
    function()  # warm-up
    best, spent = np.inf, 0.0
    while spent < min_seconds:
        start = time.perf_counter()
        function()
        elapsed = time.perf_counter() - start
        best, spent = min(best, elapsed), spent + elapsed
    return n_rows / best


def python_predict(model, X):
    classifier = model if isinstance(model, ChannelDecompositionClassifier) else model[-1]
    features = X if classifier is model else model[:-1].transform(X)
    classifier.predict_proba(features)
    classifier.predict_channel_scores(features)


def throughput(model, session, X):
    """Rows per second of Python and of ONNX Runtime on X, and per row one at a time."""
    features = X.to_numpy(np.float32)
    batch_python = rows_per_second(lambda: python_predict(model, X), len(X))
    batch_onnx = rows_per_second(lambda: session.run(None, {"features": features}), len(X))
    single_python = rows_per_second(lambda: python_predict(model, X.iloc[:1]), 1)
    single_onnx = rows_per_second(lambda: session.run(None, {"features": features[:1]}), 1)
    return {
        "python rows/s": batch_python,
        "onnx rows/s": batch_onnx,
        "ratio (batch)": batch_onnx / batch_python,
        "ratio (1 row)": single_onnx / single_python,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, a few seconds a model")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sizes = SIZES[args.quick]
    torch.set_num_threads(1)

    data = simulate_lumisections(
        sizes["n_lumisections"], sizes["events_per_lumisection"], random_state=args.seed
    )
    X = LumiSectionPercentiles(lumisection_columns=False).set_output(transform="pandas")
    X = X.fit_transform(data.lumisections)
    y = pd.Series(np.asarray(data.y), index=X.index)
    train, test = next(
        GroupShuffleSplit(n_splits=1, test_size=0.25, random_state=args.seed).split(
            X, y, groups=X.index.get_level_values("run")
        )
    )
    X_train, y_train, X_test = X.iloc[train], y.iloc[train], X.iloc[test]
    print(
        f"simulated detector: {len(X)} lumisections, {X.shape[1]} features; "
        f"{len(X_test)} held out; torch and ONNX Runtime on 1 thread"
    )

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    rows = []
    for name, model in models(sizes["max_epochs"], args.seed).items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model.fit(X_train, y_train)
        session = ort.InferenceSession(to_onnx(model).SerializeToString(), options)
        parity = onnx_parity(model, session, X_test)
        with_input_rounding = onnx_parity(model, session, X_test, round_inputs=False)

        rows.append(
            {
                "model": name,
                "max |diff| p_good": parity["p_good"],
                "max |diff| channels": parity.drop("p_good").max(),
                "incl. float32 input": with_input_rounding.max(),
                **throughput(model, session, X_test),
            }
        )
    table = pd.DataFrame(rows).set_index("model")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(
            table.to_string(
                formatters={
                    **{column: "{:.1e}".format for column in table.columns[:3]},
                    **{column: "{:,.0f}".format for column in table.columns[3:5]},
                    **{column: "{:.1f}x".format for column in table.columns[5:]},
                }
            )
        )


if __name__ == "__main__":
    main()
