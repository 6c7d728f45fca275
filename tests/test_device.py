"""The ``device`` parameter of every torch estimator (``channeldecomp/_device.py``).

On any machine: ``device="cpu"`` given explicitly, the clear error for CUDA without a GPU at
fit, and the CPU fallback (with a warning) of a model whose device is CUDA on a machine without
one. With a CUDA GPU: training there, results close to the CPU's, and fitted attributes that
hold no CUDA tensor (so a model file loads on a machine without a GPU).

"No CUDA" is simulated by replacing ``torch.cuda.is_available``, so the CPU-side cases run on
GPU machines too; torch's own loading of CUDA tensors consults the same function, which makes
the pickle round trip below a faithful stand-in for loading on a CPU-only machine.
"""

import pickle

import numpy as np
import pytest
import torch

from channeldecomp import ChannelDecompositionClassifier
from channeldecomp.datasets import (
    make_adc_events,
    make_channel_anomalies,
    make_conditional_anomalies,
)
from channeldecomp.detectors import AnomalyCLR, AutoencoderDetector, FluxMutability

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


# Tiny, dropout-free configurations: without dropout, training on CUDA and on the CPU differ
# only by float rounding (same initial weights, drawn on the CPU; same batches, from numpy).
def _classifier(**kw):
    return ChannelDecompositionClassifier(
        hidden_layer_sizes=(8,),
        input_dropout=0.0,
        dropout=0.0,
        head_dropout=0.0,
        max_epochs=2,
        random_state=0,
        **kw,
    )


CASES = {
    "classifier": (_classifier, "channels"),
    # two networks of different seeds: every net of the ensemble must leave CUDA after fit
    "ensemble": (lambda **kw: _classifier(n_estimators=2, **kw), "channels"),
    "autoencoder": (
        lambda **kw: AutoencoderDetector(ae_hidden_size=8, ae_max_epochs=2, random_state=0, **kw),
        "events",
    ),
    "anomalyclr": (
        lambda **kw: AnomalyCLR(
            embed_dim=8,
            n_heads=2,
            n_layers=1,
            output_dim=4,
            dropout=0.0,
            max_epochs=1,
            ae_max_epochs=2,
            random_state=0,
            **kw,
        ),
        "events",
    ),
    "flux": (
        lambda **kw: FluxMutability(
            conditions=["luminosity", "pileup"],
            n_blocks=1,
            hidden_units=8,
            max_epochs=2,
            population_size=20,
            random_state=0,
            **kw,
        ),
        "conditional",
    ),
}


@pytest.fixture(scope="module")
def datasets():
    channels = make_channel_anomalies(n_samples=200, n_features_per_channel=3, random_state=0)
    events = make_adc_events(n_background=200, n_signal=0, random_state=0)
    conditional = make_conditional_anomalies(200, anomaly_fraction=0.0, random_state=0)
    return {
        "channels": (channels.data, channels.target),
        "events": (events.data, None),
        "conditional": (conditional.data, None),
    }


def _fit(name, datasets, **params):
    factory, data = CASES[name]
    X, y = datasets[data]
    return factory(**params).fit(X, y), X


def _outputs(estimator, X, labels=True):
    """Every inference output of the estimator, as float64 arrays; with ``labels=False`` the
    continuous ones only (a score near the threshold may flip its label within a tolerance)."""
    if isinstance(estimator, ChannelDecompositionClassifier):
        outputs = [estimator.predict_proba(X), estimator.predict_channel_scores(X).to_numpy()]
        if estimator.n_estimators > 1:
            outputs.append(estimator.predict_channel_scores(X, return_std=True)[1].to_numpy())
        return outputs + ([estimator.predict(X).astype(float)] if labels else [])
    outputs = [estimator.score_samples(X)]
    if labels:
        outputs.append(estimator.predict(X).astype(float))
    if isinstance(estimator, AnomalyCLR):
        outputs.append(estimator.transform(X))
    if isinstance(estimator, FluxMutability):
        conditions = X.iloc[:5][["luminosity", "pileup"]].to_numpy()
        outputs.append(estimator.generate(conditions, 3, random_state=0))
    return outputs


def _cuda_tensors(obj, path="estimator", seen=None):
    """Paths of every tensor not on the CPU reachable from ``obj`` through attributes, dict
    keys and values, and sequence items (torch modules and optimizers included)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or isinstance(obj, (type, str, bytes, int, float, np.ndarray)):
        return []
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        return [] if obj.device.type == "cpu" else [path]
    found = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            found += _cuda_tensors(key, f"{path}[key]", seen)
            found += _cuda_tensors(value, f"{path}[{key!r}]", seen)
    elif isinstance(obj, (list, tuple, set)):
        for index, value in enumerate(obj):
            found += _cuda_tensors(value, f"{path}[{index}]", seen)
    elif hasattr(obj, "__dict__") and not callable(obj) or isinstance(obj, torch.nn.Module):
        for key, value in vars(obj).items():
            found += _cuda_tensors(value, f"{path}.{key}", seen)
    return found


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


# ------------------------------------------------------------------------------ any machine


@pytest.mark.parametrize("name", CASES)
def test_explicit_cpu_device_is_the_default(name, datasets):
    default, X = _fit(name, datasets)
    explicit, _ = _fit(name, datasets, device="cpu")
    as_object, _ = _fit(name, datasets, device=torch.device("cpu"))
    for expected, got, got_object in zip(
        _outputs(default, X), _outputs(explicit, X), _outputs(as_object, X)
    ):
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(got_object, expected)
    assert _cuda_tensors(explicit) == []


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_without_a_gpu_is_an_error_at_fit(name, device, datasets, no_cuda):
    with pytest.raises(ValueError, match=rf"device='{device}' but torch sees no CUDA device"):
        _fit(name, datasets, device=device)


@pytest.mark.parametrize("name", CASES)
def test_unknown_device_is_an_error_at_fit(name, datasets):
    with pytest.raises(ValueError, match="device='gpu' is not a torch device"):
        _fit(name, datasets, device="gpu")


@pytest.mark.parametrize("name", CASES)
def test_cuda_device_without_a_gpu_predicts_on_the_cpu_with_a_warning(name, datasets, no_cuda):
    fitted, X = _fit(name, datasets)
    expected = _outputs(fitted, X)
    fitted.set_params(device="cuda")
    with pytest.warns(UserWarning, match="torch sees no CUDA device; computing on the CPU"):
        got = _outputs(fitted, X)
    for expected_part, got_part in zip(expected, got):
        np.testing.assert_array_equal(got_part, expected_part)


# ------------------------------------------------------------------------------ with a GPU

# Same fitted model, inference on CUDA vs the CPU. The classifier and the object-set detectors
# infer in float64, where kernels that sum in another order differ by ~1e-15 relative (measured
# on an H200: at most 4e-15); 1e-9 leaves a wide margin and still catches any float32 step.
# FluxMutability infers in float64 too, but its score is piecewise linear between the sorted
# log-densities of 20 generated points: where two of them nearly coincide, any difference in
# the last bits can move it by up to one step, 1/21. Its generated points keep 1e-4, the bound
# set when it inferred in float32 (then measured: 2e-6).
FLOAT64 = dict(rtol=1e-9, atol=1e-12)
FLUX_SCORES = dict(rtol=1e-4, atol=1.01 / 21)
INFERENCE_TOLERANCE = {
    "classifier": FLOAT64,
    "ensemble": FLOAT64,
    "autoencoder": FLOAT64,
    "anomalyclr": FLOAT64,
    "flux": [FLUX_SCORES, dict(rtol=1e-4, atol=1e-4)],
}


def _assert_close(name, expected, got, tolerances):
    tolerance = tolerances[name]
    per_output = tolerance if isinstance(tolerance, list) else [tolerance] * len(expected)
    assert len(per_output) == len(expected) == len(got)
    for expected_part, got_part, part_tolerance in zip(expected, got, per_output):
        np.testing.assert_allclose(got_part, expected_part, **part_tolerance)


@needs_cuda
@pytest.mark.parametrize("name", CASES)
def test_cuda_inference_matches_the_cpu(name, datasets):
    fitted, X = _fit(name, datasets)
    on_cpu = _outputs(fitted, X, labels=False)
    fitted.set_params(device="cuda")
    _assert_close(name, on_cpu, _outputs(fitted, X, labels=False), INFERENCE_TOLERANCE)
    assert _cuda_tensors(fitted) == []


# Training on CUDA vs the CPU from the same initial weights and batches differs by float32
# rounding over a few dozen optimizer steps: measured on an H200, at most 5e-9 (classifier),
# 4e-9 (autoencoder), 1e-7 (AnomalyCLR) and 2e-6 (FluxMutability). 1e-4 leaves a margin of
# 1000 (Adam's normalisation can turn a gradient near zero into a full step of either sign) and
# still catches any real difference in the training: another seed moves the outputs by 0.02
# (FluxMutability's generated points) to 3 (AnomalyCLR's). FluxMutability's scores get the
# one-step allowance explained above.
CLOSE = dict(rtol=1e-4, atol=1e-4)
TRAINING_TOLERANCE = {
    "classifier": CLOSE,
    "ensemble": CLOSE,
    "autoencoder": CLOSE,
    "anomalyclr": CLOSE,
    "flux": [FLUX_SCORES, CLOSE],
}


@needs_cuda
@pytest.mark.parametrize("name", CASES)
def test_cuda_training_is_close_to_the_cpu_and_leaves_no_cuda_tensor(name, datasets, monkeypatch):
    on_cpu, X = _fit(name, datasets)
    on_cuda, _ = _fit(name, datasets, device="cuda")
    assert _cuda_tensors(on_cuda) == []
    expected, got = _outputs(on_cpu, X, labels=False), _outputs(on_cuda, X, labels=False)
    _assert_close(name, expected, got, TRAINING_TOLERANCE)
    # A model file of the CUDA fit loads and predicts where torch sees no CUDA (loading a
    # CUDA tensor there would raise), on the CPU, with a warning.
    payload = pickle.dumps(on_cuda)
    on_cuda.set_params(device="cpu")
    cpu_inference = _outputs(on_cuda, X)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    restored = pickle.loads(payload)
    with pytest.warns(UserWarning, match="computing on the CPU"):
        restored_outputs = _outputs(restored, X)
    for expected_part, got_part in zip(cpu_inference, restored_outputs):
        np.testing.assert_array_equal(got_part, expected_part)


@needs_cuda
def test_cuda_ordinal_out_of_range_is_an_error(datasets):
    device = f"cuda:{torch.cuda.device_count()}"
    with pytest.raises(ValueError, match="CUDA device"):
        _fit("autoencoder", datasets, device=device)


@needs_cuda
def test_training_on_cuda_leaves_the_global_random_state_alone(datasets):
    cpu_state, cuda_state = torch.get_rng_state(), torch.cuda.get_rng_state()
    _fit("anomalyclr", datasets, device="cuda")
    assert torch.equal(torch.get_rng_state(), cpu_state)
    assert torch.equal(torch.cuda.get_rng_state(), cuda_state)
