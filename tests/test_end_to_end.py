"""The whole chain: simulated lumisections -> percentile features -> scaler -> classifier."""

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from channeldecomp import ChannelDecompositionClassifier, LumiSectionPercentiles
from channeldecomp.datasets import simulate_lumisections


@pytest.fixture(scope="module")
def detector():
    return simulate_lumisections(240, 60, random_state=3)


def _pipeline(**classifier_params):
    params = {"max_epochs": 5, "hidden_layer_sizes": (16,), "random_state": 0}
    return Pipeline(
        [
            ("features", LumiSectionPercentiles(lumisection_columns=False)),
            ("scale", StandardScaler()),
            ("clf", ChannelDecompositionClassifier(channels="prefix", **params)),
        ]
    ).set_output(transform="pandas")


def test_cross_val_score_splits_lumisections_directly(detector):
    scores = cross_val_score(_pipeline(), detector.lumisections, detector.y, cv=3)
    assert scores.shape == (3,)
    assert np.isfinite(scores).all()


def test_grid_search_over_a_transformer_parameter(detector):
    search = GridSearchCV(
        _pipeline(),
        {"features__n_quantiles": [1, 3]},
        scoring="roc_auc",
        cv=2,
    ).fit(detector.lumisections, detector.y)
    best = search.best_estimator_
    assert best["clf"].channel_names_ == ["muons", "photons", "pf", "calo_jets"]
    n_quantiles = search.best_params_["features__n_quantiles"]
    assert any(f"_q{n_quantiles}_" in name for name in best["clf"].feature_names_in_)
    assert not any(f"_q{n_quantiles + 1}_" in name for name in best["clf"].feature_names_in_)


@pytest.mark.numerics
def test_fitted_chain_saves_with_joblib_and_keeps_the_lumisection_keys(detector, tmp_path):
    model = _pipeline().fit(detector.lumisections, detector.y)
    joblib.dump(model, tmp_path / "chain.joblib")
    loaded = joblib.load(tmp_path / "chain.joblib")
    some = detector.lumisections[10:30]
    np.testing.assert_array_equal(loaded.predict_proba(some), model.predict_proba(some))
    scores = model["clf"].predict_channel_scores(model[:-1].transform(some))
    assert isinstance(scores, pd.DataFrame)
    assert scores.index.equals(detector["keys"][10:30])
