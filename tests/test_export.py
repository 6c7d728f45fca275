"""ONNX export: parity with the Python model, the model's interface, and its float64 kernels."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GroupShuffleSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, QuantileTransformer, StandardScaler

from channeldecomp import ChannelDecompositionClassifier, LumiSectionPercentiles, __version__
from channeldecomp.datasets import make_channel_anomalies, simulate_lumisections
from channeldecomp.decomposition._network import ACTIVATIONS

_REASON = "ONNX export needs the onnx extra: pip install 'channeldecomp[onnx]'"
onnx = pytest.importorskip("onnx", reason=_REASON)
ort = pytest.importorskip("onnxruntime", reason=_REASON)
pytest.importorskip("skl2onnx", reason=_REASON)

from channeldecomp import _onnx_graph  # noqa: E402
from channeldecomp.export import (  # noqa: E402
    channel_output_names,
    onnx_parity,
    predict_onnx,
    to_onnx,
)

# The graph computes in float64, as the Python model predicts, and casts its outputs (values in
# [0, 1]) to float32, which moves them by at most 2**-25 = 3e-8. Float64 kernels of ONNX Runtime
# and torch differ in the last bits (~1e-15), whatever the CPU's vector width or thread count.
# 1e-6 is far above both and ten times tighter than the 1e-5 the export promises.
TOLERANCE = 1e-6


def _preprocessing(kind):
    if kind is None:
        return []
    scaler = {
        "standard": StandardScaler(),
        "quantile_normal": QuantileTransformer(output_distribution="normal", n_quantiles=200),
        "quantile_uniform": QuantileTransformer(n_quantiles=200),
    }[kind]
    return [("scale", scaler.set_output(transform="pandas"))]


def _model(kind=None, **params):
    params = {
        "hidden_layer_sizes": (16, 8),
        "max_epochs": 8,
        "batch_size": -1,
        "random_state": 0,
        **params,
    }
    classifier = ChannelDecompositionClassifier(**params)
    steps = _preprocessing(kind)
    return Pipeline([*steps, ("clf", classifier)]) if steps else classifier


@pytest.fixture(scope="module")
def detector():
    """The simulated detector's features, split by runs as in the demo."""
    data = simulate_lumisections(400, 40, random_state=2)
    X = LumiSectionPercentiles(lumisection_columns=False).set_output(transform="pandas")
    X = X.fit_transform(data.lumisections)
    y = pd.Series(np.asarray(data.y), index=X.index)
    train, test = next(
        GroupShuffleSplit(n_splits=1, test_size=0.25, random_state=2).split(
            X, y, groups=X.index.get_level_values("run")
        )
    )
    assert len(train) >= 200  # QuantileTransformer keeps its 200 quantiles
    return X.iloc[train], y.iloc[train], X.iloc[test]


@pytest.mark.numerics
@pytest.mark.parametrize(
    "kind, combiner",
    [
        (None, "fuzzy_and"),
        (None, "min"),
        (None, "logistic"),
        ("standard", "fuzzy_and"),
        ("standard", "min"),
        ("quantile_normal", "fuzzy_and"),
        ("quantile_normal", "logistic"),
        ("quantile_uniform", "min"),
    ],
)
def test_onnx_matches_python_on_the_detector_test_split(detector, kind, combiner):
    X_train, y_train, X_test = detector
    model = _model(kind, combiner=combiner).fit(X_train, y_train)
    onnx_model = to_onnx(model)

    parity = onnx_parity(model, onnx_model, X_test)
    classifier = model if kind is None else model[-1]
    assert list(parity.index) == ["p_good", *classifier.channel_names_]
    assert (parity <= TOLERANCE).all(), parity
    # The columns are what predict_proba and predict_channel_scores return.
    outputs = predict_onnx(onnx_model, X_test)
    rounded = X_test.astype(np.float32).astype(np.float64)
    expected = model.predict_proba(rounded)[:, list(model.classes_).index(1)]
    np.testing.assert_allclose(outputs["p_good"], expected, rtol=0, atol=TOLERANCE)
    assert outputs.index.equals(X_test.index)
    # A model that predicts something: the comparison is not between two constants.
    assert outputs["p_good"].std() > 1e-3


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_every_activation_with_and_without_squares(activation):
    data = make_channel_anomalies(n_samples=300, random_state=1)
    squared = activation in ("elu", "gelu", "tanh")
    model = _model(activation=activation, squared_inputs=squared, combiner="fuzzy_and")
    model.fit(data.data, data.target)
    parity = onnx_parity(model, to_onnx(model), data.data)
    assert (parity <= TOLERANCE).all(), parity


def test_chained_scalers_and_passthrough():
    data = make_channel_anomalies(n_samples=300, random_state=3)
    steps = [
        ("quantile", QuantileTransformer(n_quantiles=50).set_output(transform="pandas")),
        ("skip", "passthrough"),
        ("scale", StandardScaler(with_mean=False).set_output(transform="pandas")),
    ]
    model = Pipeline([*steps, ("clf", _model())]).fit(data.data, data.target)
    onnx_model = to_onnx(model)
    metadata = {entry.key: entry.value for entry in onnx_model.metadata_props}
    assert json.loads(metadata["preprocessing"]) == ["QuantileTransformer", "StandardScaler"]
    assert (onnx_parity(model, onnx_model, data.data) <= TOLERANCE).all()


@pytest.mark.numerics
def test_batch_of_one_equals_the_whole_batch(detector):
    X_train, y_train, X_test = detector
    model = _model("quantile_normal").fit(X_train, y_train)
    onnx_model = to_onnx(model)
    batch = onnx_model.graph.input[0].type.tensor_type.shape.dim
    assert batch[0].dim_param == "n" and batch[1].dim_value == X_test.shape[1]
    for output in onnx_model.graph.output:
        assert [dim.dim_param for dim in output.type.tensor_type.shape.dim] == ["n"]

    session = ort.InferenceSession(onnx_model.SerializeToString())
    features = X_test.to_numpy(np.float32)
    whole = np.column_stack(session.run(None, {"features": features}))
    one_by_one = np.vstack(
        [np.column_stack(session.run(None, {"features": row[None]})) for row in features[:20]]
    )
    assert whole.shape == (len(X_test), 1 + len(model[-1].channel_names_))
    # Float64 inside: a row's result does not depend on its batch beyond float32 rounding.
    np.testing.assert_allclose(one_by_one, whole[:20], rtol=0, atol=TOLERANCE)


def test_metadata_names_columns_channels_and_version(detector, tmp_path):
    X_train, y_train, X_test = detector
    model = _model("standard").fit(X_train, y_train)
    path = tmp_path / "model.onnx"
    written = to_onnx(model, path, opset=18)

    loaded = onnx.load(path)
    assert loaded == written
    onnx.checker.check_model(str(path), full_check=True)
    metadata = {entry.key: entry.value for entry in loaded.metadata_props}
    assert json.loads(metadata["feature_names"]) == list(X_train.columns)
    assert json.loads(metadata["channel_names"]) == model[-1].channel_names_
    assert json.loads(metadata["channel_outputs"]) == model[-1].channel_names_
    assert metadata["channeldecomp_version"] == __version__
    assert json.loads(metadata["good_label"]) == 1
    assert json.loads(metadata["preprocessing"]) == ["StandardScaler"]
    assert {entry.domain: entry.version for entry in loaded.opset_import}[""] == 18
    # ONNX Runtime reads the same metadata; columns are matched by name.
    session = ort.InferenceSession(str(path))
    stored = session.get_modelmeta().custom_metadata_map["feature_names"]
    assert stored == metadata["feature_names"]
    shuffled = X_test[X_test.columns[::-1]]
    pd.testing.assert_frame_equal(predict_onnx(session, shuffled), predict_onnx(path, X_test))


@pytest.mark.numerics
def test_opsets_give_the_same_outputs(detector):
    X_train, y_train, X_test = detector
    model = _model("quantile_normal", combiner="min").fit(X_train, y_train)
    # Opset 18 moved ReduceMin's axes from an attribute to an input.
    outputs = [predict_onnx(to_onnx(model, opset=opset), X_test) for opset in (13, 17, 18, 22)]
    for other in outputs[1:]:
        np.testing.assert_allclose(other, outputs[0], rtol=0, atol=TOLERANCE)
    for opset in (12, 99, 17.0, True):
        with pytest.raises(ValueError, match="opset must be an integer from 13"):
            to_onnx(model, opset=opset)


def test_model_without_feature_names_and_unusual_channel_names():
    data = make_channel_anomalies(n_samples=300, random_state=2)
    X = data.data.to_numpy()
    channels = {"pixel-barrel": list(range(0, 10)), "2mu": list(range(10, X.shape[1]))}
    model = _model(channels=channels).fit(X, data.target.to_numpy())
    onnx_model = to_onnx(model)

    assert [output.name for output in onnx_model.graph.output] == [
        "p_good",
        "pixel_barrel",
        "_2mu",
    ]
    metadata = {entry.key: entry.value for entry in onnx_model.metadata_props}
    assert json.loads(metadata["feature_names"]) == [f"x{i}" for i in range(X.shape[1])]
    assert json.loads(metadata["channel_names"]) == ["pixel-barrel", "2mu"]
    outputs = predict_onnx(onnx_model, X)
    assert list(outputs.columns) == ["p_good", "pixel-barrel", "2mu"]
    assert (onnx_parity(model, onnx_model, X) <= TOLERANCE).all()
    with pytest.raises(
        ValueError, match=rf"shape \(300, 3\); the ONNX model takes \(n, {X.shape[1]}\)"
    ):
        predict_onnx(onnx_model, X[:, :3])


def test_channel_output_names_map_and_reject_collisions():
    assert channel_output_names(["muons", "a b", "é", "9"]) == ["muons", "a_b", "_", "_9"]
    assert channel_output_names([""]) == ["_"]
    with pytest.raises(ValueError, match="Channel 'a_b' would be the ONNX output 'a_b'"):
        channel_output_names(["a-b", "a_b"])
    with pytest.raises(ValueError, match="already the model's P\\(good\\) output"):
        channel_output_names(["p_good"])
    with pytest.raises(ValueError, match="already the model's input"):
        channel_output_names(["features"])


def test_unconvertible_models_raise_clear_errors():
    classifier = ChannelDecompositionClassifier()
    with pytest.raises(ValueError, match=r"step 'minmax' is a MinMaxScaler"):
        to_onnx(Pipeline([("minmax", MinMaxScaler()), ("clf", classifier)]))
    with pytest.raises(ValueError, match="last step 'scale' is a StandardScaler"):
        to_onnx(Pipeline([("scale", StandardScaler())]))
    with pytest.raises(TypeError, match="got StandardScaler"):
        to_onnx(StandardScaler())
    with pytest.raises(NotFittedError):
        to_onnx(classifier)
    with pytest.raises(NotFittedError):
        to_onnx(Pipeline([("scale", StandardScaler()), ("clf", classifier)]))


def _run_kernel(build, x):
    """Run a float64 -> float64 kernel of _onnx_graph as a one-input ONNX model."""
    helper = onnx.helper
    g = _onnx_graph.GraphBuilder(17, reserved=["x", "y"])
    build(g, "x", "y")
    shape = ["n", *x.shape[1:]]
    graph = helper.make_graph(
        g.nodes,
        "kernel",
        [helper.make_tensor_value_info("x", onnx.TensorProto.DOUBLE, shape)],
        [helper.make_tensor_value_info("y", onnx.TensorProto.DOUBLE, shape)],
        initializer=g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString())
    return session.run(None, {"x": x})[0]


def test_normal_cdf_and_quantile_match_scipy():
    from scipy.special import ndtr, ndtri

    x = np.linspace(-38.0, 38.0, 20001)
    cdf = _run_kernel(lambda g, x, y: g.op("Identity", _onnx_graph.normal_cdf(g, x), output=y), x)
    # Double precision: absolute error of a few 1e-16.
    np.testing.assert_allclose(cdf, ndtr(x), rtol=0, atol=1e-15)
    tail = (x < -3) & (x > -35)  # relative accuracy in the lower tail (above subnormals)
    np.testing.assert_allclose(cdf[tail], ndtr(x[tail]), rtol=1e-12, atol=0)

    p = np.concatenate(
        [np.logspace(-300, -1, 2000), np.linspace(0.01, 0.99, 2001), 1 - np.logspace(-16, -1, 2000)]
    )
    quantile = _run_kernel(
        lambda g, x, y: g.op("Identity", _onnx_graph.normal_quantile(g, x), output=y), p
    )
    # Acklam's approximation alone is off by up to 1.2e-9 (relative); refined, ~1e-14.
    np.testing.assert_allclose(quantile, ndtri(p), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("distribution", ["normal", "uniform"])
@pytest.mark.parametrize("n_quantiles", [1, 2, 7, 200, 256])
def test_quantile_transform_kernel_matches_scikit_learn(distribution, n_quantiles):
    rng = np.random.default_rng(n_quantiles)
    train = np.column_stack(
        [
            rng.normal(size=300),
            rng.integers(0, 5, 300).astype(float),  # tied quantiles
            np.full(300, 3.0),  # a constant feature
            rng.exponential(size=300) * 1e3,
        ]
    )
    transformer = QuantileTransformer(
        output_distribution=distribution, n_quantiles=n_quantiles
    ).fit(train)
    quantiles = transformer.quantiles_
    X = np.concatenate(
        [
            train,
            rng.normal(size=(200, 4)) * 3,  # beyond the range too
            quantiles,  # exactly on the quantiles
            quantiles[[0, -1]] + 1e-8,  # within BOUNDS_THRESHOLD of the ends
            quantiles[[0, -1]] - 1e-8,
        ]
    )
    result = _run_kernel(
        lambda g, x, y: _onnx_graph.quantile_transform(g, x, transformer, output=y), X
    )
    # np.interp's arithmetic, operation for operation: equal to the last bits; the normal
    # quantile function adds its ~1e-14.
    np.testing.assert_allclose(result, transformer.transform(X), rtol=0, atol=1e-12)


def test_importing_the_package_imports_no_onnx_module():
    code = (
        "import sys, channeldecomp, channeldecomp.export; "
        "print(sorted(m for m in ('onnx', 'onnxruntime', 'skl2onnx') if m in sys.modules))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]"
