"""DIALS-layout tables and files: from_table and read_dials, round trips and bad input."""

import json

import numpy as np
import pandas as pd
import pytest

from channeldecomp import LumiSectionHistograms
from channeldecomp.features import read_dials


def _records(n_ls=5, seed=0):
    """DIALS-like records: a 1D ME and a 2D ME, as the API returns them (plain lists)."""
    rng = np.random.default_rng(seed)
    rows = []
    for ls in range(1, n_ls + 1):
        one_d = rng.poisson(4.0, 6).astype(float).tolist()
        rows.append(
            {
                "dataset": "/ZeroBias/Run2024A/DQMIO",
                "me": "RPC/Efficiency",
                "run_number": 380001,
                "ls_number": ls,
                "x_min": 0.0,
                "x_max": 1.0,
                "x_bin": 6,
                "entries": float(sum(one_d)),
                "data": one_d,
            }
        )
        two_d = rng.poisson(2.0, (3, 4)).astype(float).tolist()
        rows.append(
            {
                "dataset": "/ZeroBias/Run2024A/DQMIO",
                "me": "HCAL/Occupancy_eta_phi",
                "run_number": 380001,
                "ls_number": ls,
                "x_min": -3.0,
                "x_max": 3.0,
                "x_bin": 4,
                "y_min": -3.15,
                "y_max": 3.15,
                "y_bin": 3,
                "entries": float(np.sum(two_d)),
                "data": two_d,
            }
        )
    return rows


def _expected():
    return LumiSectionHistograms.from_table(pd.DataFrame(_records()))


def test_from_table_1d_and_2d():
    h = _expected()
    assert h.mes == ["HCAL/Occupancy_eta_phi", "RPC/Efficiency"]
    assert h.channels == ["HCAL", "RPC"]
    assert h.values("HCAL/Occupancy_eta_phi").shape == (5, 3, 4)
    assert h.values("RPC/Efficiency").shape == (5, 6)
    records = _records()
    np.testing.assert_array_equal(h.values("HCAL/Occupancy_eta_phi")[2], records[5]["data"])
    assert h.binning("HCAL/Occupancy_eta_phi") == {
        "x_min": -3.0,
        "x_max": 3.0,
        "x_bin": 4,
        "y_min": -3.15,
        "y_max": 3.15,
        "y_bin": 3,
    }


def test_chunks_in_any_order_are_merged():
    records = _records()
    table = pd.DataFrame(records)
    chunks = [table.iloc[[7, 2, 9]], table.iloc[[0, 1, 3, 4]], table.iloc[[5, 6, 8]]]
    shuffled = pd.concat(chunks[::-1], ignore_index=True)
    assert LumiSectionHistograms.from_table(shuffled).equals(_expected())
    # An agreeing repeated record (the same page saved twice) is merged.
    assert LumiSectionHistograms.from_table(pd.concat([table, table.iloc[:3]])).equals(_expected())


def test_missing_records_are_absent_zero_histograms():
    table = pd.DataFrame(_records())
    dropped = table.drop(index=[2])  # RPC/Efficiency of LS 2
    h = LumiSectionHistograms.from_table(dropped)
    assert len(h) == 5  # LS 2 still exists: HCAL has a record for it
    assert h.present("RPC/Efficiency").tolist() == [True, False, True, True, True]
    assert h.values("RPC/Efficiency")[1].tolist() == [0.0] * 6
    assert h.entries("RPC/Efficiency")[1] == 0.0
    # The other LS keep their own contents: nothing shifted.
    np.testing.assert_array_equal(h.values("RPC/Efficiency")[2], table.loc[4, "data"])


def test_parquet_round_trip(tmp_path):
    pytest.importorskip("pyarrow", reason="Parquet needs pyarrow (the hep extra)")
    table = pd.DataFrame(_records())
    one_d = table[table.me == "RPC/Efficiency"].drop(columns=["y_min", "y_max", "y_bin"])
    two_d = table[table.me != "RPC/Efficiency"]
    one_d.to_parquet(tmp_path / "h1d.parquet")
    two_d.to_parquet(tmp_path / "h2d.parquet")
    h = read_dials([tmp_path / "h2d.parquet", tmp_path / "h1d.parquet"])
    assert h.equals(_expected())
    # to_table -> Parquet -> read_dials, one file per dimension.
    back = h.to_table()
    back[back.me == "RPC/Efficiency"].to_parquet(tmp_path / "a.parquet")
    back[back.me != "RPC/Efficiency"].to_parquet(tmp_path / "b.parquet")
    assert read_dials([tmp_path / "a.parquet", tmp_path / "b.parquet"]).equals(h)


def test_csv_round_trip(tmp_path):
    path = tmp_path / "records.csv"
    _expected().to_table().to_csv(path, index=False)
    assert read_dials(path).equals(_expected())
    assert read_dials(str(path)).equals(_expected())


def test_json_list_and_pages(tmp_path):
    records = _records()
    (tmp_path / "list.json").write_text(json.dumps(records))
    assert read_dials(tmp_path / "list.json").equals(_expected())
    pages = [
        {"count": len(records), "next": "page=2", "previous": None, "results": records[:4]},
        {"count": len(records), "next": None, "previous": "page=1", "results": records[4:]},
    ]
    (tmp_path / "pages.json").write_text(json.dumps(pages))
    assert read_dials(tmp_path / "pages.json").equals(_expected())
    # One page per file, several files.
    for i, page in enumerate(pages):
        (tmp_path / f"page{i}.json").write_text(json.dumps(page))
    files = [tmp_path / "page1.json", tmp_path / "page0.json"]
    assert read_dials(files).equals(_expected())


def _table_with(index, **changes):
    table = pd.DataFrame(_records())
    for column, value in changes.items():
        table.at[index, column] = value
    return table


def test_binning_change_names_the_me_and_runs():
    table = pd.DataFrame(
        _records()
        + [
            {
                "me": "RPC/Efficiency",
                "run_number": 380002,
                "ls_number": 1,
                "x_min": 0.0,
                "x_max": 1.0,
                "x_bin": 3,
                "entries": 3.0,
                "data": [1.0, 1.0, 1.0],
            }
        ]
    )
    with pytest.raises(
        ValueError,
        match=r"ME 'RPC/Efficiency' changes its binning .*380001.*380002",
    ):
        LumiSectionHistograms.from_table(table)


def test_data_length_must_match_the_binning():
    table = pd.DataFrame(_records())
    table.at[0, "data"] = [1.0, 2.0]
    with pytest.raises(
        ValueError, match=r"ME 'RPC/Efficiency', \(run, lumi\) = \(380001, 1\).*6 bins"
    ):
        LumiSectionHistograms.from_table(table)
    table = pd.DataFrame(_records())
    table.at[1, "data"] = [[1.0] * 4] * 2
    with pytest.raises(ValueError, match=r"'HCAL/Occupancy_eta_phi'.*3 lists \(y_bin\) of 4"):
        LumiSectionHistograms.from_table(table)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_negative_or_non_finite_contents(bad):
    table = pd.DataFrame(_records())
    table.at[4, "data"] = [1.0, bad, 0, 0, 0, 0]
    with pytest.raises(ValueError, match=r"ME 'RPC/Efficiency' has a bin content .* \(380001, 3\)"):
        LumiSectionHistograms.from_table(table)


def test_disagreeing_duplicates_name_the_record():
    table = pd.DataFrame(_records())
    extra = table.iloc[[7]].copy()
    extra.at[extra.index[0], "data"] = np.zeros((3, 4)).tolist()
    extra.at[extra.index[0], "entries"] = 0.0
    with pytest.raises(
        ValueError,
        match=r"ME 'HCAL/Occupancy_eta_phi' has two different records for \(run, lumi\) = "
        r"\(380001, 4\)",
    ):
        LumiSectionHistograms.from_table(pd.concat([table, extra], ignore_index=True))


def test_other_bad_tables():
    table = pd.DataFrame(_records())
    with pytest.raises(ValueError, match="no column 'ls_number'"):
        LumiSectionHistograms.from_table(table.drop(columns="ls_number"))
    with pytest.raises(ValueError, match="several datasets"):
        LumiSectionHistograms.from_table(_table_with(0, dataset="/Other/DQMIO"))
    with pytest.raises(ValueError, match="entries must be a finite"):
        LumiSectionHistograms.from_table(_table_with(0, entries=-2.0))
    with pytest.raises(TypeError, match="pandas DataFrame"):
        LumiSectionHistograms.from_table(_records())
    with pytest.raises(ValueError, match="not a JSON list"):
        LumiSectionHistograms.from_table(_table_with(0, data="[1, 2"))
    with pytest.raises(ValueError, match="2D .* but 1D"):
        LumiSectionHistograms.from_table(_table_with(0, y_min=0.0, y_max=1.0, y_bin=1))
    renamed = table.rename(columns={"run_number": "run", "ls_number": "lumi"})
    assert LumiSectionHistograms.from_table(renamed, run="run", lumi="lumi").equals(_expected())


def test_read_dials_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such file"):
        read_dials(tmp_path / "missing.json")
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(ValueError, match="unknown file type '.txt'"):
        read_dials(tmp_path / "x.txt")
    (tmp_path / "bad.json").write_text(json.dumps({"count": 1}))
    with pytest.raises(ValueError, match="'results' list"):
        read_dials(tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_dials(tmp_path / "broken.json")
