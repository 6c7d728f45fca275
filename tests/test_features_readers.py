import numpy as np
import pytest

from channeldecomp import LumiSections
from channeldecomp.features import read_nanoaod

ak = pytest.importorskip("awkward")
uproot = pytest.importorskip("uproot")


def nanoaod_events(seed, n_events, lumis, first_event=0):
    """Arrays of a NanoAOD-like tree: keys, Muon and Jet collections, a scalar branch."""
    rng = np.random.default_rng(seed)
    n_muon = rng.integers(0, 4, n_events)
    n_jet = rng.integers(0, 6, n_events)

    def jagged(counts, values):
        return ak.unflatten(values, counts)

    return {
        "run": np.full(n_events, 146_511, dtype=np.int32),
        "luminosityBlock": rng.choice(lumis, n_events).astype(np.int32),
        "event": (first_event + rng.permutation(n_events)).astype(np.int64),
        "PV_npvs": rng.integers(1, 30, n_events).astype(np.int32),
        "Muon": ak.zip(
            {
                "pt": jagged(n_muon, rng.exponential(20, n_muon.sum())),
                "eta": jagged(n_muon, rng.normal(0, 2, n_muon.sum())),
                "phi": jagged(n_muon, rng.uniform(-3, 3, n_muon.sum())),
            }
        ),
        "Jet": ak.zip(
            {
                "pt": jagged(n_jet, rng.exponential(40, n_jet.sum())),
                "eta": jagged(n_jet, rng.normal(0, 2, n_jet.sum())),
                "phi": jagged(n_jet, rng.uniform(-3, 3, n_jet.sum())),
                "mass": jagged(n_jet, rng.exponential(8, n_jet.sum())),
            }
        ),
    }


def write_nanoaod(path, arrays):
    types = {
        name: (values.type if isinstance(values, ak.Array) else values.dtype)
        for name, values in arrays.items()
    }
    with uproot.recreate(path) as file:
        tree = file.mktree(
            "Events",
            types,
            field_name=lambda outer, inner: f"{outer}_{inner}",
            counter_name=lambda counted: f"n{counted}",
        )
        tree.extend(arrays)


def expected_from_arrays(arrays_list):
    """The same content built with from_awkward on the concatenated arrays."""
    merged = {
        name: ak.concatenate([a[name] for a in arrays_list])
        if isinstance(arrays_list[0][name], ak.Array)
        else np.concatenate([a[name] for a in arrays_list])
        for name in arrays_list[0]
    }
    return LumiSections.from_awkward(
        merged["run"],
        merged["luminosityBlock"],
        merged["event"],
        {"muons": merged["Muon"], "jets": merged["Jet"]},
        event_columns={"n_vertices": merged["PV_npvs"]},
    )


def same_content(got, want, channel_map, properties):
    """Same keys, events and objects, whatever the order of events inside a lumisection."""
    if got.keys.tolist() != want.keys.tolist():
        return False
    keys = ["run", "lumi", "event"]
    got_events = got.to_events()[keys].sort_values(keys).reset_index(drop=True)
    want_events = want.to_events()[keys].sort_values(keys).reset_index(drop=True)
    if not got_events.equals(want_events):
        return False
    got_objects = got.to_objects()
    want_objects = want.to_objects()
    for got_channel, want_channel in channel_map.items():
        columns = [*keys, *properties]
        a = got_objects[got_objects.channel == got_channel][columns]
        b = want_objects[want_objects.channel == want_channel][columns]
        a = a.sort_values(columns).reset_index(drop=True)
        b = b.sort_values(columns).reset_index(drop=True)
        if not a.equals(b):
            return False
    return True


def test_read_nanoaod_matches_from_awkward(tmp_path):
    arrays = nanoaod_events(0, 60, lumis=[3, 4, 5])
    path = tmp_path / "nano.root"
    write_nanoaod(path, arrays)
    ls = read_nanoaod(
        path,
        {"muons": "Muon", "jets": "Jet"},
        event_columns={"n_vertices": "PV_npvs"},
    )
    assert ls.keys.tolist() == [(146_511, 3), (146_511, 4), (146_511, 5)]
    assert ls.n_events_total == 60
    assert ls.properties("muons") == ["pt", "eta", "phi"]
    assert ls.properties("jets") == ["pt", "eta", "phi", "mass"]
    assert ls.equals(expected_from_arrays([arrays]))
    # events are sorted by number inside each lumisection
    ids = ls.event_ids()
    for start, stop in zip(ls.event_offsets()[:-1], ls.event_offsets()[1:]):
        assert np.all(np.diff(ids[start:stop]) > 0)


def test_read_nanoaod_merges_lumisections_split_across_files_and_chunks(tmp_path):
    first = nanoaod_events(1, 40, lumis=[3, 4])
    second = nanoaod_events(2, 30, lumis=[4, 5], first_event=1000)
    write_nanoaod(tmp_path / "a.root", first)
    write_nanoaod(tmp_path / "b.root", second)
    files = [tmp_path / "a.root", tmp_path / "b.root"]
    ls = read_nanoaod(files, ["Muon"], properties=["pt", "eta"], step_size=7)
    from_pattern = read_nanoaod(str(tmp_path / "*.root"), ["Muon"], properties=["pt", "eta"])
    assert same_content(from_pattern, ls, channel_map={"Muon": "Muon"}, properties=["pt", "eta"])
    assert ls.keys.tolist() == [(146_511, 3), (146_511, 4), (146_511, 5)]
    assert ls.n_events_total == 70
    assert ls.channels == ["Muon"] and ls.properties("Muon") == ["pt", "eta"]
    expected = expected_from_arrays([first, second])
    assert same_content(ls, expected, channel_map={"Muon": "muons"}, properties=["pt", "eta"])


def test_read_nanoaod_errors(tmp_path):
    path = tmp_path / "nano.root"
    write_nanoaod(path, nanoaod_events(3, 10, lumis=[1]))
    with pytest.raises(ValueError, match=r"no branch\(es\) 'Electron_pt'"):
        read_nanoaod(path, {"electrons": "Electron"})
    with pytest.raises(ValueError, match="Muon_energy"):
        read_nanoaod(path, {"muons": "Muon"}, properties=["energy"])
    with pytest.raises(ValueError, match="'lumi'"):
        read_nanoaod(path, {"muons": "Muon"}, lumi="lumi")
    with pytest.raises(ValueError, match="No file matches"):
        read_nanoaod(str(tmp_path / "missing*.root"), {"muons": "Muon"})


def test_from_awkward_accepts_dicts_and_checks_shapes():
    muons = {"pt": ak.Array([[5.0, 1.0], [], [2.0]]), "eta": ak.Array([[0.1, 0.2], [], [0.3]])}
    ls = LumiSections.from_awkward(
        np.array([1, 1, 1]), np.array([2, 2, 3]), np.array([9, 8, 1]), {"muons": muons}
    )
    assert ls.keys.tolist() == [(1, 2), (1, 3)]
    assert ls.event_ids().tolist() == [8, 9, 1]
    assert ls.object_counts("muons").tolist() == [0, 2, 1]
    assert ls.object_values("muons", "pt").tolist() == [5.0, 1.0, 2.0]
    only_pt = LumiSections.from_awkward(
        [1], [1], [1], {"m": ak.zip({"pt": [[1.0]], "x": [[2.0]]})}, properties=["pt"]
    )
    assert only_pt.properties("m") == ["pt"]
    bad = {"pt": ak.Array([[5.0, 1.0], [], [2.0]]), "eta": ak.Array([[0.1], [], [0.3]])}
    with pytest.raises(ValueError, match="disagree on the number of objects"):
        LumiSections.from_awkward([1, 1, 1], [1, 1, 1], [1, 2, 3], {"muons": bad})
    with pytest.raises(ValueError, match="one list per event"):
        LumiSections.from_awkward([1, 1], [1, 1], [1, 2], {"muons": muons})
    with pytest.raises(ValueError, match="appears twice"):
        LumiSections.from_awkward([1, 1, 1], [1, 1, 1], [1, 1, 3], {"muons": muons})
    with pytest.raises(TypeError, match="must hold integers"):
        LumiSections.from_awkward([1.5, 1, 1], [1, 1, 1], [1, 2, 3], {"muons": muons})
