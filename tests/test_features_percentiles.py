import io

import joblib
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joblib import parallel_config
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from channeldecomp import LumiSectionPercentiles, LumiSections
from channeldecomp.base import resolve_channels
from channeldecomp.features import LUMISECTION_PREFIX

CHANNELS = {
    "muons": ("pt", "eta", "phi"),
    "calo": ("pt", "eta", "phi", "mass"),
    "tracks": ("pt",),
}
COUNT_CHOICES = [0, 1, 4, 5, 2, 3, 6, 9, 17]


# ---------------------------------------------------------------------- random input
@st.composite
def raw_lumisections(draw):
    """A long object table and an event table with known content (no ties in pt)."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_ls = draw(st.integers(1, 4))
    object_rows = []
    event_rows = []
    for ls in range(n_ls):
        run, lumi = 1 + ls % 2, 10 + ls
        n_events = draw(st.integers(1, 5))
        for event in rng.choice(1000, size=n_events, replace=False):
            event_rows.append((run, lumi, int(event), float(rng.uniform(0.5, 2.0))))
            for channel, props in CHANNELS.items():
                count = draw(st.sampled_from(COUNT_CHOICES))
                for _ in range(count):
                    values = {
                        "pt": float(rng.exponential(20.0)) if rng.random() > 0.1 else 0.0,
                        "eta": float(rng.normal(0, 2)),
                        "phi": float(rng.uniform(-np.pi, np.pi)),
                        "mass": float(rng.exponential(5.0)),
                    }
                    row = {"run": run, "lumi": lumi, "event": int(event), "channel": channel}
                    row.update({p: values[p] for p in props})
                    object_rows.append(row)
    columns = ["run", "lumi", "event", "channel", "pt", "eta", "phi", "mass"]
    objects = pd.DataFrame(object_rows, columns=columns)
    events = pd.DataFrame(event_rows, columns=["run", "lumi", "event", "luminosity"])
    return objects, events, seed


def build_in_chunks(objects, events, seed):
    """LumiSections from shuffled rows, each LS's events split over two chunks, then merged."""
    rng = np.random.default_rng(seed)
    chunk_of_event = {tuple(key): int(rng.integers(2)) for key in events.iloc[:, :3].to_numpy()}
    parts = []
    for chunk in (0, 1):
        in_chunk_objects = np.array(
            [
                chunk_of_event[(r, lu, e)] == chunk
                for r, lu, e in objects[["run", "lumi", "event"]].to_numpy()
            ],
            dtype=bool,
        )
        in_chunk_events = np.array(
            [
                chunk_of_event[(r, lu, e)] == chunk
                for r, lu, e in events[["run", "lumi", "event"]].to_numpy().astype(int)
            ],
            dtype=bool,
        )
        part_events = events[in_chunk_events].sample(frac=1, random_state=seed % 1000)
        part_objects = objects[in_chunk_objects].sample(frac=1, random_state=seed % 999)
        if len(part_events):
            parts.append(LumiSections.from_objects(part_objects, part_events))
    return LumiSections.concat(parts)


# ---------------------------------------------------------------------- the reference
def reference_features(objects, events, keys, *, n_quantiles, percentiles, statistics):
    """Straightforward per-event loops, then pandas groupby + np.percentile per LS.

    Channels without any object in the table are unknown to LumiSections.from_objects, so the
    reference leaves them out too.
    """
    present = set(objects.channel)
    grouped = {key: rows for key, rows in objects.groupby(["run", "lumi", "event", "channel"])}
    per_event_rows = []
    for run, lumi, event, luminosity in events.itertuples(index=False):
        row = {"run": run, "lumi": lumi}
        for channel, props in CHANNELS.items():
            if channel not in present:
                continue
            rows = grouped.get((run, lumi, event, channel), objects.iloc[:0])
            rows = rows[rows.pt > 0].sort_values("pt")
            m = len(rows)
            for prop in props:
                values = rows[prop].to_numpy()
                if m < n_quantiles:
                    slots = [0.0] * (n_quantiles - m) + list(values)
                else:
                    ranks = [k * m // n_quantiles for k in range(n_quantiles - 1)] + [m - 1]
                    slots = [values[r] for r in ranks]
                for k, value in enumerate(slots, start=1):
                    row[f"{channel}__{prop}_q{k}"] = value
            if "phi" in props:
                row[f"{channel}__px"] = float(np.sum(rows.pt * np.cos(rows.phi)))
                row[f"{channel}__py"] = float(np.sum(rows.pt * np.sin(rows.phi)))
                row[f"{channel}__pz"] = float(np.sum(rows.pt * np.sinh(rows.eta)))
            row[f"{channel}__n_objects"] = m
        row[f"{LUMISECTION_PREFIX}__luminosity"] = luminosity
        per_event_rows.append(row)
    per_event = pd.DataFrame(per_event_rows)
    columns = [c for c in per_event.columns if c not in ("run", "lumi")]

    aggregations = []
    for name in statistics:
        aggregations.append(
            (name, "mean" if name == "mean" else (lambda x: np.std(x.to_numpy(), ddof=0)))
        )
    for p in percentiles:
        aggregations.append((f"p{float(p):g}", lambda x, p=p: np.percentile(x.to_numpy(), p)))
    grouped_ls = per_event.groupby(["run", "lumi"])
    table = {}
    for column in columns:
        for stat, function in aggregations:
            table[f"{column}_{stat}"] = grouped_ls[column].agg(function)
    table[f"{LUMISECTION_PREFIX}__n_events"] = grouped_ls.size()
    return pd.DataFrame(table).loc[keys]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    raw=raw_lumisections(),
    n_quantiles=st.integers(1, 6),
    percentiles=st.lists(st.floats(0, 100), max_size=4, unique_by=lambda p: f"{p:g}"),
    statistics=st.sampled_from([(), ("mean",), ("std",), ("mean", "std"), ("std", "mean")]),
    chunk_size=st.sampled_from([1, 7, 100_000]),
)
def test_matches_pandas_reference(raw, n_quantiles, percentiles, statistics, chunk_size):
    if not statistics and not percentiles:
        percentiles = [50.0]
    objects, events, seed = raw
    ls = build_in_chunks(objects, events, seed)
    transformer = LumiSectionPercentiles(
        n_quantiles=n_quantiles,
        percentiles=percentiles,
        statistics=statistics,
        chunk_size=chunk_size,
    ).set_output(transform="pandas")
    actual = transformer.fit_transform(ls)
    expected = reference_features(
        objects,
        events,
        ls.keys,
        n_quantiles=n_quantiles,
        percentiles=percentiles,
        statistics=statistics,
    )
    assert sorted(actual.columns) == sorted(expected.columns)
    assert actual.index.equals(ls.keys)
    expected = expected[actual.columns]
    np.testing.assert_allclose(actual.to_numpy(), expected.to_numpy(float), rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------------- ties and signs
@st.composite
def flat_lumisections(draw):
    """Flat arrays with many equal values, zeros and negatives, and LS of 0 to 40 events (LS of
    similar sizes share a chunk: some rows of the layout then end with padding)."""
    n_events = draw(st.lists(st.sampled_from([0, 1, 2, 3, 19, 20, 21, 40]), min_size=1, max_size=6))
    n_total = sum(n_events)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    counts = rng.choice([0, 1, 2, 2, 3, 5, 8], size=n_total)
    n_objects = int(counts.sum())
    objects = {
        "muons": (
            counts,
            {
                "pt": rng.choice([0.0, 1.0, 2.0, 2.0, 2.5, 3.0], size=n_objects),
                "eta": rng.choice([-2.0, -1.0, 0.0, 0.0, 1.0], size=n_objects),
                "phi": rng.choice([-3.0, -1.5, 0.0, 1.5, 3.0], size=n_objects),
            },
        )
    }
    # with or without zeros: an LS without zeros checks the ranks just past the negatives
    choices = [-1.5, 0.0, 0.0, 2.0] if draw(st.booleans()) else [-1.5, -0.5, 2.0, 3.5]
    event_columns = {"luminosity": rng.choice(choices, size=n_total)}
    return np.asarray(n_events), objects, event_columns


def flat_as_lumisections(data):
    """The LumiSections of a ``flat_lumisections`` example (one run, LS 0, 1, ...)."""
    n_events, objects, event_columns = data
    return LumiSections.from_arrays(
        run=np.ones(len(n_events), int),
        lumi=np.arange(len(n_events)),
        n_events=n_events,
        objects=objects,
        event_columns=event_columns,
    )


def flat_reference(n_events, objects, event_columns, n_quantiles, percentiles, statistics):
    """Per-event loops over the flat arrays (ties in pt keep the object order), then numpy
    statistics per LS; LS without events hold 0."""
    columns = {}
    for channel, (counts, props) in objects.items():
        offsets = np.concatenate([[0], np.cumsum(counts)])
        names = [f"{channel}__{p}_q{k}" for p in props for k in range(1, n_quantiles + 1)]
        names += [f"{channel}__{name}" for name in ("px", "py", "pz", "n_objects")]
        per_event = {name: [] for name in names}
        for event in range(len(counts)):
            values = {name: v[offsets[event] : offsets[event + 1]] for name, v in props.items()}
            present = values["pt"] > 0
            order = np.argsort(values["pt"][present], kind="stable")
            values = {name: v[present][order] for name, v in values.items()}
            m = len(order)
            if m < n_quantiles:
                ranks = list(range(m - n_quantiles, m))
            else:
                ranks = [k * m // n_quantiles for k in range(n_quantiles - 1)] + [m - 1]
            for name, v in values.items():
                for k, rank in enumerate(ranks, start=1):
                    per_event[f"{channel}__{name}_q{k}"].append(v[rank] if rank >= 0 else 0.0)
            pt, phi, eta = values["pt"], values["phi"], values["eta"]
            per_event[f"{channel}__px"].append(np.sum(pt * np.cos(phi)))
            per_event[f"{channel}__py"].append(np.sum(pt * np.sin(phi)))
            per_event[f"{channel}__pz"].append(np.sum(pt * np.sinh(eta)))
            per_event[f"{channel}__n_objects"].append(m)
        columns.update(per_event)
    columns["ls__luminosity"] = event_columns["luminosity"]
    bounds = np.concatenate([[0], np.cumsum(n_events)])
    table = {}
    for name, values in columns.items():
        values = np.asarray(values, dtype=float)
        pieces = [values[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        for stat in statistics:
            function = np.mean if stat == "mean" else np.std
            table[f"{name}_{stat}"] = [function(x) if len(x) else 0.0 for x in pieces]
        for p in percentiles:
            table[f"{name}_p{float(p):g}"] = [
                np.percentile(x, p) if len(x) else 0.0 for x in pieces
            ]
    table["ls__n_events"] = n_events
    return pd.DataFrame(table)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=flat_lumisections(),
    n_quantiles=st.integers(1, 6),
    percentiles=st.lists(
        st.one_of(st.sampled_from([0.0, 1.0, 50.0, 99.0, 100.0]), st.floats(0, 100)),
        min_size=1,
        max_size=5,
        unique_by=lambda p: f"{p:g}",
    ),
    chunk_size=st.sampled_from([1, 5, 50, 100_000]),
)
def test_ties_zeros_negatives_and_small_lumisections(data, n_quantiles, percentiles, chunk_size):
    n_events, objects, event_columns = data
    ls = flat_as_lumisections(data)
    statistics = ("mean", "std")
    transformer = LumiSectionPercentiles(
        n_quantiles=n_quantiles, percentiles=percentiles, chunk_size=chunk_size
    ).set_output(transform="pandas")
    actual = transformer.fit_transform(ls)
    expected = flat_reference(
        n_events, objects, event_columns, n_quantiles, percentiles, statistics
    )
    assert sorted(actual.columns) == sorted(expected.columns)
    expected = expected[actual.columns].to_numpy(float)
    np.testing.assert_allclose(actual.to_numpy(), expected, rtol=1e-9, atol=1e-9)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=flat_lumisections(), n_quantiles=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_blocks_written_straight_equal_the_rows_placed_afterwards(data, n_quantiles, seed):
    # lumisection_blocks (the read tasks, transform) against per_event_stage then
    # lumisection_block (the merges of LS spread over files): the same blocks, bit for bit
    from channeldecomp.features._chunks import _Chunk
    from channeldecomp.features._per_event import (
        lumisection_block,
        lumisection_blocks,
        per_event_stage,
    )

    n_events = data[0]
    ls = flat_as_lumisections(data)
    plan = LumiSectionPercentiles(n_quantiles=n_quantiles).fit(ls)._kernel_plan()
    chunk = _Chunk(ls, np.arange(len(n_events)), plan)
    rng = np.random.default_rng(seed)
    starts = np.r_[0, np.cumsum(n_events)]

    def events_of(lumisections):  # their events, LS after LS, shuffled within each LS
        pieces = [rng.permutation(np.arange(starts[i], starts[i + 1])) for i in lumisections]
        return np.concatenate([np.zeros(0, dtype=np.int64), *pieces])

    # some LS in two blocks, the events of the others as rows, in any order
    in_block = rng.random(len(n_events)) < 0.6
    groups = [
        (events_of(part), n_events[part])
        for part in np.array_split(rng.permutation(np.flatnonzero(in_block)), 2)
    ]
    rest = rng.permutation(events_of(np.flatnonzero(~in_block)))
    blocks, rest_rows = lumisection_blocks(chunk, plan, groups, rest=rest)
    rows = per_event_stage(chunk, plan)
    for block, (taken, n) in zip(blocks, groups):
        expected = lumisection_block(rows, n, plan, events=taken)
        assert np.array_equal(block.values, expected.values)
        assert np.array_equal(block.explicit, expected.explicit)
        assert np.array_equal(block.rows, expected.rows)
        assert np.array_equal(block.small_integers, expected.small_integers)
    assert np.array_equal(rest_rows.values, rows.values[:, rest])
    assert np.array_equal(rest_rows.filled, rows.filled[:, rest])


@pytest.mark.parametrize("with_zeros", [False, True])
def test_every_rank_in_lumisections_of_different_sizes_in_one_chunk(with_zeros):
    # LS of 1, 19, 20 and 21 events: the three larger ones share a chunk, so the rows of the
    # smaller two end with layout padding; 41 percentiles hit every rank.
    rng = np.random.default_rng(3)
    n_events = np.array([19, 21, 1, 20])
    n_total = int(n_events.sum())
    counts = rng.choice([0, 1, 2, 6], size=n_total)
    n_objects = int(counts.sum())
    objects = {
        "muons": (
            counts,
            {
                "pt": rng.choice([0.0, 1.0, 2.0, 3.0], size=n_objects),
                "eta": rng.normal(size=n_objects),
                "phi": rng.uniform(-3, 3, size=n_objects),
            },
        )
    }
    choices = [-1.5, 0.0, 2.0] if with_zeros else [-1.5, -0.5, 2.0, 3.5]
    event_columns = {"luminosity": rng.choice(choices, size=n_total)}
    ls = LumiSections.from_arrays(
        run=np.ones(4, int),
        lumi=np.arange(4),
        n_events=n_events,
        objects=objects,
        event_columns=event_columns,
    )
    percentiles = np.linspace(0, 100, 41)
    transformer = LumiSectionPercentiles(n_quantiles=3, percentiles=percentiles)
    actual = transformer.set_output(transform="pandas").fit_transform(ls)
    expected = flat_reference(n_events, objects, event_columns, 3, percentiles, ("mean", "std"))[
        actual.columns
    ]
    np.testing.assert_allclose(actual.to_numpy(), expected.to_numpy(float), rtol=1e-9, atol=1e-9)


def test_object_counts_beyond_uint16():
    # counts below 2**16 are sorted as uint16; an event with more objects takes the float path
    counts = np.array([70_000, 1, 0, 3])
    pt = np.random.default_rng(0).exponential(10.0, counts.sum())
    ls = LumiSections.from_arrays([1, 1], [1, 2], [3, 1], {"pf": (counts, {"pt": pt})})
    transformer = LumiSectionPercentiles(n_quantiles=2, percentiles=[0, 40, 50, 100])
    X = transformer.set_output(transform="pandas").fit_transform(ls)
    for stat, p in [("p0", 0), ("p40", 40), ("p50", 50), ("p100", 100)]:
        expected = [np.percentile([70_000, 1, 0], p), 3.0]
        np.testing.assert_allclose(X[f"pf__n_objects_{stat}"], expected, rtol=1e-12)
    assert X.loc[(1, 1), "pf__pt_q2_mean"] == pytest.approx((pt[:70_000].max() + pt[70_000]) / 3)


def test_a_statistic_is_one_entry_of_the_table(monkeypatch):
    # The statistics come from one table: an entry for the maximum and the minimum (order
    # statistics of rank n - 1 and 0) gives the same values as the percentiles 100 and 0,
    # exactly (linear interpolation between equal ranks), with zero-padded slots, layout
    # padding, negative values and an LS without events.
    from channeldecomp.features._per_lumisection import STATISTICS, _Statistic

    def rank(reduced, which):
        last = reduced.count[:, None] - 1
        return reduced.order_statistic(last if which == "max" else 0 * last)[..., 0]

    monkeypatch.setitem(STATISTICS, "max", _Statistic(("sorted",), lambda r: rank(r, "max")))
    monkeypatch.setitem(STATISTICS, "min", _Statistic(("sorted",), lambda r: rank(r, "min")))
    ls = LumiSections.from_arrays(
        run=[1, 1, 1],
        lumi=[1, 2, 3],
        n_events=[2, 0, 3],
        objects={
            "muons": ([1, 0, 0, 2, 3], {"pt": [5.0, 3, 4, 1, 2, 0], "eta": [-1.0, 2, -3, 0, 1, 4]})
        },
        event_columns={"luminosity": [1.0, -3.0, 2.0, -2.0, 0.5]},
    )
    transformer = LumiSectionPercentiles(statistics=["max", "min", "mean"], percentiles=[0, 100])
    X = transformer.set_output(transform="pandas").fit_transform(ls)
    assert X.columns[:5].tolist() == [
        f"muons__pt_q1_{s}" for s in ["max", "min", "mean", "p0", "p100"]
    ]
    columns = {
        s: [c for c in X.columns if c.endswith(f"_{s}")] for s in ["max", "min", "p0", "p100"]
    }
    np.testing.assert_array_equal(X[columns["max"]].to_numpy(), X[columns["p100"]].to_numpy())
    np.testing.assert_array_equal(X[columns["min"]].to_numpy(), X[columns["p0"]].to_numpy())
    assert X.loc[(1, 3), "muons__pt_q5_max"] == 4.0 and X.loc[(1, 3), "muons__pt_q4_min"] == 0.0
    assert X.loc[(1, 3), "muons__eta_q5_min"] == -3.0 and X.loc[(1, 3), "muons__eta_q4_max"] == 2.0
    assert X.loc[(1, 1), "ls__luminosity_min"] == -3.0
    monkeypatch.delitem(STATISTICS, "max")
    with pytest.raises(
        ValueError, match="Unknown statistic.*'max'; choose among 'mean', 'std', 'min'"
    ):
        LumiSectionPercentiles(statistics=["max"]).fit(ls)


def test_transverse_momenta_agree_with_cosine_and_sine():
    from channeldecomp.features._per_event import _transverse_momenta

    rng = np.random.default_rng(0)
    edges = np.array([0.0, -0.0, np.pi, -np.pi, np.pi / 2, -np.pi / 2, 1e-300, 3.0, 2 * np.pi])
    phi = np.concatenate([edges, rng.uniform(-4, 4, 10_000), rng.uniform(-1e4, 1e4, 1000)])
    pt = np.concatenate([np.full(edges.size, 7.0), rng.exponential(30.0, phi.size - edges.size)])
    px, py = _transverse_momenta(pt, phi)
    np.testing.assert_allclose(px, pt * np.cos(phi), rtol=0, atol=1e-14 * pt.max())
    np.testing.assert_allclose(py, pt * np.sin(phi), rtol=0, atol=1e-14 * pt.max())
    with np.errstate(invalid="ignore"):  # as np.cos(np.inf)
        px, py = _transverse_momenta(np.array([1.0, 2.0]), np.array([np.nan, np.inf]))
    assert np.isnan(px).all() and np.isnan(py).all()


def test_sinh_from_one_exponential_agrees_with_numpy():
    from channeldecomp.features._per_event import _sinh

    rng = np.random.default_rng(0)
    edges = np.array([0.0, -0.0, 1e-300, -1e-300, 1e-9, 0.5, -0.5, 20.0, -700.0, 709.0])
    x = np.concatenate([edges, rng.normal(0, 1.6, 10_000), rng.uniform(-30, 30, 1000)])
    expected = np.sinh(x)
    actual = _sinh(x)
    # a few units in the last place of max(1, |sinh(x)|), the sign kept (-0.0 included); 16
    # leaves room for numpy's exp and sinh, whose last bits differ with the CPU (SIMD builds)
    eps = np.finfo(np.float64).eps
    assert np.all(np.abs(actual - expected) <= 16 * eps * np.maximum(1.0, np.abs(expected)))
    assert np.array_equal(np.signbit(actual), np.signbit(expected))
    with np.errstate(over="ignore"):
        assert np.array_equal(_sinh(np.array([800.0, -800.0])), [np.inf, -np.inf])
    assert np.isnan(_sinh(np.array([np.nan]))).all()


# ---------------------------------------------------------------------- fixed cases
def small_lumisections():
    return LumiSections.from_arrays(
        run=[1, 1, 1],
        lumi=[1, 2, 3],
        n_events=[2, 0, 2],
        objects={
            "muons": ([1, 0, 0, 2], {"pt": [5.0, 3.0, 4.0], "eta": [0.0] * 3, "phi": [0.0] * 3}),
            "jets": ([0, 0, 1, 0], {"pt": [50.0]}),
        },
        event_columns={"luminosity": [1.0, 3.0, 2.0, 2.0]},
    )


def test_feature_names_follow_the_documented_scheme():
    transformer = LumiSectionPercentiles().fit(small_lumisections())
    names = transformer.get_feature_names_out().tolist()
    stats = ["mean", "std", "p1", "p25", "p50", "p75", "p99"]
    assert names[:7] == [f"muons__pt_q1_{s}" for s in stats]
    for expected in [
        "muons__pt_q5_p99",
        "muons__phi_q3_std",
        "muons__px_mean",
        "muons__pz_p50",
        "muons__n_objects_p50",
        "jets__pt_q5_mean",
        "jets__n_objects_p99",
        "ls__n_events",
        "ls__luminosity_mean",
    ]:
        assert expected in names
    assert not any(name.startswith("jets__px") for name in names)  # jets have no eta/phi
    # muons: 3 properties x 5 slots + 3 momenta + 1 count; jets: 5 + 1; ls: luminosity
    assert len(names) == (15 + 3 + 1 + 5 + 1 + 1) * 7 + 1
    assert transformer.per_event_columns_[:2] == ["muons__pt_q1", "muons__pt_q2"]


def test_prefix_channels_and_leaving_out_lumisection_columns():
    ls = small_lumisections()
    with_ls = LumiSectionPercentiles().fit(ls).get_feature_names_out()
    assert list(resolve_channels("prefix", len(with_ls), with_ls)) == ["muons", "jets", "ls"]
    without = LumiSectionPercentiles(lumisection_columns=False).fit(ls).get_feature_names_out()
    assert list(resolve_channels("prefix", len(without), without)) == ["muons", "jets"]
    assert len(with_ls) - len(without) == 1 + 7


def test_empty_lumisection_and_empty_channel_are_defined():
    ls = small_lumisections()
    transformer = LumiSectionPercentiles(percentiles=[50]).set_output(transform="pandas")
    X = transformer.fit_transform(ls)
    assert not X.isna().any().any()
    empty = X.loc[(1, 2)]
    assert empty["ls__n_events"] == 0
    assert (empty.drop("ls__n_events") == 0).all()
    # LS (1, 1): jets absent in both events -> zero-padded slots, no NaN
    assert X.loc[(1, 1), "jets__pt_q5_mean"] == 0.0
    assert X.loc[(1, 1), "jets__n_objects_mean"] == 0.0
    # LS (1, 3): one event with muons 3 and 4 -> q4 = 3, q5 = 4 in that event, zeros in the other
    assert X.loc[(1, 3), "muons__pt_q5_mean"] == 2.0
    assert X.loc[(1, 3), "muons__pt_q4_p50"] == 1.5
    assert X.loc[(1, 3), "muons__px_mean"] == pytest.approx(3.5)
    nan_version = clone(transformer).set_params(empty_value=np.nan).fit_transform(ls)
    assert nan_version.loc[(1, 2)].drop("ls__n_events").isna().all()
    assert not nan_version.drop(index=[(1, 2)]).isna().any().any()


def test_absent_objects_with_zero_pt_are_not_counted():
    ls = LumiSections.from_arrays(
        [1], [1], [1], {"muons": ([3], {"pt": [0.0, 7.0, 0.0], "eta": [9.0, 1.0, 9.0]})}
    )
    X = (
        LumiSectionPercentiles(n_quantiles=2, percentiles=[], statistics=["mean"])
        .set_output(transform="pandas")
        .fit_transform(ls)
    )
    assert X.loc[(1, 1), "muons__n_objects_mean"] == 1
    assert X.loc[(1, 1), "muons__eta_q1_mean"] == 0.0
    assert X.loc[(1, 1), "muons__eta_q2_mean"] == 1.0


def test_default_output_is_an_array_and_pandas_index_is_the_keys():
    ls = small_lumisections()
    transformer = LumiSectionPercentiles()
    X = transformer.fit_transform(ls)
    assert isinstance(X, np.ndarray) and X.shape == (3, len(transformer.feature_names_out_))
    frame = clone(transformer).set_output(transform="pandas").fit_transform(ls)
    assert frame.index.equals(ls.keys)
    np.testing.assert_array_equal(frame.to_numpy(), X)


def test_parameters_select_columns():
    ls = small_lumisections()
    names = (
        LumiSectionPercentiles(
            n_quantiles=2,
            channels=["muons"],
            properties=["pt"],
            momentum=False,
            object_counts=False,
            statistics=["std"],
            percentiles=[2.5],
            event_columns=[],
        )
        .fit(ls)
        .get_feature_names_out()
        .tolist()
    )
    expected = ["muons__pt_q1_std", "muons__pt_q1_p2.5", "muons__pt_q2_std", "muons__pt_q2_p2.5"]
    assert names == [*expected, "ls__n_events"]
    per_channel = LumiSectionPercentiles(
        properties={"muons": ["eta"]}, statistics=["mean"], percentiles=[]
    ).fit(ls)
    assert per_channel.properties_ == {"muons": ["eta"], "jets": ["pt"]}


def test_chunking_and_parallel_jobs_give_the_same_result():
    rng = np.random.default_rng(0)
    n_ls = 40
    n_events = rng.integers(0, 30, n_ls)
    counts = rng.integers(0, 8, n_events.sum())
    ls = LumiSections.from_arrays(
        run=np.ones(n_ls, int),
        lumi=np.arange(n_ls),
        n_events=n_events,
        objects={
            "muons": (
                counts,
                {
                    "pt": rng.exponential(10, counts.sum()),
                    "eta": rng.normal(size=counts.sum()),
                    "phi": rng.uniform(-3, 3, counts.sum()),
                },
            )
        },
        event_columns={"luminosity": rng.uniform(size=n_events.sum())},
    )
    reference = LumiSectionPercentiles().fit_transform(ls)
    small_chunks = LumiSectionPercentiles(chunk_size=25).fit_transform(ls)
    parallel = LumiSectionPercentiles(chunk_size=60, n_jobs=2).fit_transform(ls)  # threads
    with parallel_config(backend="loky"):
        processes = LumiSectionPercentiles(chunk_size=60, n_jobs=2).fit_transform(ls)
    np.testing.assert_allclose(processes, parallel, rtol=1e-12, atol=1e-12)
    # chunks pad lumisections differently, so sums may round differently in the last bits
    np.testing.assert_allclose(small_chunks, reference, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(parallel, reference, rtol=1e-12, atol=1e-12)
    # and each LS alone gives its own row
    single = LumiSectionPercentiles().fit(ls).transform(ls[7:9])
    np.testing.assert_allclose(single, reference[7:9], rtol=1e-12, atol=1e-12)


def test_parameter_errors():
    ls = small_lumisections()
    cases = [
        (dict(channels=["muons", "photons"]), ValueError, r"Unknown channel\(s\) 'photons'"),
        (dict(properties=["pt", "energy"]), ValueError, "Unknown property name.*'energy'"),
        (dict(properties={"muons": ["mass"]}), ValueError, "Channel 'muons' has no property"),
        (dict(properties={"taus": ["pt"]}), ValueError, "'taus'"),
        (dict(event_columns=["pileup"]), ValueError, r"Unknown event column\(s\) 'pileup'"),
        (dict(n_quantiles=0), ValueError, "n_quantiles"),
        (dict(percentiles=[50, 101]), ValueError, r"\[0, 100\]"),
        (dict(statistics=["median"]), ValueError, "Unknown statistic"),
        (dict(statistics=[], percentiles=[]), ValueError, "nothing to compute"),
        (dict(chunk_size=0), ValueError, "chunk_size"),
        (dict(lumisection_columns=False, event_columns=["luminosity"]), ValueError, "lumisec"),
    ]
    for params, error, message in cases:
        with pytest.raises(error, match=message):
            LumiSectionPercentiles(**params).fit(ls)
    with pytest.raises(TypeError, match="takes a LumiSections"):
        LumiSectionPercentiles().fit(np.zeros((3, 2)))
    clash = LumiSections.from_arrays([1], [1], [1], {"ls": ([1], {"pt": [1.0]})})
    with pytest.raises(ValueError, match="prefix of the lumisection-level"):
        LumiSectionPercentiles().fit(clash)
    LumiSectionPercentiles(lumisection_columns=False).fit(clash)


def test_transform_checks_data_against_fit():
    ls = small_lumisections()
    transformer = LumiSectionPercentiles().fit(ls)
    other = LumiSections.from_arrays([1], [1], [1], {"muons": ([1], {"pt": [1.0]})})
    with pytest.raises(ValueError, match="no property 'eta'"):
        transformer.transform(other)
    no_jets = LumiSections.from_arrays(
        [1], [1], [1], {"muons": ([0], {"pt": [], "eta": [], "phi": []})}
    )
    with pytest.raises(ValueError, match="Channel 'jets', seen in fit, is missing"):
        transformer.transform(no_jets)
    # transform reads n_jobs, chunk_size and empty_value again, so it checks them again
    with pytest.raises(ValueError, match="'chunk_size' parameter of LumiSectionPercentiles"):
        clone(transformer).fit(ls).set_params(chunk_size=0).transform(ls)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        LumiSectionPercentiles().transform(ls)


def test_joblib_round_trip_of_fitted_transformer():
    ls = small_lumisections()
    transformer = LumiSectionPercentiles(n_quantiles=3).fit(ls)
    buffer = io.BytesIO()
    joblib.dump(transformer, buffer)
    buffer.seek(0)
    loaded = joblib.load(buffer)
    np.testing.assert_array_equal(loaded.transform(ls), transformer.transform(ls))
    assert loaded.get_params() == transformer.get_params()


# ---------------------------------------------------------------------- with scikit-learn
def labelled_lumisections(n_ls=60, seed=0):
    """Bad LS (label 0) have softer muons; good ones (label 1) are nominal."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n_ls) > 0.3).astype(int)
    n_events = rng.integers(20, 40, n_ls)
    scale_per_event = np.repeat(np.where(labels == 1, 20.0, 8.0), n_events)
    muon_counts = rng.integers(0, 6, n_events.sum())
    jet_counts = rng.integers(1, 8, n_events.sum())
    muon_scale = np.repeat(scale_per_event, muon_counts)
    ls = LumiSections.from_arrays(
        run=np.full(n_ls, 7),
        lumi=np.arange(1, n_ls + 1),
        n_events=n_events,
        objects={
            "muons": (
                muon_counts,
                {
                    "pt": rng.exponential(muon_scale),
                    "eta": rng.normal(size=muon_counts.sum()),
                    "phi": rng.uniform(-np.pi, np.pi, muon_counts.sum()),
                },
            ),
            "jets": (jet_counts, {"pt": rng.exponential(30.0, jet_counts.sum())}),
        },
        event_columns={"luminosity": rng.uniform(0.5, 1.5, n_events.sum())},
    )
    return ls, labels


def test_pipeline_cross_validation_and_grid_search():
    ls, y = labelled_lumisections()
    pipeline = Pipeline(
        [
            ("features", LumiSectionPercentiles(n_quantiles=3, percentiles=[25, 50, 75])),
            ("scale", StandardScaler()),
            ("classify", LogisticRegression(max_iter=500)),
        ]
    )
    scores = cross_val_score(pipeline, ls, y, cv=3, scoring="roc_auc")
    assert scores.shape == (3,) and scores.mean() > 0.8
    search = GridSearchCV(
        pipeline, {"features__n_quantiles": [1, 3], "features__momentum": [True, False]}, cv=3
    )
    search.fit(ls, y)
    assert search.best_params_["features__n_quantiles"] in (1, 3)
    assert search.predict(ls[:5]).shape == (5,)
    n_features = search.best_estimator_["features"].feature_names_out_.size
    assert search.best_estimator_["classify"].coef_.shape == (1, n_features)


def test_pandas_output_through_a_pipeline_keeps_names_and_keys():
    ls, y = labelled_lumisections(n_ls=12)
    pipeline = Pipeline(
        [
            ("features", LumiSectionPercentiles(lumisection_columns=False)),
            ("scale", StandardScaler()),
        ]
    ).set_output(transform="pandas")
    X = pipeline.fit_transform(ls, y)
    assert X.index.equals(ls.keys)
    assert list(resolve_channels("prefix", X.shape[1], X.columns)) == ["muons", "jets"]


def test_pipeline_with_channel_decomposition_classifier():
    from channeldecomp import ChannelDecompositionClassifier

    ls, y = labelled_lumisections(n_ls=60, seed=1)
    pipeline = Pipeline(
        [
            ("features", LumiSectionPercentiles(n_quantiles=2, percentiles=[25, 50, 75])),
            ("scale", StandardScaler()),
            (
                "classify",
                ChannelDecompositionClassifier(
                    channels="prefix", hidden_layer_sizes=(8,), max_epochs=3, random_state=0
                ),
            ),
        ]
    ).set_output(transform="pandas")
    scores = cross_val_score(pipeline, ls, y, cv=3)
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    search = GridSearchCV(pipeline, {"features__lumisection_columns": [True, False]}, cv=2)
    search.fit(ls, y)
    model = search.best_estimator_
    expected_channels = (
        ["muons", "jets", "ls"]
        if search.best_params_["features__lumisection_columns"]
        else ["muons", "jets"]
    )
    assert model["classify"].channel_names_ == expected_channels
    channel_scores = model["classify"].predict_channel_scores(model[:-1].transform(ls[:4]))
    assert list(channel_scores.columns) == expected_channels
    assert channel_scores.index.equals(ls[:4].keys)
    assert ((channel_scores > 0) & (channel_scores <= 1)).all().all()


def test_estimator_api_checks_that_do_not_need_arrays():
    # The array-based common checks do not apply (the input is LumiSections); these do.
    from sklearn.utils.estimator_checks import (
        check_get_params_invariance,
        check_no_attributes_set_in_init,
        check_param_validation,
        check_parameters_default_constructible,
        check_set_params,
    )

    name = "LumiSectionPercentiles"
    check_parameters_default_constructible(name, LumiSectionPercentiles())
    check_no_attributes_set_in_init(name, LumiSectionPercentiles())
    check_get_params_invariance(name, LumiSectionPercentiles())
    check_set_params(name, LumiSectionPercentiles())
    # every parameter is in _parameter_constraints, and a value outside them is rejected in fit
    check_param_validation(name, LumiSectionPercentiles())
    ls = small_lumisections()
    params = LumiSectionPercentiles(percentiles=[10, 90], properties={"muons": ["pt"]})
    before = clone(params).get_params()
    params.fit_transform(ls)
    assert params.get_params() == before  # fit does not change the parameters
    assert not hasattr(LumiSectionPercentiles(), "feature_names_out_")
