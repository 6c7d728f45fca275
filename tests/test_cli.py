import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import channeldecomp
from channeldecomp import ChannelDecompositionClassifier
from channeldecomp.certification import (
    channel_thresholds,
    read_golden_json,
    set_channel_thresholds,
)
from channeldecomp.cli import main
from channeldecomp.datasets import make_channel_anomalies

CHANNELS = ("muons", "photons", "pf", "calo_jets")


def test_demo_quick_prints_the_table_and_writes_its_files(capsys, tmp_path):
    output = tmp_path / "demo"
    assert main(["demo", "--quick", "--output", str(output)]) == 0
    out = capsys.readouterr().out
    assert "Global ROC AUC" in out
    assert "random_partition" in out
    assert "random_bad_only" in out and "among bad lumisections:" in out
    assert "(distilled " in out and "DistilledChannelClassifier" in out
    assert "Channel x subsystem ROC AUC" in out
    assert "reliability: from the training runs' global label alone" in out
    for channel in CHANNELS:
        assert channel in out
    for name in ("score_distributions.png", "auc_heatmap.png"):
        assert (output / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<img" in (output / "report.html").read_text()
    for name in (*CHANNELS, "global"):
        path = output / "golden" / f"{name}.json"
        assert isinstance(json.loads(path.read_text()), dict)
    certified = read_golden_json(output / "golden" / "global.json")
    assert len(certified) > 0


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["nope"])
    assert excinfo.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


# ------------------------------------------------------------------------------- score
@pytest.fixture(scope="module")
def scoring(tmp_path_factory):
    """A tiny saved model and a table of lumisections to score with it."""
    folder = tmp_path_factory.mktemp("score")
    data = make_channel_anomalies(n_samples=300, random_state=0)
    model = make_pipeline(
        StandardScaler().set_output(transform="pandas"),
        ChannelDecompositionClassifier(max_epochs=2, random_state=0),
    ).fit(data.data, data.target)
    table = data.data.copy()
    table.insert(0, "run", 355100 + np.arange(len(table)) // 100)
    table.insert(1, "lumi", 1 + np.arange(len(table)) % 100)
    path = channeldecomp.save(model, folder / "model.skops")
    return model, table, data.target, path


def _expected_scores(model, X):
    p_good = model.predict_proba(X)[:, model[-1].good_class_index_]
    channel_scores = model[-1].predict_channel_scores(model[:-1].transform(X))
    return p_good, channel_scores


def _read(path):
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


def _assert_written(written, expected, suffix):
    if suffix == ".parquet":
        np.testing.assert_array_equal(written, expected)
    else:
        # CSV holds the shortest repr of each float; pandas' older default parser may read it
        # back 1 ulp off (about 2e-16 relative).
        np.testing.assert_allclose(written, expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_score_writes_keys_p_good_and_channel_scores(suffix, scoring, tmp_path, capsys):
    model, table, _, model_path = scoring
    data = tmp_path / f"new{suffix}"
    (table.to_parquet if suffix == ".parquet" else table.to_csv)(data, index=False)
    output = tmp_path / f"scores{suffix}"
    argv = ["score", "--model", str(model_path), "--data", str(data), "-o", str(output)]
    assert main([*argv, "--batch-size", "64"]) == 0
    assert capsys.readouterr().out.strip() == str(output)
    scores = _read(output)
    p_good, channel_scores = _expected_scores(model, table.drop(columns=["run", "lumi"]))
    assert list(scores.columns) == ["run", "lumi", "p_good", *CHANNELS]
    np.testing.assert_array_equal(scores["run"], table["run"])
    np.testing.assert_array_equal(scores["lumi"], table["lumi"])
    # float64 inference does not depend on the batch: the values are the same bit for bit.
    _assert_written(scores["p_good"], p_good, suffix)
    _assert_written(scores[list(CHANNELS)], channel_scores.to_numpy(), suffix)


def test_score_writes_the_blame_with_the_ensembles_agreement(tmp_path):
    data = make_channel_anomalies(n_samples=300, random_state=1)
    runs = 355100 + np.arange(len(data.data)) // 30
    ensemble = ChannelDecompositionClassifier(max_epochs=2, n_estimators=3, random_state=0)
    with pytest.warns(UserWarning):  # few bad LS and runs with faults per channel
        ensemble.fit(data.data, data.target, groups=runs)
    model_path = channeldecomp.save(ensemble, tmp_path / "ensemble.skops")
    data.data.assign(run=runs, lumi=np.arange(len(runs))).to_csv(tmp_path / "new.csv", index=False)
    output = tmp_path / "scores.csv"
    argv = ["score", "--model", str(model_path), "--data", str(tmp_path / "new.csv")]
    assert main([*argv, "-o", str(output), "--blame", "--batch-size", "100"]) == 0
    scores = pd.read_csv(output)
    assert list(scores.columns) == ["run", "lumi", "p_good", *CHANNELS, "blamed", "blame_agreement"]
    blame = ensemble.predict_blame(data.data)
    np.testing.assert_array_equal(scores["blamed"], blame["channel"])
    _assert_written(scores["blame_agreement"], blame["agreement"], ".csv")  # thirds, via text
    assert (scores["blame_agreement"] < 1).any()
    # Without --blame, the columns of before.
    assert main([*argv, "-o", str(output)]) == 0
    assert list(pd.read_csv(output).columns) == ["run", "lumi", "p_good", *CHANNELS]


def test_score_writes_the_decisions_of_thresholds_saved_in_the_model(scoring, tmp_path):
    model, table, target, _ = scoring
    X = table.drop(columns=["run", "lumi"])
    _, channel_scores = _expected_scores(model, X)
    thresholds = channel_thresholds(channel_scores, target, false_alarm_rate=0.2)
    model_path = channeldecomp.save(set_channel_thresholds(clone_fitted(model), thresholds),
                                    tmp_path / "certifying.skops")  # fmt: skip
    table.to_csv(tmp_path / "new.csv", index=False)
    output = tmp_path / "scores.parquet"
    argv = ["score", "--model", str(model_path), "--data", str(tmp_path / "new.csv")]
    assert main([*argv, "-o", str(output)]) == 0
    scores = pd.read_parquet(output)
    decisions = [f"certified_{channel}" for channel in CHANNELS]
    assert list(scores.columns)[-5:] == [*decisions, "certified_all"]
    for channel in CHANNELS:
        expected = channel_scores[channel].to_numpy() >= thresholds[channel]
        np.testing.assert_array_equal(scores[f"certified_{channel}"], expected)
        assert 0 < scores[f"certified_{channel}"].mean() < 1  # the thresholds cut something
    np.testing.assert_array_equal(scores["certified_all"], scores[decisions].all(axis=1))


def clone_fitted(model):
    """A copy of a fitted model (thresholds set on it leave the shared fixture alone)."""
    return pickle.loads(pickle.dumps(model))


def _bad_tables(table):
    features = table.columns[2:]
    with_nan = table.copy()
    with_nan.loc[[3, 7], features[5]] = np.nan
    return {
        "missing column": (table.drop(columns=[features[1]]), [], [repr(features[1]), "missing"]),
        "renamed column": (
            table.rename(columns={features[0]: "muons__other"}),
            [],
            [repr(features[0]), "'muons__other'", "--ignore-extra-columns"],
        ),
        "NaN": (with_nan, [], [repr(features[5]), "(2 rows)", "NaN"]),
        "no keys": (table.drop(columns=["lumi"]), [], ["'lumi'", "--no-keys"]),
        "text column": (table.assign(**{features[2]: "x"}), [], [repr(features[2]), "Non-numeric"]),
    }


@pytest.mark.parametrize(
    "case", ["missing column", "renamed column", "NaN", "no keys", "text column"]
)
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_score_refuses_bad_input_and_writes_nothing(case, suffix, scoring, tmp_path, capsys):
    _, table, _, model_path = scoring
    bad, extra_args, fragments = _bad_tables(table)[case]
    data = tmp_path / "input" / "new.csv"
    data.parent.mkdir()
    bad.to_csv(data, index=False)
    output = tmp_path / "out" / f"scores{suffix}"
    output.parent.mkdir()
    argv = ["score", "--model", str(model_path), "--data", str(data), "-o", str(output)]
    assert main([*argv, *extra_args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("channeldecomp score: error:")
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert list(output.parent.iterdir()) == []  # no output, no temporary file


def test_score_options_for_keys_extra_columns_and_progress(scoring, tmp_path, capsys):
    model, table, target, model_path = scoring
    data = tmp_path / "new.csv"
    table.assign(good=target.to_numpy()).drop(columns=["run", "lumi"]).to_csv(data, index=False)
    output = tmp_path / "scores.csv"
    argv = ["score", "--model", str(model_path), "--data", str(data), "-o", str(output)]
    assert main([*argv, "--no-keys"]) == 2  # 'good' is no feature of the model
    assert "'good'" in capsys.readouterr().err and not output.exists()
    assert main([*argv, "--no-keys", "--ignore-extra-columns", "--progress"]) == 0
    assert "scoring" in capsys.readouterr().err  # the progress bar, on stderr
    scores = _read(output)
    assert list(scores.columns) == ["p_good", *CHANNELS]
    p_good = _expected_scores(model, table.drop(columns=["run", "lumi"]))[0]
    _assert_written(scores["p_good"], p_good, ".csv")
    assert main([*argv, "--no-keys", "--ignore-extra-columns"]) == 0
    assert "scoring" not in capsys.readouterr().err  # small input: no bar by default


def test_score_without_pyarrow_says_so(scoring, tmp_path, capsys, monkeypatch):
    _, table, _, model_path = scoring
    table.to_csv(tmp_path / "new.csv", index=False)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now fails
    argv = ["score", "--model", str(model_path), "--data", str(tmp_path / "new.csv")]
    assert main([*argv, "-o", str(tmp_path / "scores.parquet")]) == 2
    assert "pip install pyarrow" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [tmp_path / "new.csv"]


class _RunsCodeWhenUnpickled:
    """Unpickling this creates a marker file, then returns the model: what a hostile file does."""

    def __init__(self, marker, model):
        self.marker, self.model = marker, model

    def __reduce__(self):
        return (_touch_and_return, (str(self.marker), self.model))


def _touch_and_return(marker, model):
    Path(marker).touch()
    return model


def test_pickle_model_is_refused_unless_trusted_and_runs_no_code(scoring, tmp_path, capsys):
    model, table, _, _ = scoring
    marker = tmp_path / "code-ran"
    pickled = tmp_path / "model.joblib"
    pickled.write_bytes(pickle.dumps(_RunsCodeWhenUnpickled(marker, model)))
    table.to_csv(tmp_path / "new.csv", index=False)
    output = tmp_path / "scores.csv"
    argv = ["score", "--model", str(pickled), "--data", str(tmp_path / "new.csv")]
    assert main([*argv, "-o", str(output)]) == 2
    err = capsys.readouterr().err
    assert "--trust-pickle" in err and "arbitrary code" in err
    assert not marker.exists()  # the file was never unpickled
    assert not output.exists()
    assert main([*argv, "-o", str(output), "--trust-pickle"]) == 0
    assert marker.exists()  # with the flag it is unpickled, code and all
    assert len(_read(output)) == len(table)


def test_features_writes_the_table_on_a_local_cluster_and_summarises(tmp_path, capsys):
    uproot = pytest.importorskip("uproot")
    ak = pytest.importorskip("awkward")
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    from channeldecomp import LumiSectionPercentiles
    from channeldecomp.features import read_features, read_nanoaod

    rng = np.random.default_rng(0)
    paths = []
    for i in range(2):  # lumisection 2 is in both files
        n = 40
        counts = rng.poisson(2, n)
        muons = ak.zip(
            {
                "pt": ak.unflatten(rng.exponential(20, counts.sum()).astype(np.float32), counts),
                "eta": ak.unflatten(rng.normal(0, 1, counts.sum()).astype(np.float32), counts),
            }
        )
        branches = {
            "run": np.ones(n, dtype=np.int32),
            "luminosityBlock": np.repeat([1 + i, 2 + i], n // 2).astype(np.int32),
            "event": np.arange(n, dtype=np.int64) + 100 * i,
            "Muon": muons,
        }
        paths.append(str(tmp_path / f"nano_{i}.root"))
        with uproot.recreate(paths[-1]) as file:
            types = {
                k: (v.type if isinstance(v, ak.Array) else v.dtype) for k, v in branches.items()
            }
            file.mktree(
                "Events",
                types,
                field_name=lambda outer, inner: f"{outer}_{inner}",
                counter_name=lambda counted: f"n{counted}",
            ).extend(branches)
    output = tmp_path / "features.parquet"
    # forked workers inherit this process's imports instead of importing torch again
    with dask.config.set({"distributed.worker.multiprocessing-method": "fork"}):
        status = main(
            ["features", *paths, "--collections", "muons=Muon", "--workers", "2", "-o", str(output)]
        )
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "files 2, events 80, lumisections 3, seconds" in captured.out
    assert "features [" in captured.err and "tasks" in captured.err  # the progress bar
    table = read_features(output)
    expected = LumiSectionPercentiles().set_output(transform="pandas")
    expected = expected.fit_transform(read_nanoaod(paths, {"muons": "Muon"}))
    # only the order of the sums over an LS's events differs: a few units in the last place
    np.testing.assert_allclose(table.to_numpy(), expected.to_numpy(), rtol=1e-12, atol=1e-12)
    assert table.index.equals(expected.index)
    assert (
        main(["features", *paths, "--collections", "muons=Muon", "--workers", "0", "-o", "x"]) == 2
    )
