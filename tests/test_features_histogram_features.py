"""HistogramFeatures: the features of ME histograms, missing records, sklearn behaviour."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import QuantileTransformer

from channeldecomp import (
    ChannelDecompositionClassifier,
    HistogramFeatures,
    LumiSectionHistograms,
)


def _one_me(rows, binning=(0.0, 4.0, 4), me="DT/Segments", present=None):
    rows = np.asarray(rows, dtype=float)
    return LumiSectionHistograms.from_arrays(
        np.ones(len(rows), dtype=int),
        np.arange(1, len(rows) + 1),
        {me: rows},
        {me: binning},
        present=None if present is None else {me: np.asarray(present)},
    )


def test_statistics_of_a_known_histogram():
    # Bins of width 1 on [0, 4]: all mass in bin 1 (centre 1.5) for LS 1, split for LS 2.
    h = _one_me([[0, 4, 0, 0], [0, 2, 2, 0], [0, 0, 4, 0]])
    features = HistogramFeatures(quantiles=[0.5], max_bins=2).set_output(transform="pandas")
    X = features.fit_transform(h)
    prefix = "DT__Segments_"
    assert X.columns.tolist() == [
        prefix + s
        for s in [
            "log_entries",
            "b0",
            "b1",
            "mean",
            "std",
            "q50",
            "chi2",
            "ks",
            "wasserstein",
            "missing",
        ]
    ]
    row = X.iloc[1]
    assert row[prefix + "log_entries"] == pytest.approx(np.log(5.0))
    assert row[prefix + "b0"] == pytest.approx(0.5) and row[prefix + "b1"] == pytest.approx(0.5)
    assert row[prefix + "mean"] == pytest.approx(2.0)
    assert row[prefix + "std"] == pytest.approx(0.5)
    assert row[prefix + "q50"] == pytest.approx(2.0)  # the median splits bins 1 and 2
    # The reference is the bin-wise median [0, 2/4, 2/4... ] -> [0, .5, .5, 0]: LS 2 itself.
    np.testing.assert_allclose(features.reference_["DT/Segments"], [0, 0.5, 0.5, 0])
    assert row[prefix + "chi2"] == pytest.approx(0.0)
    first = X.iloc[0]
    # p = [0, 1, 0, 0] against r = [0, .5, .5, 0]: chi2 = 0.5 * (.25/1.5 + .25/.5) = 1/3.
    assert first[prefix + "chi2"] == pytest.approx(1.0 / 3.0)
    assert first[prefix + "ks"] == pytest.approx(0.5)
    assert first[prefix + "wasserstein"] == pytest.approx(0.5)  # half the mass moved by 1
    assert first[prefix + "q50"] == pytest.approx(1.5)
    assert X.index.names == ["run", "lumi"]


def test_rebinning_groups_adjacent_bins():
    h = _one_me([[1, 2, 3, 4, 5, 6, 7]], binning=(0, 7, 7))
    X = HistogramFeatures(max_bins=3, moments=False, quantiles=[], distances=[]).fit_transform(h)
    # 7 bins into 3 groups: [0, 2), [2, 5), [5, 7).
    np.testing.assert_allclose(X[0, 1:4], np.array([3, 12, 13]) / 28)
    X = HistogramFeatures(max_bins=0, moments=False, quantiles=[], distances=[]).fit_transform(h)
    assert X.shape == (1, 2)  # log entries and missing only


def test_two_dimensional_maps():
    rng = np.random.default_rng(0)
    values = rng.poisson(5.0, size=(4, 6, 8)).astype(float)
    binning = (-3.0, 3.0, 8, -np.pi, np.pi, 6)
    h = LumiSectionHistograms.from_arrays(
        [1] * 4,
        [1, 2, 3, 4],
        {"HCAL/Occupancy eta-phi": values},
        {"HCAL/Occupancy eta-phi": binning},
    )
    projections = HistogramFeatures(max_bins=4, quantiles=[0.5]).fit(h)
    names = projections.get_feature_names_out().tolist()
    assert "HCAL__Occupancy_eta_phi_x_b3" in names and "HCAL__Occupancy_eta_phi_y_b3" in names
    assert {"HCAL__Occupancy_eta_phi_x_mean", "HCAL__Occupancy_eta_phi_y_q50"} <= set(names)
    assert {"HCAL__Occupancy_eta_phi_chi2", "HCAL__Occupancy_eta_phi_y_wasserstein"} <= set(names)
    X = pd.DataFrame(projections.transform(h), columns=names)
    p = values / values.sum(axis=(1, 2), keepdims=True)
    centers_x = np.linspace(-3, 3, 9)[:-1] + 0.375
    np.testing.assert_allclose(X["HCAL__Occupancy_eta_phi_x_mean"], p.sum(axis=1) @ centers_x)
    cells = HistogramFeatures(map_reduction="cells", cells=(2, 2), quantiles=[], distances=[])
    X = cells.set_output(transform="pandas").fit_transform(h)
    cell_columns = [c for c in X.columns if "_c" in c]
    assert len(cell_columns) == 4
    np.testing.assert_allclose(X["HCAL__Occupancy_eta_phi_c1_0"], p[:, 3:, :4].sum(axis=(1, 2)))
    np.testing.assert_allclose(X[cell_columns].sum(axis=1), 1.0)
    both = HistogramFeatures(map_reduction="both", cells=(2, 2), max_bins=4, quantiles=[0.5])
    both.fit(h)
    assert len(both.get_feature_names_out()) == len(projections.get_feature_names_out()) + 4


def test_missing_and_empty_records_are_nan_free_and_flagged():
    h = _one_me(
        [[0, 4, 0, 0], [0, 0, 0, 0], [0, 2, 2, 0], [0, 0, 0, 0]], present=[True, False, True, True]
    )
    features = HistogramFeatures().set_output(transform="pandas")
    X = features.fit_transform(h)
    np.testing.assert_allclose(features.reference_["DT/Segments"], [0, 0.75, 0.25, 0])
    assert np.isfinite(X.to_numpy()).all()
    assert X["DT__Segments_missing"].tolist() == [0.0, 1.0, 0.0, 0.0]
    # The reference: the median of LS 1 and 3 (LS 2 is missing, LS 4 empty): [0, .75, .25, 0].
    reference_mean = 0.75 * 1.5 + 0.25 * 2.5
    for lumi in (2, 4):  # missing and empty: reference shape, zero contents and distances
        row = X.loc[(1, lumi)]
        assert row["DT__Segments_log_entries"] == 0.0
        assert row["DT__Segments_b1"] == 0.0 and row["DT__Segments_chi2"] == 0.0
        assert row["DT__Segments_mean"] == pytest.approx(reference_mean)


def test_chunks_do_not_change_the_result():
    rng = np.random.default_rng(1)
    h = _one_me(rng.poisson(3.0, size=(25, 10)), binning=(0, 1, 10))
    full = HistogramFeatures().fit(h)
    chunked = HistogramFeatures(chunk_size=4).fit(h)
    np.testing.assert_array_equal(full.transform(h), chunked.transform(h))
    np.testing.assert_array_equal(full.transform(h[5:9]), full.transform(h)[5:9])


def test_parameter_and_input_errors():
    h = _one_me([[1, 2, 3, 4]])
    with pytest.raises(TypeError, match="takes a LumiSectionHistograms"):
        HistogramFeatures().fit(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"quantiles must lie in \(0, 1\)"):
        HistogramFeatures(quantiles=[50]).fit(h)
    with pytest.raises(ValueError, match="Unknown distance"):
        HistogramFeatures(distances=["energy"]).fit(h)
    with pytest.raises(ValueError, match="cells must be a pair"):
        HistogramFeatures(cells=(0, 2)).fit(h)
    with pytest.raises(ValueError, match="map_reduction"):
        HistogramFeatures(map_reduction="sum").fit(h)
    with pytest.raises(ValueError, match="Unknown ME"):
        HistogramFeatures(mes=["ECAL/X"]).fit(h)
    fitted = HistogramFeatures().fit(h)
    other = _one_me([[1, 2]], binning=(0, 4, 2))
    with pytest.raises(ValueError, match=r"ME 'DT/Segments' has binning .* in X but"):
        fitted.transform(other)
    with pytest.raises(ValueError, match="missing from X"):
        fitted.transform(_one_me([[1, 2, 3, 4]], me="RPC/Efficiency"))
    with pytest.raises(NotFittedError):
        HistogramFeatures().transform(h)
    clash = LumiSectionHistograms.from_arrays(
        [1], [1], {"DT/a b": [[1.0]], "DT/a-b": [[1.0]]}, {"DT/a b": (0, 1, 1), "DT/a-b": (0, 1, 1)}
    )
    with pytest.raises(ValueError, match="not unique"):
        HistogramFeatures().fit(clash)


def test_sklearn_api_clone_pickle_and_params():
    # The array-based common checks do not apply (the input is a LumiSectionHistograms, not a
    # 2-D array): the API they would check is tested here.
    rng = np.random.default_rng(2)
    h = _one_me(rng.poisson(3.0, size=(10, 6)), binning=(0, 1, 6))
    features = HistogramFeatures(max_bins=3, quantiles=(0.25, 0.75))
    assert clone(features).get_params() == features.get_params()
    assert features.set_params(max_bins=2).max_bins == 2
    fitted = features.fit(h)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(h), fitted.transform(h))
    assert fitted.transform(h).dtype == np.float64
    assert not hasattr(clone(fitted), "reference_")
    assert fitted.__sklearn_tags__().input_tags.two_d_array is False


def _toy_histograms(n_runs=8, per_run=30, seed=0):
    """Two subsystems; bad LS have a shifted DT distribution or a hot ECAL bin."""
    rng = np.random.default_rng(seed)
    n = n_runs * per_run
    run = np.repeat(np.arange(100, 100 + n_runs), per_run)
    lumi = np.tile(np.arange(1, per_run + 1), n_runs)
    fault = rng.choice(3, size=n, p=[0.6, 0.2, 0.2])  # 0 good, 1 DT, 2 ECAL
    dt_shape = np.exp(-0.5 * ((np.arange(10) - 4.5 - 2.0 * (fault == 1)[:, None]) / 2.0) ** 2)
    dt = rng.poisson(200 * dt_shape / dt_shape.sum(axis=1, keepdims=True))
    ecal_rate = np.full((n, 4, 5), 10.0)
    ecal_rate[fault == 2, 1, 2] = 60.0
    ecal = rng.poisson(ecal_rate)
    h = LumiSectionHistograms.from_arrays(
        run,
        lumi,
        {"DT/Segments": dt, "ECAL/Occupancy": ecal},
        {"DT/Segments": (0, 10, 10), "ECAL/Occupancy": (-3, 3, 5, -3.2, 3.2, 4)},
    )
    return h, (fault == 0).astype(int), run


def test_cross_val_score_pipeline_grouped_by_run():
    h, y, run = _toy_histograms()
    pipeline = Pipeline(
        [
            ("features", HistogramFeatures()),
            ("scale", QuantileTransformer(n_quantiles=50, output_distribution="normal")),
            (
                "clf",
                ChannelDecompositionClassifier(
                    channels="prefix", hidden_layer_sizes=(8,), max_epochs=3, random_state=0
                ),
            ),
        ]
    ).set_output(transform="pandas")
    scores = cross_val_score(pipeline, h, y, cv=GroupKFold(n_splits=2), groups=run)
    assert scores.shape == (2,) and np.all((scores >= 0) & (scores <= 1))
    fitted = pipeline.fit(h, y)
    assert fitted.named_steps["clf"].channel_names_ == ["DT", "ECAL"]
    channel_scores = fitted.transform(h)
    assert list(channel_scores.columns) == ["DT", "ECAL"] and len(channel_scores) == len(h)
