import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channeldecomp.certification import (
    certify_channels,
    channel_thresholds,
    golden_json_labels,
    read_golden_json,
    read_lumi_list,
    subsystem_labels_from_lists,
    to_golden_dict,
    write_channel_golden_jsons,
    write_golden_json,
    write_lumi_list,
)

DATA = Path(__file__).parent / "data" / "cms2010"
CERT = DATA / "Cert_136033-149442_7TeV_Apr21ReReco_Collisions10_JSON_v2.txt"
ABNORMAL = {
    "LDRCTM": DATA / "abnormal_LDRCTM_2010.txt",
    "LEETE": DATA / "abnormal_LEETE_2010.txt",
    "LEHJ": DATA / "abnormal_LEHJ_2010.txt",
    "SPT": DATA / "abnormal_SPT_2010.txt",
}


def test_real_2010_golden_json_reads_and_writes_back(tmp_path):
    golden = read_golden_json(CERT)
    assert list(golden.columns) == ["run", "lumi"]
    assert golden["run"].nunique() == 273
    assert len(golden) == 74596
    assert not golden.duplicated().any()
    assert golden.equals(golden.sort_values(["run", "lumi"], ignore_index=True))
    # The first run of the file: [[1, 53], [55, 207], [209, 259]].
    first = golden[golden["run"] == 136035]["lumi"].to_numpy()
    np.testing.assert_array_equal(first, np.r_[1:54, 55:208, 209:260])

    out = write_golden_json(golden, tmp_path / "golden.json")
    assert read_golden_json(out).equals(golden)
    # The original file already uses compact ranges: the same JSON object comes back.
    assert json.loads(out.read_text()) == json.loads(CERT.read_text())


def test_real_2010_abnormal_lists_read_as_keys():
    raw = {name: np.loadtxt(path, dtype=np.int64) for name, path in ABNORMAL.items()}
    for name, path in ABNORMAL.items():
        keys = read_lumi_list(path)
        expected = {tuple(row) for row in raw[name].tolist()}
        assert set(keys.itertuples(index=False, name=None)) == expected
        assert len(keys) == len(expected)
        assert (keys["run"] > 136000).all() and (keys["lumi"] > 0).all()
    keys = read_lumi_list(ABNORMAL["LDRCTM"])
    assert (147114, 241) in set(keys.itertuples(index=False, name=None))


def test_labels_from_the_real_files():
    golden = read_golden_json(CERT)
    abnormal = read_lumi_list(ABNORMAL["SPT"])
    keys = pd.concat([golden.iloc[:50], abnormal], ignore_index=True)
    labels = golden_json_labels(keys, CERT)
    assert labels.iloc[:50].eq(1).all()
    # These abnormal lumisections are not certified.
    assert labels.iloc[50:].eq(0).all()
    assert labels.index.names == ["run", "lumi"]
    assert labels.index[0] == tuple(golden.iloc[0])

    flags = subsystem_labels_from_lists(keys, ABNORMAL)
    assert list(flags.columns) == list(ABNORMAL)
    assert flags["SPT"].iloc[50:].eq(0).all()
    assert flags.iloc[:50].eq(1).all().all()
    for name, path in ABNORMAL.items():
        listed = set(read_lumi_list(path).itertuples(index=False, name=None))
        expected = [0 if key in listed else 1 for key in keys.itertuples(index=False, name=None)]
        assert flags[name].tolist() == expected


key_sets = st.lists(st.tuples(st.integers(1, 6), st.integers(0, 40)), min_size=0, max_size=80)


@settings(max_examples=40, deadline=None)
@given(pairs=key_sets)
def test_golden_json_round_trip_and_compact_ranges(tmp_path_factory, pairs):
    path = tmp_path_factory.mktemp("golden") / "golden.json"
    write_golden_json(pairs, path)
    back = read_golden_json(path)
    assert set(back.itertuples(index=False, name=None)) == set(pairs)
    for ranges in json.loads(path.read_text()).values():
        # Compact: sorted, disjoint, never adjacent (adjacent ranges would be one).
        for (a, b), (c, d) in zip(ranges, ranges[1:]):
            assert a <= b < c - 1 < d
    # The writer accepts what the reader returns, and other key forms, the same way.
    assert to_golden_dict(back) == json.loads(path.read_text())
    assert to_golden_dict(pd.MultiIndex.from_frame(back)) == to_golden_dict(np.array(pairs))


def test_lumi_list_round_trip_and_forms(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("# a comment\n5 2\n\n5\t1\n3,9\n5 2\n")
    keys = read_lumi_list(path)
    assert keys.to_numpy().tolist() == [[3, 9], [5, 1], [5, 2]]
    write_lumi_list(keys, tmp_path / "out.txt")
    assert read_lumi_list(tmp_path / "out.txt").equals(keys)
    # A golden JSON path works as "listed" too (the format is detected).
    write_golden_json(keys, tmp_path / "g.json")
    assert golden_json_labels([(5, 1), (5, 3)], tmp_path / "g.json").tolist() == [1, 0]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('{"1": [[5, 3]]}', r"run 1 has the range \[5, 3\]"),
        ('{"x": [[1, 3]]}', "'x' is not an integer run"),
        ('{"1": [[1, 2, 3]]}', "two integers"),
        ('{"1": 7}', "list of"),
        ("[1, 2]", "JSON list"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_golden_json(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        read_golden_json(path)


def test_bad_lists_and_keys(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("1 2\n1 2 3\n")
    with pytest.raises(ValueError, match="line 2"):
        read_lumi_list(path)
    with pytest.raises(ValueError, match="'lumi'"):
        write_golden_json(pd.DataFrame({"run": [1], "ls": [2]}), tmp_path / "x.json")
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        write_golden_json([(1, 2, 3)], tmp_path / "x.json")
    with pytest.raises(ValueError, match="negative"):
        write_golden_json([(1, -2)], tmp_path / "x.json")
    with pytest.raises(TypeError, match="read_golden_json"):
        golden_json_labels("1 2", {"1": [[1, 2]]})


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rate=st.sampled_from([0.0, 0.01, 0.05, 0.2]),
    weighted=st.booleans(),
)
def test_channel_thresholds_meet_the_false_alarm_rate(seed, rate, weighted):
    rng = np.random.default_rng(seed)
    n = 300
    y = (rng.random(n) < 0.7).astype(int)
    scores = pd.DataFrame(
        {"a": np.round(rng.random(n), 2), "b": rng.beta(5, 1, n), "c": np.ones(n)}
    )
    weight = rng.uniform(0.1, 2, n) if weighted else np.ones(n)
    thresholds = channel_thresholds(
        scores, y, false_alarm_rate=rate, sample_weight=weight if weighted else None
    )
    good = y == 1
    for channel in scores:
        values = scores[channel].to_numpy()[good]
        w = weight[good]
        flagged = values < thresholds[channel]
        assert w[flagged].sum() / w.sum() <= rate + 1e-12
        # Highest such threshold: the next higher score value would exceed the rate.
        higher = values[values > thresholds[channel]]
        if higher.size:
            nxt = higher.min()
            assert w[values < nxt].sum() / w.sum() > rate + 1e-12


def test_per_channel_certification_writes_golden_jsons(tmp_path):
    rng = np.random.default_rng(0)
    index = pd.MultiIndex.from_product([[100, 101], range(1, 51)], names=["run", "lumi"])
    scores = pd.DataFrame(
        {"muons": rng.uniform(0.6, 1, 100), "jets": rng.uniform(0.6, 1, 100)}, index=index
    )
    scores.iloc[10:15, 0] = 0.05  # a muon fault in run 100, LS 11-15
    scores.iloc[70, 1] = 0.01  # a jet fault in run 101, LS 21
    y = np.ones(100, dtype=int)
    y[10:15] = 0
    y[70] = 0
    thresholds = channel_thresholds(scores, y, false_alarm_rate=0.0)
    certified = certify_channels(scores, thresholds)
    assert list(certified.columns) == ["muons", "jets", "global"]
    assert certified["muons"].sum() == 95 and certified["jets"].sum() == 99
    assert certified["global"].sum() == 94
    paths = write_channel_golden_jsons(certified, tmp_path / "golden", prefix="2010B_")
    assert paths["muons"].name == "2010B_muons.json"
    assert json.loads(paths["muons"].read_text()) == {
        "100": [[1, 10], [16, 50]],
        "101": [[1, 50]],
    }
    assert json.loads(paths["jets"].read_text())["101"] == [[1, 20], [22, 50]]
    assert len(read_golden_json(paths["global"])) == 94

    with_global = certify_channels(
        scores, thresholds, global_scores=np.r_[np.zeros(50), 0.9 * np.ones(50)]
    )
    assert with_global["global"].sum() == 50
    with pytest.raises(ValueError, match="keys="):
        certify_channels(scores.reset_index(drop=True), 0.5)
    with pytest.raises(ValueError, match="jets"):
        certify_channels(scores, {"muons": 0.5})
    with pytest.raises(ValueError, match="good lumisection"):
        channel_thresholds(scores, np.zeros(100))
