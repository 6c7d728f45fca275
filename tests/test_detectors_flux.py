import logging
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

import channeldecomp
from channeldecomp.datasets import make_conditional_anomalies
from channeldecomp.detectors import FluxMutability
from channeldecomp.detectors._maf import ConditionalMAF

TINY = dict(n_blocks=2, hidden_units=16, max_epochs=8, batch_size=128, population_size=40)


@pytest.fixture(scope="module")
def toy():
    train = make_conditional_anomalies(1500, anomaly_fraction=0.0, random_state=1)
    test = make_conditional_anomalies(800, anomaly_fraction=0.3, random_state=2)
    return train, test


@pytest.fixture(scope="module")
def fitted(toy):
    train, _ = toy
    detector = FluxMutability(
        conditions=train.condition_names,
        n_blocks=3,
        hidden_units=32,
        max_epochs=40,
        population_size=60,
        random_state=0,
    )
    return detector.fit(train.data)


def _random_flow(n_features, n_context, seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        flow = ConditionalMAF(n_features, n_context, n_blocks=3, hidden_units=12, n_hidden_layers=2)
        for parameter in flow.parameters():
            torch.nn.init.normal_(parameter, std=0.4)
    return flow.double()


@pytest.mark.numerics
def test_flow_sampling_inverts_density_evaluation():
    flow = _random_flow(3, 2)
    noise = torch.randn(50, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    context = torch.randn(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    points, log_prob = flow.sample(noise, context)
    torch.testing.assert_close(flow.to_noise(points, context), noise, rtol=0, atol=1e-10)
    torch.testing.assert_close(flow(points, context), log_prob, rtol=0, atol=1e-10)
    # The density is normalised: the log-density of the flow matches the change of variables
    # of a standard normal, checked here through a numerical Jacobian at one point.
    jacobian = torch.autograd.functional.jacobian(
        lambda x: flow.to_noise(x, context[:1]), points[:1]
    ).reshape(3, 3)
    expected = (
        -0.5 * (noise[0] ** 2).sum()
        - 1.5 * np.log(2 * np.pi)
        + torch.linalg.slogdet(jacobian).logabsdet
    )
    torch.testing.assert_close(log_prob[0], expected, rtol=0, atol=1e-8)
    # The conditions matter, and an unconditional flow takes no context.
    assert not torch.allclose(flow.log_prob(points, context.flip(0)), log_prob)
    unconditional = _random_flow(3, 0)
    points, log_prob = unconditional.sample(noise, torch.zeros(50, 0, dtype=torch.float64))
    torch.testing.assert_close(unconditional.log_prob(points), log_prob, rtol=0, atol=1e-10)


def test_flux_detects_conditional_anomalies_that_marginal_flow_misses(toy, fitted):
    train, test = toy
    features = train.feature_names
    conditional = test.anomaly_kind != "marginal"
    flux_auc = roc_auc_score(test.target[conditional], fitted.score_samples(test.data[conditional]))
    marginal_flow = FluxMutability(**{**TINY, "max_epochs": 40}, random_state=0)
    marginal_flow.fit(train.data[features])
    marginal_auc = roc_auc_score(
        test.target[conditional], marginal_flow.score_samples(test.data.loc[conditional, features])
    )
    assert flux_auc > 0.9
    assert flux_auc > marginal_auc + 0.2


def test_scores_are_calibrated_pvalues_on_reference_data(fitted):
    fresh = make_conditional_anomalies(600, anomaly_fraction=0.0, random_state=5).data
    scores = fitted.score_samples(fresh)
    assert ((scores > 0) & (scores <= 1)).all()
    # Roughly uniform: mean near 1/2 and the 5 % cut flags a few per cent.
    assert abs(scores.mean() - 0.5) < 0.1
    assert 0.0 < np.mean(fitted.predict(fresh) == -1) < 0.15
    assert fitted.offset_ == pytest.approx(0.05)


@pytest.mark.numerics
def test_conditions_by_name_and_by_index_agree(toy):
    train, test = toy
    by_name = FluxMutability(conditions=["pileup", "luminosity"], **TINY, random_state=3)
    columns = list(train.data.columns)
    by_index = FluxMutability(
        conditions=[columns.index("pileup"), columns.index("luminosity")], **TINY, random_state=3
    )
    scores_name = by_name.fit(train.data).score_samples(test.data)
    scores_index = by_index.fit(train.data.to_numpy()).score_samples(test.data.to_numpy())
    np.testing.assert_allclose(scores_name, scores_index)
    assert list(by_name.condition_indices_) == [
        columns.index("pileup"),
        columns.index("luminosity"),
    ]
    assert len(by_name.feature_indices_) == len(train.feature_names)


@pytest.mark.numerics
def test_seeded_and_leaves_global_random_state_alone(toy):
    train, test = toy
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002 (checking it is untouched)
    torch_state = torch.random.get_rng_state().clone()
    first = FluxMutability(conditions=train.condition_names, **TINY, random_state=7)
    second = FluxMutability(conditions=train.condition_names, **TINY, random_state=7)
    scores_first = first.fit(train.data).score_samples(test.data)
    scores_second = second.fit(train.data).score_samples(test.data)
    np.testing.assert_array_equal(scores_first, scores_second)
    assert (np.random.get_state()[1] == np_state).all()  # noqa: NPY002
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    # A sample's score does not depend on the batch it is scored in: scoring runs in float64,
    # where the batch's kernel blocking, the CPU's vector width and the thread count move a
    # log-density by ~1e-16 relative (float32 moved it by ~1e-7, which failed on AVX-512).
    np.testing.assert_allclose(
        first.score_samples(test.data.iloc[:7]), scores_first[:7], rtol=1e-12
    )
    np.testing.assert_allclose(
        first.generate([[1.0, 22.0]], 5, random_state=0),
        first.generate([[1.0, 22.0], [2.0, 30.0]], 5, random_state=0)[:5],
        rtol=1e-12,
    )


def test_contamination_sets_the_training_quantile(toy):
    train, _ = toy
    detector = FluxMutability(
        conditions=train.condition_names, **TINY, contamination=0.1, random_state=0
    )
    flagged = detector.fit(train.data).predict(train.data) == -1
    assert flagged.mean() == pytest.approx(0.1, abs=0.03)


def test_distance_mutability_ranks_anomalies_low(toy):
    train, test = toy
    detector = FluxMutability(
        conditions=train.condition_names,
        **{**TINY, "max_epochs": 20},
        mutability="distance",
        n_neighbors=3,
        random_state=0,
    ).fit(train.data)
    scores = detector.score_samples(test.data)
    assert roc_auc_score(test.target, scores) > 0.8


def test_generate_follows_the_conditions(fitted):
    low, high = fitted.generate([[1.0, 22.0], [2.5, 45.0]], 300, random_state=0).reshape(2, 300, -1)
    assert np.isfinite(low).all() and low.shape == (300, 4)
    reference = make_conditional_anomalies(20000, anomaly_fraction=0.0, random_state=9).data
    near_high = reference[(reference.luminosity > 2.2) & (reference.pileup > 40)]
    near_low = reference[(reference.luminosity < 1.2) & (reference.pileup < 25)]
    features = ["x0", "x1", "x2", "x3"]
    # Generated means sit closer to the reference rows of the same conditions than the other's.
    assert np.linalg.norm(high.mean(0) - near_high[features].mean().to_numpy()) < np.linalg.norm(
        high.mean(0) - near_low[features].mean().to_numpy()
    )
    assert np.linalg.norm(low.mean(0) - near_low[features].mean().to_numpy()) < np.linalg.norm(
        low.mean(0) - near_high[features].mean().to_numpy()
    )


@pytest.mark.numerics
def test_pickle_round_trip_keeps_scores(toy, fitted):
    _, test = toy
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(
        restored.score_samples(test.data.iloc[:20]), fitted.score_samples(test.data.iloc[:20])
    )


@pytest.mark.parametrize(
    ("conditions", "as_array", "error", "match"),
    [
        (["lumi"], False, ValueError, "'lumi' is not in X"),
        (["luminosity"], True, ValueError, "no column names"),
        ([9], True, ValueError, "index 9 is out of range"),
        ([0, 0], True, ValueError, "twice"),
        ([0, 1, 2, 3, 4, 5], True, ValueError, "at least one column to model"),
        ([1.5], True, TypeError, "names .* or integer indices"),
    ],
)
def test_bad_conditions_are_clear_errors(toy, conditions, as_array, error, match):
    train, _ = toy
    X = train.data.to_numpy() if as_array else train.data
    with pytest.raises(error, match=match):
        FluxMutability(conditions=conditions, **TINY).fit(X)


def test_distance_needs_fewer_neighbours_than_population(toy):
    train, _ = toy
    detector = FluxMutability(mutability="distance", n_neighbors=40, population_size=40)
    with pytest.raises(ValueError, match="n_neighbors=40"):
        detector.fit(train.data)


def test_early_stopping_keeps_the_weights_of_the_best_epoch(toy):
    train, _ = toy
    params = dict(
        conditions=train.condition_names,
        n_blocks=1,
        hidden_units=16,
        lr=3e-2,
        batch_size=64,
        validation_fraction=0.3,
        n_iter_no_change=3,
        random_state=0,
    )
    data = train.data.iloc[:300]
    stopped = FluxMutability(**params, max_epochs=200).fit(data)
    valid_loss = [record["valid_loss"] for record in stopped.history_]
    best = int(np.argmin(valid_loss)) + 1
    assert [record["epoch"] for record in stopped.history_] == list(range(1, stopped.n_iter_ + 1))
    assert stopped.n_iter_ == best + 3 < 200
    assert all(loss > valid_loss[best - 1] - 1e-4 for loss in valid_loss[best:])
    # Training only up to the best epoch draws the same batches: the same weights.
    until_best = FluxMutability(**params, max_epochs=best).fit(data)
    assert until_best.n_iter_ == best
    for name, weight in stopped.flow_.state_dict().items():
        assert torch.equal(weight, until_best.flow_.state_dict()[name]), name


def test_divergence_is_a_clear_error(toy):
    train, _ = toy
    detector = FluxMutability(conditions=train.condition_names, **TINY, lr=1e6, random_state=0)
    with pytest.raises(ValueError, match="diverged at epoch 1 .*Lower lr"):
        detector.fit(train.data)


def test_verbose_logs_the_progress_table(toy, caplog):
    train, _ = toy
    detector = FluxMutability(conditions=train.condition_names, **TINY, verbose=1)
    with caplog.at_level(logging.INFO, logger="channeldecomp.detectors._flux"):
        detector.fit(train.data)
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0].split() == ["epoch", "train_loss", "valid_loss", "dur"]
    assert len(lines) == 2 + detector.n_iter_  # header, rule, one line per epoch
    assert float(lines[-1].split()[1]) == pytest.approx(detector.history_[-1]["train_loss"], 1e-3)
    assert not any("\x1b" in line for line in lines)  # no terminal colours in the log
    caplog.clear()
    FluxMutability(conditions=train.condition_names, **TINY).fit(train.data)
    assert caplog.records == []


def test_without_zuko_fitting_is_a_clear_error(toy, monkeypatch):
    train, _ = toy
    monkeypatch.setitem(sys.modules, "zuko", None)  # import zuko now fails
    with pytest.raises(ImportError, match="pip install zuko"):
        FluxMutability(**TINY).fit(train.data)


def test_importing_the_package_does_not_import_zuko():
    code = "import sys, channeldecomp.detectors; assert 'zuko' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env=_environment())


def _environment():
    root = str(Path(channeldecomp.__file__).parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
