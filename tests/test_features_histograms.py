"""LumiSectionHistograms: construction from arrays, indexing, concat, tables, pickling."""

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GroupKFold, train_test_split

from channeldecomp import LumiSectionHistograms


def _histograms(n=6, seed=0):
    rng = np.random.default_rng(seed)
    run = np.repeat([10, 11], [n // 2, n - n // 2])
    lumi = np.concatenate([np.arange(1, n // 2 + 1), np.arange(1, n - n // 2 + 1)])
    present = np.ones(n, dtype=bool)
    present[1] = False
    one_d = rng.poisson(5.0, size=(n, 4)).astype(float)
    one_d[~present] = 0.0
    return LumiSectionHistograms.from_arrays(
        run,
        lumi,
        {"DT/Segments": one_d, "ECAL/Occupancy": rng.poisson(3.0, size=(n, 2, 3))},
        {
            "DT/Segments": (0, 4, 4),
            "ECAL/Occupancy": {
                "x_min": -3,
                "x_max": 3,
                "x_bin": 3,
                "y_min": -1,
                "y_max": 1,
                "y_bin": 2,
            },
        },
        present={"DT/Segments": present},
    )


def test_from_arrays_accessors():
    h = _histograms()
    assert len(h) == 6 and h.shape == (6,)
    assert h.mes == ["DT/Segments", "ECAL/Occupancy"]
    assert h.channels == ["DT", "ECAL"]
    assert h.me_channels == {"DT/Segments": "DT", "ECAL/Occupancy": "ECAL"}
    assert h.ndim("DT/Segments") == 1 and h.ndim("ECAL/Occupancy") == 2
    assert h.values("ECAL/Occupancy").shape == (6, 2, 3)
    assert h.binning("ECAL/Occupancy")["y_bin"] == 2
    assert h.present("DT/Segments").tolist() == [True, False, True, True, True, True]
    np.testing.assert_array_equal(
        h.entries("ECAL/Occupancy"), h.values("ECAL/Occupancy").sum(axis=(1, 2))
    )
    assert list(h.keys.names) == ["run", "lumi"]
    assert "6 lumisections" in repr(h)
    with pytest.raises(KeyError, match="No ME 'HCAL/X'"):
        h.values("HCAL/X")


@pytest.mark.parametrize(
    "key",
    [
        [4, 0, 2],
        np.array([True, False, True, False, False, True]),
        slice(1, 5, 2),
        slice(2, 4),
        np.array([-1, 1]),
    ],
)
def test_indexing_takes_those_lumisections(key):
    h = _histograms()
    part = h[key]
    rows = np.arange(6)[key]
    assert part.keys.equals(h.keys[rows])
    for me in h.mes:
        np.testing.assert_array_equal(part.values(me), h.values(me)[rows])
        np.testing.assert_array_equal(part.present(me), h.present(me)[rows])
        np.testing.assert_array_equal(part.entries(me), h.entries(me)[rows])


def test_integer_index_and_errors():
    h = _histograms()
    assert h[-1].keys.tolist() == [h.keys[-1]]
    assert len(list(h)) == 6
    with pytest.raises(IndexError, match="out of range"):
        h[6]
    with pytest.raises(IndexError, match="boolean mask"):
        h[np.array([True, False])]
    with pytest.raises(IndexError, match="one-dimensional"):
        h[0, 1]


def test_sklearn_splitters_split_it():
    h = _histograms()
    train, test = train_test_split(h, test_size=2, random_state=0)
    assert len(train) == 4 and len(test) == 2
    groups = h.run
    for train_rows, test_rows in GroupKFold(2).split(np.zeros(len(h)), groups=groups):
        assert set(h[test_rows].run).isdisjoint(h[train_rows].run)


def test_joblib_round_trip(tmp_path):
    h = _histograms()
    path = tmp_path / "histograms.joblib"
    joblib.dump(h, path)
    loaded = joblib.load(path)
    assert loaded.equals(h)
    assert loaded[[0, 2]].equals(h[[0, 2]])


def test_concat_merges_lumisections_and_mes():
    h = _histograms()
    first, second = h[:3], h[3:]
    assert LumiSectionHistograms.concat([first, second]).equals(h)
    # The same LS in two parts, each with other MEs: merged, ME by ME.
    only_dt = LumiSectionHistograms.from_arrays(
        h.run,
        h.lumi,
        {"DT/Segments": h.values("DT/Segments")},
        {"DT/Segments": (0, 4, 4)},
        present={"DT/Segments": h.present("DT/Segments")},
    )
    only_ecal = LumiSectionHistograms.from_arrays(
        h.run[::-1],
        h.lumi[::-1],
        {"ECAL/Occupancy": h.values("ECAL/Occupancy")[::-1]},
        {"ECAL/Occupancy": (-3, 3, 3, -1, 1, 2)},
    )
    merged = LumiSectionHistograms.concat([only_dt, only_ecal])
    assert merged.equals(h)
    # Agreeing repeated records are merged; disagreeing ones are an error naming them.
    assert LumiSectionHistograms.concat([h, h]).equals(h)
    changed = LumiSectionHistograms.from_arrays(
        h.run[:1], h.lumi[:1], {"DT/Segments": [[9.0, 0, 0, 0]]}, {"DT/Segments": (0, 4, 4)}
    )
    with pytest.raises(ValueError, match=r"different records of ME 'DT/Segments'.*\(10, 1\)"):
        LumiSectionHistograms.concat([h, changed])


def test_concat_rejects_a_changed_binning():
    h = _histograms()
    other = LumiSectionHistograms.from_arrays(
        [12], [1], {"DT/Segments": [[1.0, 2.0]]}, {"DT/Segments": (0, 4, 2)}
    )
    with pytest.raises(ValueError, match=r"ME 'DT/Segments' has binning .*runs 12"):
        LumiSectionHistograms.concat([h, other])
    with pytest.raises(TypeError, match="LumiSectionHistograms objects"):
        LumiSectionHistograms.concat([h, "x"])
    with pytest.raises(ValueError, match="at least one"):
        LumiSectionHistograms.concat([])


def test_to_table_round_trip():
    h = _histograms()
    table = h.to_table()
    assert len(table) == 6 * 2 - 1  # one DT record is missing
    assert LumiSectionHistograms.from_table(table).equals(h)
    assert LumiSectionHistograms.from_table(table.sample(frac=1.0, random_state=1)).equals(h)


def test_channels_from_regex_mapping_and_callable():
    h = _histograms()
    table = h.to_table()
    by_regex = LumiSectionHistograms.from_table(table, channels=r"/(\w+)$")
    assert by_regex.channels == ["Segments", "Occupancy"]
    mapping = {"DT/Segments": "muons", "ECAL/Occupancy": "calo"}
    assert LumiSectionHistograms.from_table(table, channels=mapping).channels == ["muons", "calo"]
    assert LumiSectionHistograms.from_table(table, channels=str.lower).channels == [
        "dt/segments",
        "ecal/occupancy",
    ]
    with pytest.raises(ValueError, match="'ECAL/Occupancy' is not in the channels mapping"):
        LumiSectionHistograms.from_table(table, channels={"DT/Segments": "muons"})
    with pytest.raises(ValueError, match="does not match ME"):
        LumiSectionHistograms.from_table(table, channels=r"^HCAL")
    with pytest.raises(ValueError, match="contains '__'"):
        LumiSectionHistograms.from_table(table, channels=lambda me: "a__b")


def test_from_arrays_errors_name_the_problem():
    binning = {"DT/A": (0, 1, 2)}
    with pytest.raises(ValueError, match=r"ME 'DT/A'.*shape \(3,\).*2 bins"):
        LumiSectionHistograms.from_arrays([1], [1], {"DT/A": [[1.0, 2.0, 3.0]]}, binning)
    with pytest.raises(ValueError, match=r"ME 'DT/A' has a bin content -1.0 .*\(1, 1\)"):
        LumiSectionHistograms.from_arrays([1], [1], {"DT/A": [[1.0, -1.0]]}, binning)
    with pytest.raises(ValueError, match=r"bin content nan"):
        LumiSectionHistograms.from_arrays([1], [1], {"DT/A": [[1.0, np.nan]]}, binning)
    with pytest.raises(ValueError, match="has no binning"):
        LumiSectionHistograms.from_arrays([1], [1], {"DT/A": [[1.0, 2.0]]}, {})
    with pytest.raises(ValueError, match="x_bin must be a positive integer"):
        LumiSectionHistograms.from_arrays([1], [1], {"DT/A": [[1.0]]}, {"DT/A": (0, 1, 1.5)})
    with pytest.raises(ValueError, match="below x_max"):
        LumiSectionHistograms.from_arrays([1], [1], {"DT/A": [[1.0]]}, {"DT/A": (1, 0, 1)})
    with pytest.raises(ValueError, match="appears more than once"):
        LumiSectionHistograms.from_arrays([1, 1], [1, 1], {"DT/A": np.ones((2, 2))}, binning)
    with pytest.raises(ValueError, match="marked absent .* zero histogram"):
        LumiSectionHistograms.from_arrays(
            [1], [1], {"DT/A": [[1.0, 2.0]]}, binning, present={"DT/A": np.array([False])}
        )


def test_empty_selection_keeps_the_mes():
    h = _histograms()
    empty = h[[]]
    assert len(empty) == 0 and empty.mes == h.mes
    assert empty.values("ECAL/Occupancy").shape == (0, 2, 3)
    assert isinstance(empty.to_table(), pd.DataFrame)
