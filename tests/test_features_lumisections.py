import io

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import KFold, train_test_split
from sklearn.utils import _safe_indexing

from channeldecomp import LumiSections
from channeldecomp.features import LumiSections as FeaturesLumiSections


def random_lumisections(seed=0, n_lumisections=6, max_events=5, empty_ls=True):
    """Random LumiSections with two channels, one with eta/phi and one without."""
    rng = np.random.default_rng(seed)
    n_events = rng.integers(0 if empty_ls else 1, max_events + 1, size=n_lumisections)
    n_total = int(n_events.sum())
    muons = rng.integers(0, 4, size=n_total)
    jets = rng.integers(0, 7, size=n_total)
    return LumiSections.from_arrays(
        run=np.repeat([100, 101], [n_lumisections // 2, n_lumisections - n_lumisections // 2]),
        lumi=np.arange(n_lumisections) + 1,
        n_events=n_events,
        objects={
            "muons": (muons, {"pt": rng.exponential(10, muons.sum())}),
            "jets": (
                jets,
                {
                    "pt": rng.exponential(30, jets.sum()),
                    "eta": rng.normal(0, 2, jets.sum()),
                    "phi": rng.uniform(-np.pi, np.pi, jets.sum()),
                },
            ),
        },
        event_columns={"luminosity": rng.uniform(0.5, 1.5, n_total)},
        event_ids=rng.permutation(10 * n_total + 1)[:n_total],
    )


def test_public_names_are_the_same_class():
    assert LumiSections is FeaturesLumiSections


def test_from_arrays_basic_accessors():
    ls = LumiSections.from_arrays(
        run=[1, 1, 2],
        lumi=[5, 6, 1],
        n_events=[2, 0, 1],
        objects={"muons": ([1, 2, 0], {"pt": [5.0, 7.0, 1.0], "eta": [0.1, 0.2, 0.3]})},
        event_columns={"luminosity": [1.0, 2.0, 3.0]},
    )
    assert len(ls) == 3 and ls.shape == (3,)
    assert ls.keys.tolist() == [(1, 5), (1, 6), (2, 1)]
    assert list(ls.keys.names) == ["run", "lumi"]
    assert ls.n_events.tolist() == [2, 0, 1]
    assert ls.n_events_total == 3
    assert ls.event_ids().tolist() == [0, 1, 0]
    assert ls.object_counts("muons").tolist() == [1, 2, 0]
    assert ls.object_values("muons", "eta").tolist() == [0.1, 0.2, 0.3]
    assert ls.event_column("luminosity").tolist() == [1.0, 2.0, 3.0]
    assert ls.channels == ["muons"] and ls.properties("muons") == ["pt", "eta"]
    assert "3 lumisections" in repr(ls)


def _reference_subset(ls, indices):
    """The LS at `indices`, rebuilt from the long tables (independent of the indexing code)."""
    objects = ls.to_objects()
    events = ls.to_events()
    keys = [tuple(k) for k in ls.keys.tolist()]
    wanted = [keys[i] for i in indices]
    event_parts = [events[(events.run == r) & (events.lumi == lu)] for r, lu in wanted]
    object_parts = [objects[(objects.run == r) & (objects.lumi == lu)] for r, lu in wanted]
    counts = [len(p) for p in event_parts]
    events_sel = pd.concat(event_parts) if event_parts else events.iloc[:0]
    objs = {}
    for channel in ls.channels:
        props = ls.properties(channel)
        per_event = []
        values = {p: [] for p in props}
        for ev_part, ob_part in zip(event_parts, object_parts):
            ob = ob_part[ob_part.channel == channel]
            for e in ev_part.event:
                rows = ob[ob.event == e]
                per_event.append(len(rows))
                for p in props:
                    values[p].extend(rows[p].tolist())
        arrays = {p: np.array(v) for p, v in values.items()}
        objs[channel] = (np.array(per_event, dtype=int), arrays)
    return LumiSections.from_arrays(
        [k[0] for k in wanted],
        [k[1] for k in wanted],
        counts,
        objs,
        event_columns={"luminosity": events_sel["luminosity"].to_numpy()},
        event_ids=events_sel["event"].to_numpy(),
    )


@pytest.mark.parametrize(
    "key",
    [
        np.array([4, 0, 2]),
        np.array([], dtype=int),
        np.array([True, False, True, True, False, True]),
        slice(1, 4),
        slice(None, None, 2),
        slice(None, None, -1),
        -1,
        [-2, 1],
    ],
)
def test_indexing_matches_reference(key):
    ls = random_lumisections(seed=3)
    indices = np.arange(len(ls))[key]
    indices = np.atleast_1d(indices)
    expected = _reference_subset(ls, indices.tolist())
    assert ls[key].equals(expected)
    # scikit-learn's indexing helper (used by cross-validation) goes through X[key, ...]
    if not isinstance(key, (int, slice)):
        assert _safe_indexing(ls, key).equals(expected)


def test_repeated_indices_repeat_lumisections():
    ls = random_lumisections(seed=3, empty_ls=False)
    twice = ls[[5, 5]]
    assert twice.keys.tolist() == [ls.keys[5]] * 2
    assert twice.n_events.tolist() == [ls.n_events[5]] * 2
    for channel in ls.channels:
        single = ls[[5]].object_values(channel, "pt")
        assert twice.object_values(channel, "pt").tolist() == single.tolist() * 2


def test_indexing_errors():
    ls = random_lumisections()
    with pytest.raises(IndexError, match="out of range"):
        ls[len(ls)]
    with pytest.raises(IndexError, match="boolean mask"):
        ls[np.array([True, False])]
    with pytest.raises(IndexError, match="out of range"):
        ls[np.array([0, 99])]
    with pytest.raises(IndexError):
        ls["muons"]


def test_sklearn_splitters_split_lumisections():
    ls = random_lumisections(seed=1, n_lumisections=20)
    train, test = train_test_split(ls, test_size=0.25, random_state=0)
    assert len(train) == 15 and len(test) == 5
    merged = set(train.keys.tolist()) | set(test.keys.tolist())
    assert merged == set(ls.keys.tolist())
    for train_idx, test_idx in KFold(3).split(ls):
        assert ls[train_idx].n_events_total + ls[test_idx].n_events_total == ls.n_events_total


def test_iteration_gives_single_lumisections():
    ls = random_lumisections(seed=2)
    items = list(ls)
    assert [len(item) for item in items] == [1] * len(ls)
    assert LumiSections.concat(items).equals(ls)


def test_concat_of_pieces_is_identity():
    ls = random_lumisections(seed=4, n_lumisections=9)
    assert LumiSections.concat([ls[:2], ls[2:7], ls[7:]]).equals(ls)


def test_concat_merges_a_lumisection_split_across_parts():
    ls = random_lumisections(seed=5, n_lumisections=4, empty_ls=False)
    events = ls.to_events()
    objects = ls.to_objects()
    # Split every LS's events in two halves by event number; parts list LS in other orders.
    median = events.event.median()
    part_a = LumiSections.from_objects(
        objects[objects.event <= median], events[events.event <= median]
    )
    part_b = LumiSections.from_objects(
        objects[objects.event > median], events[events.event > median]
    )
    merged = LumiSections.concat([part_a, part_b])
    assert sorted(merged.keys.tolist()) == sorted(ls.keys.tolist())
    assert merged.n_events_total == ls.n_events_total
    # Sorting by key (through the long tables) gives the same as building from everything.
    rebuilt = LumiSections.from_objects(merged.to_objects(), merged.to_events())
    assert rebuilt.equals(LumiSections.from_objects(objects, events))


def test_concat_channel_missing_in_a_part_has_no_objects_there():
    a = LumiSections.from_arrays([1], [1], [2], {"muons": ([1, 1], {"pt": [1.0, 2.0]})})
    b = LumiSections.from_arrays([1], [2], [1], {"jets": ([3], {"pt": [1.0, 2.0, 3.0]})})
    both = LumiSections.concat([a, b])
    assert both.channels == ["muons", "jets"]
    assert both.object_counts("muons").tolist() == [1, 1, 0]
    assert both.object_counts("jets").tolist() == [0, 0, 3]


def test_concat_errors():
    a = LumiSections.from_arrays([1], [1], [1], {"muons": ([1], {"pt": [1.0]})})
    with pytest.raises(ValueError, match="Event 0 appears twice"):
        LumiSections.concat([a, a])
    b = LumiSections.from_arrays([1], [2], [1], {"muons": ([1], {"pt": [1.0], "eta": [0.0]})})
    with pytest.raises(ValueError, match="properties"):
        LumiSections.concat([a, b])
    c = LumiSections.from_arrays(
        [1], [3], [1], {"muons": ([1], {"pt": [1.0]})}, event_columns={"luminosity": [1.0]}
    )
    with pytest.raises(ValueError, match="event columns"):
        LumiSections.concat([a, c])
    with pytest.raises(TypeError, match="LumiSections"):
        LumiSections.concat([a, "b"])
    with pytest.raises(ValueError, match="at least one"):
        LumiSections.concat([])


def test_long_table_round_trip():
    ls = random_lumisections(seed=6, n_lumisections=8)
    objects, events = ls.to_objects(), ls.to_events()
    assert len(objects) == sum(int(ls.object_counts(c).sum()) for c in ls.channels)
    assert len(events) == ls.n_events_total
    assert objects.loc[objects.channel == "muons", "eta"].isna().all()
    rebuilt = LumiSections.from_objects(objects, events)
    # from_objects sorts events by number and objects by decreasing pt: compare sorted tables.
    keys = ["run", "lumi", "event", "channel", "pt"]
    pd.testing.assert_frame_equal(
        rebuilt.to_objects().sort_values(keys).reset_index(drop=True),
        objects.sort_values(keys).reset_index(drop=True),
        check_like=True,
    )
    pd.testing.assert_frame_equal(
        rebuilt.to_events().sort_values(["run", "lumi", "event"]).reset_index(drop=True),
        events.sort_values(["run", "lumi", "event"]).reset_index(drop=True),
    )


def test_from_objects_is_independent_of_row_order():
    ls = random_lumisections(seed=7, n_lumisections=8)
    objects, events = ls.to_objects(), ls.to_events()
    reference = LumiSections.from_objects(objects, events)
    shuffled = LumiSections.from_objects(
        objects.sample(frac=1, random_state=0), events.sample(frac=1, random_state=1)
    )
    assert shuffled.equals(reference)
    # duplicated event rows (the same event listed by two files) are merged
    doubled = LumiSections.from_objects(objects, pd.concat([events, events]))
    assert doubled.equals(reference)
    assert np.all(np.diff(reference.keys.to_frame().to_numpy(), axis=0)[:, 0] >= 0)


def test_from_objects_counts_events_without_objects():
    objects = pd.DataFrame(
        {"run": [1], "lumi": [1], "event": [5], "channel": ["muons"], "pt": [3.0]}
    )
    events = pd.DataFrame({"run": [1, 1, 1], "lumi": [1, 1, 2], "event": [5, 6, 1]})
    ls = LumiSections.from_objects(objects, events)
    assert ls.keys.tolist() == [(1, 1), (1, 2)]
    assert ls.n_events.tolist() == [2, 1]
    assert ls.object_counts("muons").tolist() == [1, 0, 0]


def test_from_objects_event_columns_from_object_rows():
    objects = pd.DataFrame(
        {
            "run": [1, 1, 1],
            "lumi": [1, 1, 1],
            "event": [5, 5, 6],
            "channel": ["muons", "jets", "jets"],
            "pt": [3.0, 4.0, 5.0],
            "luminosity": [0.7, 0.7, 0.9],
        }
    )
    ls = LumiSections.from_objects(objects, event_columns=["luminosity"])
    assert ls.event_column("luminosity").tolist() == [0.7, 0.9]
    assert ls.properties("jets") == ["pt"]
    objects.loc[1, "luminosity"] = 0.8
    with pytest.raises(ValueError, match=r"disagree about the per-event column 'luminosity'"):
        LumiSections.from_objects(objects, event_columns=["luminosity"])


def test_from_objects_channel_properties_follow_non_missing_columns():
    objects = pd.DataFrame(
        {
            "run": [1, 1],
            "lumi": [1, 1],
            "event": [1, 1],
            "channel": ["photons", "jets"],
            "pt": [3.0, 4.0],
            "mass": [np.nan, 1.5],
        }
    )
    ls = LumiSections.from_objects(objects)
    assert ls.properties("photons") == ["pt"]
    assert ls.properties("jets") == ["pt", "mass"]


def _objects_frame():
    return pd.DataFrame(
        {
            "run": [1, 1, 2],
            "lumi": [1, 1, 1],
            "event": [1, 2, 1],
            "channel": ["muons", "muons", "jets"],
            "pt": [3.0, 4.0, 5.0],
            "eta": [0.1, 0.2, 0.3],
        }
    )


def test_from_objects_errors():
    objects = _objects_frame()
    with pytest.raises(ValueError, match=r"no column\(s\) 'lumi'"):
        LumiSections.from_objects(objects.drop(columns="lumi"))
    with pytest.raises(ValueError, match="no 'pt' column"):
        LumiSections.from_objects(objects.drop(columns="pt"))
    bad = objects.astype({"eta": object})
    bad.loc[0, "eta"] = "forward"
    with pytest.raises(TypeError, match="'eta' of objects is not numeric"):
        LumiSections.from_objects(bad)
    nan_key = objects.astype({"run": float})
    nan_key.loc[2, "run"] = np.nan
    with pytest.raises(ValueError, match="'run' of objects holds NaN"):
        LumiSections.from_objects(nan_key)
    partial = objects.copy()
    partial.loc[0, "eta"] = np.nan
    with pytest.raises(ValueError, match="'eta' of channel 'muons' is NaN in 1"):
        LumiSections.from_objects(partial)
    events = pd.DataFrame(
        {"run": [1, 1, 1, 2], "lumi": [1, 1, 1, 1], "event": [1, 2, 1, 1], "lum": [1.0, 2, 3, 4]}
    )
    with pytest.raises(ValueError, match="disagree about the per-event column 'lum'"):
        LumiSections.from_objects(objects, events)
    events = pd.DataFrame({"run": [1], "lumi": [1], "event": [1], "lum": [1.0]})
    with pytest.raises(ValueError, match="has objects but no row in events"):
        LumiSections.from_objects(objects, events)
    with pytest.raises(TypeError, match="pandas DataFrame"):
        LumiSections.from_objects(objects.to_numpy())
    renamed = objects.rename(columns={"channel": "collection", "lumi": "ls"})
    ls = LumiSections.from_objects(renamed, lumi="ls", channel="collection")
    assert ls.keys.tolist() == [(1, 1), (2, 1)]


def test_from_arrays_errors():
    pt = {"pt": [1.0]}
    with pytest.raises(ValueError, match=r"\(1, 1\) appears more than once"):
        LumiSections.from_arrays([1, 1], [1, 1], [0, 1], {"m": ([1], pt)})
    with pytest.raises(ValueError, match="n_events has 1 entries; expected 2"):
        LumiSections.from_arrays([1, 1], [1, 2], [1], {})
    with pytest.raises(ValueError, match="n_objects of channel 'm' has 2 entries"):
        LumiSections.from_arrays([1], [1], [1], {"m": ([1, 0], pt)})
    with pytest.raises(ValueError, match="no 'pt' property"):
        LumiSections.from_arrays([1], [1], [1], {"m": ([1], {"eta": [1.0]})})
    with pytest.raises(ValueError, match="negative pt"):
        LumiSections.from_arrays([1], [1], [1], {"m": ([1], {"pt": [-1.0]})})
    with pytest.raises(ValueError, match="non-finite"):
        LumiSections.from_arrays([1], [1], [1], {"m": ([1], {"pt": [np.nan]})})
    with pytest.raises(ValueError, match="'eta' of channel 'm' has 2 entries; expected 1"):
        LumiSections.from_arrays([1], [1], [1], {"m": ([1], {"pt": [1.0], "eta": [1.0, 2.0]})})
    with pytest.raises(TypeError, match="must be numeric"):
        LumiSections.from_arrays([1], [1], [1], {"m": ([1], {"pt": ["a"]})})
    with pytest.raises(ValueError, match="holds NaN"):
        LumiSections.from_arrays([1.0, np.nan], [1, 2], [0, 0], {})
    with pytest.raises(ValueError, match="must not be negative"):
        LumiSections.from_arrays([1], [1], [-1], {})
    with pytest.raises(ValueError, match="contains '__'"):
        LumiSections.from_arrays([1], [1], [1], {"a__b": ([1], pt)})
    with pytest.raises(TypeError, match="pair"):
        LumiSections.from_arrays([1], [1], [1], {"m": pt})
    with pytest.raises(ValueError, match="Event 3 appears twice"):
        LumiSections.from_arrays([1], [1], [2], {}, event_ids=[3, 3])


def test_joblib_round_trip():
    ls = random_lumisections(seed=8)
    buffer = io.BytesIO()
    joblib.dump(ls, buffer)
    buffer.seek(0)
    assert joblib.load(buffer).equals(ls)
    # a contiguous slice holds views of the arrays; it pickles too
    buffer = io.BytesIO()
    joblib.dump(ls[:1], buffer)
    buffer.seek(0)
    assert joblib.load(buffer).equals(ls[:1])


@pytest.mark.parametrize("scalar_columns", [{}, {"lum": [1.0]}])
def test_from_objects_rejects_object_events_missing_from_events(scalar_columns):
    # events lists every event: an event with objects but no row there is an error, whether or
    # not events carries per-event columns (it used to be added silently when it had none).
    objects = _objects_frame()  # events (1, 1, 1), (1, 1, 2), (2, 1, 1)
    events = pd.DataFrame({"run": [1], "lumi": [1], "event": [1], **scalar_columns})
    message = (
        r"An event has objects but no row in events: \(run, lumi, event\) = \(1, 1, 2\), "
        r"\(2, 1, 1\) \(2 events in all\)\..*Add a row for each of these events to events"
    )
    with pytest.raises(ValueError, match=message) as error:
        LumiSections.from_objects(objects, events)
    assert ("'lum' would be unknown" in str(error.value)) == bool(scalar_columns)
    # the first few keys are shown, with the count of all of them
    many = pd.DataFrame(
        {"run": 7, "lumi": 1, "event": np.arange(8), "channel": "muons", "pt": 1.0 + np.arange(8)}
    )
    with pytest.raises(ValueError, match=r"\(7, 1, 4\), \.\.\. \(8 events in all\)"):
        LumiSections.from_objects(many, events)
    # the events of the objects alone, or a complete events table, are fine
    assert LumiSections.from_objects(objects).n_events_total == 3
    complete = pd.DataFrame({"run": [1, 1, 2, 3], "lumi": [1, 1, 1, 1], "event": [1, 2, 1, 9]})
    assert LumiSections.from_objects(objects, complete).n_events.tolist() == [2, 1, 1]
