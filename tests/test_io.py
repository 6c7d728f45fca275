import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import QuantileTransformer, StandardScaler
from skorch.history import History

import channeldecomp
from channeldecomp import (
    ChannelDecompositionClassifier,
    DistilledChannelClassifier,
    LumiSectionPercentiles,
    LumiSections,
)
from channeldecomp.baselines import (
    AdditiveBoostingClassifier,
    MLPAttributionClassifier,
    PerChannelClassifier,
    PerChannelOneClassDetector,
)
from channeldecomp.datasets import (
    make_adc_events,
    make_channel_anomalies,
    make_conditional_anomalies,
)
from channeldecomp.detectors import (
    AnomalyCLR,
    AutoencoderDetector,
    FluxMutability,
    PerChannelOutlierDetector,
)
from channeldecomp.io import UntrustedTypesError, is_model_file

TREE = "sklearn.tree._tree.Tree"  # inside IsolationForest; skops does not trust it by default
# inside HistGradientBoosting models; skops does not trust it by default either
HGB_TREE = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"


@pytest.fixture(scope="module")
def tabular():
    data = make_channel_anomalies(n_samples=300, random_state=0)
    return data.data, data.target


@pytest.fixture(scope="module")
def events():
    return make_adc_events(n_background=200, n_signal=0, random_state=0).data


@pytest.fixture(scope="module")
def conditional():
    return make_conditional_anomalies(300, anomaly_fraction=0.0, random_state=1)


@pytest.fixture(scope="module")
def lumisections():
    return LumiSections.from_arrays(
        run=[1, 1, 2],
        lumi=[1, 2, 1],
        n_events=[2, 1, 3],
        objects={
            "muons": ([2, 0, 1, 1, 2, 0], {"pt": [10.0, 30.0, 20.0, 5.0, 7.0, 9.0]}),
        },
    )


def _classifier(tabular):
    X, y = tabular
    return ChannelDecompositionClassifier(max_epochs=2, random_state=0).fit(X, y), X


def _per_channel(tabular):
    X, y = tabular
    detector = PerChannelOutlierDetector(IsolationForest(n_estimators=5), random_state=0)
    return detector.fit(X[y == 1]), X


def _baseline(estimator, tabular, good_only=False):
    X, y = tabular
    return estimator.fit(X[y == 1] if good_only else X, y[y == 1] if good_only else y), X


def _anomalyclr(events):
    detector = AnomalyCLR(
        embed_dim=8, n_heads=2, n_layers=1, output_dim=4, max_epochs=1, ae_max_epochs=2,
        random_state=0,
    )  # fmt: skip
    return detector.fit(events), events


def _flux(conditional):
    detector = FluxMutability(
        conditions=conditional.condition_names,
        n_blocks=1,
        hidden_units=8,
        max_epochs=2,
        population_size=10,
        random_state=0,
    )
    return detector.fit(conditional.data), conditional.data


# name -> (build(fixtures) -> (fitted model, X), methods compared, extra trusted types)
CASES = {
    "classifier": (
        lambda f: _classifier(f["tabular"]),
        ["predict_proba", "predict_channel_scores", "predict"],
        [],
    ),
    "percentiles": (
        lambda f: (LumiSectionPercentiles(n_quantiles=2).fit(f["lumisections"]), f["lumisections"]),
        ["transform"],
        [],
    ),
    "anomalyclr": (lambda f: _anomalyclr(f["events"]), ["score_samples", "transform"], []),
    "autoencoder": (
        lambda f: (
            AutoencoderDetector(ae_max_epochs=2, random_state=0).fit(f["events"]),
            f["events"],
        ),
        ["score_samples", "predict"],
        [],
    ),
    "flux": (lambda f: _flux(f["conditional"]), ["score_samples"], []),
    "per_channel": (
        lambda f: _per_channel(f["tabular"]),
        ["predict_channel_scores", "score_samples"],
        [TREE],
    ),
    "per_channel_classifier": (
        lambda f: _baseline(
            PerChannelClassifier(HistGradientBoostingClassifier(max_iter=5)), f["tabular"]
        ),
        ["predict_proba", "predict_channel_scores"],
        [HGB_TREE],
    ),
    "one_class": (
        lambda f: _baseline(
            PerChannelOneClassDetector(IsolationForest(n_estimators=5, random_state=0)),
            f["tabular"],
            good_only=True,
        ),
        ["predict_channel_scores", "score_samples"],
        [TREE],
    ),
    "mlp_attribution": (
        lambda f: _baseline(MLPAttributionClassifier(max_epochs=2, random_state=0), f["tabular"]),
        ["predict_proba", "predict_channel_scores"],
        [],
    ),
    "distilled": (
        lambda f: _baseline(
            DistilledChannelClassifier(
                ChannelDecompositionClassifier(max_epochs=2, random_state=0),
                HistGradientBoostingClassifier(max_iter=5),
            ),
            f["tabular"],
        ),
        ["predict_proba", "predict_channel_scores", "predict_blame"],
        [HGB_TREE],
    ),
    "additive_boosting": (
        lambda f: _baseline(
            AdditiveBoostingClassifier(HistGradientBoostingClassifier(max_iter=5)), f["tabular"]
        ),
        ["predict_proba", "predict_channel_scores"],
        [HGB_TREE],
    ),
}


@pytest.fixture(scope="module")
def fixtures(tabular, events, conditional, lumisections):
    return {
        "tabular": tabular,
        "events": events,
        "conditional": conditional,
        "lumisections": lumisections,
    }


def _assert_same_outputs(model, loaded, X, methods):
    for method in methods:
        expected, actual = getattr(model, method)(X), getattr(loaded, method)(X)
        if isinstance(expected, pd.DataFrame):
            pd.testing.assert_frame_equal(actual, expected, check_exact=True)
        else:
            # Same weights, same dtype, same machine: the outputs are bit-identical.
            np.testing.assert_array_equal(actual, expected, err_msg=method)


@pytest.mark.numerics
@pytest.mark.parametrize("case", list(CASES))
def test_round_trip_gives_identical_outputs(case, fixtures, tmp_path):
    build, methods, trusted = CASES[case]
    model, X = build(fixtures)
    path = channeldecomp.save(model, tmp_path / "model.skops")
    assert is_model_file(path)
    loaded = channeldecomp.load(path, trusted=trusted or None)
    assert type(loaded) is type(model)
    _assert_same_outputs(model, loaded, X, methods)
    # pickle and joblib go through the same plain state
    _assert_same_outputs(model, pickle.loads(pickle.dumps(model)), X, methods)
    joblib.dump(model, tmp_path / "model.joblib")
    _assert_same_outputs(model, joblib.load(tmp_path / "model.joblib"), X, methods)


@pytest.mark.numerics
@pytest.mark.parametrize("scaler", [StandardScaler(), QuantileTransformer(n_quantiles=50)])
def test_pipeline_round_trip(scaler, tabular, tmp_path):
    X, y = tabular
    model = make_pipeline(
        scaler.set_output(transform="pandas"),
        ChannelDecompositionClassifier(max_epochs=2, random_state=0),
    ).fit(X, y)
    loaded = channeldecomp.load(channeldecomp.save(model, tmp_path / "pipeline.skops"))
    _assert_same_outputs(model, loaded, X, ["predict_proba", "predict"])
    pd.testing.assert_frame_equal(
        loaded[-1].predict_channel_scores(loaded[:-1].transform(X)),
        model[-1].predict_channel_scores(model[:-1].transform(X)),
        check_exact=True,
    )


def test_loaded_classifier_keeps_history_dtypes_and_the_caller_random_state(tabular, tmp_path):
    model, _ = _classifier(tabular)
    path = channeldecomp.save(model, tmp_path / "model.skops")
    before = torch.random.get_rng_state()
    loaded = channeldecomp.load(path)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert isinstance(loaded.history_, History)
    assert loaded.history_.to_list() == model.history_.to_list()
    assert loaded.net_.history is loaded.history_
    assert {p.device.type for p in loaded.net_.module_.parameters()} == {"cpu"}


def test_float64_modules_stay_float64(events, tmp_path):
    model, _ = _anomalyclr(events)
    loaded = channeldecomp.load(channeldecomp.save(model, tmp_path / "clr.skops"))
    for name in ("encoder_", "autoencoder_"):
        dtypes = {p.dtype for p in getattr(loaded, name).parameters()}
        assert dtypes == {torch.float64}, name
        assert not getattr(loaded, name).training


class RecordingShift(TransformerMixin, BaseEstimator):
    """A transformer of the user's own: not trusted by default."""

    constructed = []

    def fit(self, X, y=None):
        self.shift_ = 1.0
        return self

    def transform(self, X):
        return X + self.shift_

    def __setstate__(self, state):
        RecordingShift.constructed.append(state)
        super().__setstate__(state)


def test_untrusted_type_is_refused_by_name_before_anything_is_built(tabular, tmp_path):
    X, y = tabular
    model = make_pipeline(
        RecordingShift(), ChannelDecompositionClassifier(max_epochs=1, random_state=0)
    ).fit(X, y)
    path = channeldecomp.save(model, tmp_path / "custom.skops")
    name = f"{RecordingShift.__module__}.RecordingShift"
    RecordingShift.constructed.clear()
    with pytest.raises(UntrustedTypesError, match="does not trust") as excinfo:
        channeldecomp.load(path)
    assert excinfo.value.types == [name]
    assert f"trusted=[{name!r}]" in str(excinfo.value)
    assert RecordingShift.constructed == []  # refused before constructing anything

    for trusted in ([name], [RecordingShift]):
        loaded = channeldecomp.load(path, trusted=trusted)
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert len(RecordingShift.constructed) == 2


def test_skops_untrusted_default_is_kept_with_its_reason(tabular, tmp_path):
    model, _ = _per_channel(tabular)
    path = channeldecomp.save(model, tmp_path / "trees.skops")
    with pytest.raises(UntrustedTypesError) as excinfo:
        channeldecomp.load(path)
    assert excinfo.value.types == [TREE]
    assert "bounds" in str(excinfo.value)  # skops' explanation of why it is not trusted


@pytest.mark.parametrize("trusted", [True, "sklearn.tree._tree.Tree", 3])
def test_no_blanket_or_malformed_trust(trusted, tmp_path):
    path = channeldecomp.save(StandardScaler().fit([[0.0], [1.0]]), tmp_path / "s.skops")
    with pytest.raises(TypeError, match="list of type names"):
        channeldecomp.load(path, trusted=trusted)


def test_pickle_file_is_not_a_model_file(tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump(StandardScaler().fit([[0.0], [1.0]]), path)
    assert not is_model_file(path)
    with pytest.raises(ValueError, match="not a skops model file.*arbitrary code"):
        channeldecomp.load(path)
    with pytest.raises(FileNotFoundError, match="No model file"):
        channeldecomp.load(tmp_path / "missing.skops")


def _rewrite_schema(source, target, old, new):
    with zipfile.ZipFile(source) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    schema = entries["schema.json"].decode()
    assert old in schema
    entries["schema.json"] = schema.replace(old, new).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)


def test_a_file_naming_a_foreign_torch_module_is_refused(events, tmp_path):
    model = AutoencoderDetector(ae_max_epochs=1, random_state=0).fit(events)
    path = channeldecomp.save(model, tmp_path / "ae.skops")
    crafted = tmp_path / "crafted.skops"
    # the class name is a JSON string inside the schema's JSON: its quotes are escaped
    _rewrite_schema(
        path,
        crafted,
        json.dumps(json.dumps("channeldecomp.detectors._anomalyclr.Autoencoder"))[1:-1],
        json.dumps(json.dumps("torch.nn.modules.linear.Linear"))[1:-1],
    )
    with pytest.raises(ValueError, match="not one of the package's modules"):
        channeldecomp.load(crafted)


def test_save_is_atomic(events, tmp_path):
    path = tmp_path / "model.skops"
    channeldecomp.save(StandardScaler().fit([[0.0], [1.0]]), path)
    before = path.read_bytes()
    broken = AutoencoderDetector(ae_max_epochs=1, random_state=0).fit(events)
    broken.autoencoder_ = torch.nn.Linear(2, 2)  # not a module the package can rebuild
    with pytest.raises(TypeError, match="Cannot save the torch module"):
        channeldecomp.save(broken, path)
    assert path.read_bytes() == before  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.skops"]  # no temporary left
    with pytest.raises(FileNotFoundError, match="does not exist"):
        channeldecomp.save(StandardScaler(), tmp_path / "missing" / "model.skops")


def _leaves(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def test_state_holds_no_tensors_and_a_gpu_setting_loads_on_the_cpu(tabular, tmp_path):
    model, X = _classifier(tabular)
    # What a model fitted with device="cuda" carries besides its weights (which the state
    # always stores as CPU numpy arrays): the parameter and the net's device.
    model.device = model.net_.device = "cuda"
    state = model.__getstate__()
    assert not any(isinstance(leaf, (torch.Tensor, torch.nn.Module)) for leaf in _leaves(state))
    loaded = channeldecomp.load(channeldecomp.save(model, tmp_path / "gpu.skops"))
    assert loaded.device == "cuda" and loaded.net_.device == "cpu"
    if torch.cuda.is_available():
        pytest.skip("the CPU fallback needs a machine without CUDA")
    # Without CUDA both predict on the CPU, saying so.
    with pytest.warns(UserWarning, match="computing on the CPU instead"):
        expected = model.predict_proba(X)
    with pytest.warns(UserWarning, match="computing on the CPU instead"):
        np.testing.assert_array_equal(loaded.predict_proba(X), expected)


_LOAD_ON_CPU = """
import sys, numpy as np, torch, channeldecomp
from channeldecomp.datasets import make_channel_anomalies
assert not torch.cuda.is_available()
model = channeldecomp.load(sys.argv[1])
X = make_channel_anomalies(n_samples=300, random_state=0).data
np.save(sys.argv[2], model.predict_proba(X))
"""


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device to fit on")
def test_model_fitted_on_cuda_loads_without_one(tabular, tmp_path):
    X, y = tabular
    model = ChannelDecompositionClassifier(max_epochs=2, device="cuda", random_state=0).fit(X, y)
    path = channeldecomp.save(model, tmp_path / "cuda.skops")
    output = tmp_path / "proba.npy"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(channeldecomp.__file__).parents[1]), env.get("PYTHONPATH", "")]
    )
    subprocess.run(
        [sys.executable, "-c", _LOAD_ON_CPU, str(path), str(output)], check=True, env=env
    )
    # float64 inference on both devices; only the order of the GPU's sums differs.
    np.testing.assert_allclose(np.load(output), model.predict_proba(X), rtol=1e-10, atol=1e-12)
    # with the GPU present, too, the loaded model runs on the CPU, where its network is
    loaded = channeldecomp.load(path)
    assert {p.device.type for p in loaded.net_.module_.parameters()} == {"cpu"}
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=1e-10)
