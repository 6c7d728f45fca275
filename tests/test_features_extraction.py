"""Feature extraction over many NanoAOD files on Dask (channeldecomp.features._extraction).

The files are written here with uproot: lumisections (LS) spread over several files and over
chunks of a file, events in shuffled order, an empty file, a file without any photon. Every
distributed result is compared with the single-process
``LumiSectionPercentiles().fit_transform(read_nanoaod(...))``.
"""

import faulthandler
import os
import signal

import numpy as np
import pandas as pd
import pytest

from channeldecomp import LumiSectionPercentiles
from channeldecomp.features import (
    extract_features,
    extraction_cluster,
    read_features,
    read_nanoaod,
)

uproot = pytest.importorskip("uproot")
ak = pytest.importorskip("awkward")
distributed = pytest.importorskip("distributed")

COLLECTIONS = {"muons": "Muon", "photons": "Photon", "jets": "Jet"}
# The sums over the events of an LS (mean, std) add the same numbers in another order when the
# events come from other files or chunks: they agree to a few units in the last place. The
# percentiles pick the same order statistics and agree exactly.
RTOL = ATOL = 1e-12


def _events(n_events, seed, n_ls=9, run=1):
    rng = np.random.default_rng(seed)
    lumi = rng.integers(1, n_ls + 1, n_events).astype(np.int32)
    event = rng.permutation(np.arange(1, n_events + 1) + 1000 * seed).astype(np.int64)
    data = {
        "run": np.full(n_events, run, dtype=np.int32),
        "luminosityBlock": lumi,
        "event": event,
        "fixedGridRhoAll": rng.uniform(5, 30, n_events).astype(np.float32),
    }
    for prefix, mean in (("Muon", 1.5), ("Photon", 1.0), ("Jet", 3.0)):
        counts = rng.poisson(mean, n_events)
        n = int(counts.sum())
        pt = rng.exponential(30, n).astype(np.float32)
        pt[rng.random(n) < 0.05] = 0  # absent objects
        data[prefix] = (counts, pt, rng.normal(0, 1.5, n), rng.uniform(-np.pi, np.pi, n))
    return data


def _subset(data, rows):
    """The events ``rows`` of ``data`` (objects follow their events)."""
    out = {}
    for name, value in data.items():
        if isinstance(value, tuple):
            counts, *props = value
            offsets = np.r_[0, np.cumsum(counts)]
            take = np.concatenate(
                [np.arange(offsets[r], offsets[r + 1]) for r in rows] + [np.zeros(0, int)]
            )
            out[name] = (counts[rows], *(p[take] for p in props))
        else:
            out[name] = value[rows]
    return out


def _branches(data):
    """The branches of ``data``: its flat arrays, and Muon_pt, Muon_eta, ... as jagged arrays."""
    branches = {k: v for k, v in data.items() if not isinstance(v, tuple)}
    for prefix in ("Muon", "Photon", "Jet"):
        counts, pt, eta, phi = data[prefix]
        for prop, values in (("pt", pt), ("eta", eta), ("phi", phi)):
            branches[f"{prefix}_{prop}"] = ak.unflatten(
                np.asarray(values, dtype=np.float32), np.asarray(counts, dtype=np.int64)
            )
    return branches


def _write(path, data, *, rntuple=False):
    """A NanoAOD-like file: run, luminosityBlock, event, fixedGridRhoAll, nMuon, Muon_pt, ..."""
    branches = _branches(data)
    with uproot.recreate(path) as file:
        if rntuple:
            file.mkrntuple("Events", ak.Array(branches))
            return
        types = {
            name: (value.type if isinstance(value, ak.Array) else value.dtype)
            for name, value in branches.items()
        }
        tree = file.mktree("Events", types, counter_name=lambda counted: f"n{counted}")
        if len(branches["run"]):
            tree.extend(branches)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Five files: the events of 9 LS shuffled over four files, plus an empty one; the third
    file has no photon at all."""
    directory = tmp_path_factory.mktemp("nano")
    data = _events(1200, seed=1)
    splits = np.split(np.arange(1200), [300, 650, 700])
    paths = []
    for i, rows in enumerate(splits):
        part = _subset(data, rows)
        if i == 2:  # no photon in this file
            counts, *props = part["Photon"]
            part["Photon"] = (np.zeros_like(counts), *(p[:0] for p in props))
        path = str(directory / f"nano_{i}.root")
        _write(path, part)
        paths.append(path)
    empty = str(directory / "nano_empty.root")
    _write(empty, _subset(data, np.zeros(0, dtype=int)))
    paths.insert(2, empty)
    return paths


def _reference(paths, **kwargs):
    ls = read_nanoaod(paths, COLLECTIONS, event_columns=["fixedGridRhoAll"])
    features = LumiSectionPercentiles(**kwargs).set_output(transform="pandas")
    return features.fit_transform(ls)


def _assert_same(table, reference):
    assert table.index.equals(reference.index)
    assert table.columns.tolist() == reference.columns.tolist()
    np.testing.assert_allclose(table.to_numpy(), reference.to_numpy(), rtol=RTOL, atol=ATOL)


@pytest.fixture(scope="module")
def client():
    # Forked workers inherit this process's imports (torch among them): spawned ones would each
    # import the package again, which takes tens of seconds on two busy cores. One tiny fit
    # first loads what torch imports on its first training step, for the same reason.
    import dask

    from channeldecomp import ChannelDecompositionClassifier
    from channeldecomp.datasets import make_channel_anomalies

    data = make_channel_anomalies(n_samples=40, random_state=0)
    ChannelDecompositionClassifier(hidden_layer_sizes=(4,), max_epochs=1).fit(
        data.data, data.target
    )

    # A fork from a process with threads can deadlock, and a cluster whose start hangs would
    # hang the whole run: past 5 minutes, print every thread's stack and end the process.
    with dask.config.set({"distributed.worker.multiprocessing-method": "fork"}):
        faulthandler.dump_traceback_later(300, exit=True)
        try:
            cluster = distributed.LocalCluster(
                n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
            )
        finally:
            faulthandler.cancel_dump_traceback_later()
        with cluster, distributed.Client(cluster) as client:
            yield client


@pytest.fixture(scope="module")
def local_table(dataset):
    # 150-entry chunks: the LS are spread over chunks and files; the event order is shuffled
    return extract_features(dataset, COLLECTIONS, event_columns=["fixedGridRhoAll"], chunk_size=150)


def test_local_scheduler_equals_the_in_memory_features(dataset, local_table):
    table = local_table
    reference = _reference(dataset)
    _assert_same(table, reference)
    # the file without photons still gives photon columns: zero-padded slots and counts
    assert (table["photons__n_objects_mean"] > 0).all()
    metadata = table.attrs["channeldecomp"]
    assert [f["n_events"] for f in metadata["files"]] == [300, 350, 0, 50, 500]
    assert metadata["n_events"] == 1200 and metadata["n_lumisections"] == 9
    assert metadata["features"]["params"]["n_quantiles"] == 5


def test_any_split_into_files_and_chunks_gives_the_same_features(dataset, tmp_path):
    # the same events, in another order, in three other files, read in 37-entry chunks
    data = _events(1200, seed=1)
    rows = np.random.default_rng(7).permutation(1200)
    paths = []
    for i, part in enumerate(np.array_split(rows, 3)):
        paths.append(str(tmp_path / f"other_{i}.root"))
        _write(paths[-1], _subset(data, part))
    params = {"n_quantiles": 3, "percentiles": [10, 50, 90], "statistics": ["mean"]}
    table = extract_features(
        paths,
        COLLECTIONS,
        features=LumiSectionPercentiles(**params),
        event_columns=["fixedGridRhoAll"],
        chunk_size=37,
    )
    _assert_same(table, _reference(paths, **params))
    # one chunk per file, and a whole file per chunk, change nothing either
    whole = extract_features(
        paths,
        COLLECTIONS,
        features=LumiSectionPercentiles(**params),
        event_columns=["fixedGridRhoAll"],
        chunk_size=10_000,
    )
    _assert_same(whole, table)


def test_cluster_equals_the_in_memory_features_and_round_trips_parquet(dataset, client, tmp_path):
    output = tmp_path / "features.parquet"
    seen = []
    table = extract_features(
        dataset,
        COLLECTIONS,
        event_columns=["fixedGridRhoAll"],
        client=client,
        chunk_size=150,
        output=output,
        progress=lambda stage, done, total: seen.append((stage, done, total)),
    )
    _assert_same(table, _reference(dataset))
    assert seen[-1][0] == "features" and seen[-1][1] == seen[-1][2]
    back = read_features(output)
    pd.testing.assert_frame_equal(back, table)
    assert back.attrs["channeldecomp"]["files"] == table.attrs["channeldecomp"]["files"]
    assert back.attrs["channeldecomp"]["features"]["class"] == "LumiSectionPercentiles"
    # a large table is written as a directory of parts, read back the same
    parts = tmp_path / "parts"
    from channeldecomp.features import write_features

    write_features(table, parts, rows_per_file=4)
    assert sorted(os.listdir(parts)) == [f"part-0000{i}.parquet" for i in range(3)]
    pd.testing.assert_frame_equal(read_features(parts), table)


def test_an_event_in_two_files_is_an_error_naming_both(dataset, tmp_path):
    data = _events(1200, seed=1)
    duplicate = str(tmp_path / "duplicate.root")
    _write(duplicate, _subset(data, np.array([5])))  # event 6 of nano_0.root again
    with pytest.raises(ValueError, match="nano_0.root and .*duplicate.root") as error:
        extract_features([*dataset, duplicate], COLLECTIONS, chunk_size=150)
    assert f"Event {data['event'][5]} of lumisection" in str(error.value)


def test_a_corrupt_file_is_named_or_skipped(dataset, tmp_path, caplog):
    corrupt = tmp_path / "corrupt.root"
    good = open(dataset[0], "rb").read()
    corrupt.write_bytes(good[: len(good) // 2])  # truncated
    files = [*dataset, str(corrupt)]
    with pytest.raises(ValueError, match="corrupt.root.*skip_bad_files=True"):
        extract_features(files, COLLECTIONS, event_columns=["fixedGridRhoAll"])
    with caplog.at_level("WARNING", logger="channeldecomp"):
        table = extract_features(
            files, COLLECTIONS, event_columns=["fixedGridRhoAll"], skip_bad_files=True
        )
    _assert_same(table, _reference(dataset))
    skipped = table.attrs["channeldecomp"]["skipped_files"]
    assert [entry["path"] for entry in skipped] == [str(corrupt)]
    assert "corrupt.root" in caplog.text


def test_a_file_corrupt_past_its_first_chunks_is_skipped_whole(dataset, tmp_path):
    # the keys and the first baskets read fine, a later basket of Jet_pt does not: the events
    # of the file's good chunks must not be used either
    path = tmp_path / "late.root"
    data = _subset(_events(300, seed=9), np.arange(300))
    with uproot.recreate(path) as file:
        _write_in_baskets(file, data, basket=100)
    raw = bytearray(path.read_bytes())
    events = uproot.open(path)["Events"]
    start = events["Jet_pt"].member("fBasketSeek")[2]
    raw[start + 100 : start + 400] = b"\x00" * 300  # the third basket's compressed data
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="late.root"):
        extract_features([str(path)], COLLECTIONS, chunk_size=100)
    table = extract_features(
        [dataset[0], str(path)], COLLECTIONS, chunk_size=100, skip_bad_files=True
    )
    assert table.attrs["channeldecomp"]["skipped_files"][0]["path"] == str(path)
    ls = read_nanoaod(dataset[0], COLLECTIONS)
    _assert_same(table, LumiSectionPercentiles().set_output(transform="pandas").fit_transform(ls))


def _write_in_baskets(file, data, basket):
    """Write ``data`` in baskets of ``basket`` events (one extend call each)."""
    n = len(data["run"])
    tree = None
    for start in range(0, n, basket):
        part = _subset(data, np.arange(start, min(start + basket, n)))
        branches = _branches(part)
        if tree is None:
            types = {
                name: (value.type if isinstance(value, ak.Array) else value.dtype)
                for name, value in branches.items()
            }
            tree = file.mktree("Events", types, counter_name=lambda counted: f"n{counted}")
        tree.extend(branches)


def test_missing_branch_names_the_file(dataset):
    with pytest.raises(ValueError, match=r"nano_0.root \(tree 'Events'\) has no branch.*Tau_pt"):
        extract_features(dataset, {"taus": "Tau"})
    with pytest.raises(TypeError, match="LumiSectionPercentiles"):
        extract_features(dataset, COLLECTIONS, features="percentiles")


def _worker_settings(dask_worker):
    return os.environ.get("MALLOC_TRIM_THRESHOLD_"), "profile" in dask_worker.periodic_callbacks


def test_extraction_cluster_turns_the_profiler_off_and_keeps_glibcs_malloc_thresholds(
    dataset, local_table, monkeypatch
):
    import dask

    # as a nanny started earlier in this process leaves it
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    profile = dask.config.get("distributed.worker.profile.enabled")
    with (
        dask.config.set({"distributed.worker.multiprocessing-method": "fork"}),
        extraction_cluster(1) as cluster,
        distributed.Client(cluster) as client,
    ):
        assert list(client.run(_worker_settings).values()) == [(None, False)]
        table = extract_features(
            dataset, COLLECTIONS, event_columns=["fixedGridRhoAll"], chunk_size=150, client=client
        )
        assert len(cluster.workers) == 1
    pd.testing.assert_frame_equal(table, local_table, check_exact=False, rtol=RTOL, atol=ATOL)
    # Dask's configuration and this process's environment are as before
    assert dask.config.get("distributed.nanny.pre-spawn-environ") == environ
    assert dask.config.get("distributed.worker.profile.enabled") == profile
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "65536"
    with pytest.raises(ValueError, match="n_workers must be a positive integer; got 0"):
        with extraction_cluster(0):
            pass


def test_rntuple_files_give_the_same_features(tmp_path):
    data = _events(400, seed=3)
    paths = []
    for i, rows in enumerate(np.array_split(np.arange(400), 2)):
        paths.append(str(tmp_path / f"rntuple_{i}.root"))
        _write(paths[-1], _subset(data, rows), rntuple=True)
    assert "RNTuple" in type(uproot.open(paths[0])["Events"]).__name__
    table = extract_features(paths, COLLECTIONS, event_columns=["fixedGridRhoAll"], chunk_size=90)
    # the same events in TTree files: the reference
    trees = []
    for i, rows in enumerate(np.array_split(np.arange(400), 2)):
        trees.append(str(tmp_path / f"ttree_{i}.root"))
        _write(trees[-1], _subset(data, rows))
    _assert_same(table, _reference(trees))


def test_open_trees_are_kept_least_recently_used_first_out_within_their_budget(
    dataset, monkeypatch
):
    from channeldecomp.features import _extraction

    n_branches = len(uproot.open(dataset[0])["Events"].keys())
    monkeypatch.setattr(_extraction, "_OPEN_TREES", _extraction.OrderedDict())
    monkeypatch.setattr(_extraction, "_OPEN_TREES_BRANCHES", 2 * n_branches)

    def open_tree(path):
        with _extraction._opened(uproot, path, "Events") as events:
            return events

    first = open_tree(dataset[0])
    open_tree(dataset[1])
    assert open_tree(dataset[0]) is first  # kept, and now the last used
    open_tree(dataset[3])  # over the budget: nano_1 goes
    assert [path for path, _, _ in _extraction._OPEN_TREES] == [dataset[0], dataset[3]]
    # a rewritten file is another file: opened again
    os.utime(dataset[0], ns=(1, 1))
    assert open_tree(dataset[0]) is not first


def test_a_forked_child_forgets_the_trees_its_parent_kept_open(dataset):
    # a kept file's descriptor shares its offset with the parent's: the child opens its own
    from channeldecomp.features import _extraction

    with _extraction._opened(uproot, dataset[0], "Events"):
        pass
    assert _extraction._OPEN_TREES
    pid = os.fork()
    if pid == 0:  # the child: report whether it still holds trees, and leave at once
        os._exit(1 if _extraction._OPEN_TREES else 0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_tasks_run_on_the_workers_asked_for_and_their_workers_are_reported(client):
    from channeldecomp.features._extraction import _run_graph

    pids = client.run(os.getpid)
    first, second = sorted(pids)
    graph = {
        ("pid", 0): (os.getpid,),
        ("pid", 1): (os.getpid,),
        ("both", 0): (tuple, [("pid", 0), ("pid", 1)]),
    }
    placement = {("pid", 0): second, ("pid", 1): first}
    results = _run_graph(graph, [("both", 0)], client, None, "test", placement=placement)
    assert results == [(pids[second], pids[first])]
    # the worker reported for a key is one that computed it
    locations = {}
    keys = [("pid", 0), ("pid", 1)]
    results = _run_graph(graph, keys, client, None, "test", locations=locations)
    assert [pids[locations[key]] for key in keys] == results


def test_reads_stay_with_the_inspecting_worker_within_its_share_of_the_entries():
    from channeldecomp.features._extraction import _placement

    # 6 files of 2 chunks; worker a inspected 5 of them: a keeps 3 files, the other 2 move
    # to b together with their second chunks, so no file is opened by both workers
    chunks = [(f, start, start + 100) for f in range(6) for start in (0, 100)]
    opened = {0: "a", 1: "a", 2: "a", 3: "a", 4: "a", 5: "b"}
    placement = _placement(chunks, opened, {"a": 1, "b": 1})
    assert sorted(placement) == list(range(12))
    assert [placement[c] for c in range(12)] == ["a"] * 6 + ["b"] * 6
    # shares follow the threads: b (3 threads) reads 3 times as much as a
    placement = _placement(chunks, {f: "a" for f in range(6)}, {"a": 1, "b": 3})
    assert sum(worker == "a" for worker in placement.values()) == 3
    # a worker that inspected nothing (it joined later) still gets its share
    placement = _placement(chunks, {f: "a" for f in range(6)}, {"a": 1, "b": 1, "c": 1})
    assert sorted(list(placement.values()).count(w) for w in "abc") == [4, 4, 4]
    # a worker gone since the inspection: its files go to the others
    placement = _placement(chunks, {f: "gone" for f in range(6)}, {"a": 1, "b": 1})
    assert sorted(placement.values()) == ["a"] * 6 + ["b"] * 6
    # an even inspection is kept as it is
    opened = {f: "ab"[f % 2] for f in range(6)}
    placement = _placement(chunks, opened, {"a": 1, "b": 1})
    assert all(placement[c] == opened[chunks[c][0]] for c in range(12))
    assert _placement(chunks, opened, {}) == {}


class _KillFirstReader(distributed.diagnostics.plugin.SchedulerPlugin):
    """Kills the worker that holds the first finished read task, while the others run."""

    def __init__(self, scheduler, pids):
        self.scheduler = scheduler
        self.pids = pids
        self.killed = None
        self.pending_at_kill = None

    def transition(self, key, start, finish, *args, **kwargs):
        if self.killed or finish != "memory" or "channeldecomp-read-" not in str(key):
            return
        task = self.scheduler.tasks[key]
        address = next(iter(task.who_has)).address
        self.killed = address
        self.pending_at_kill = sum(
            1
            for t in self.scheduler.tasks.values()
            if ("channeldecomp-merge-" in str(t.key) or "channeldecomp-read-" in str(t.key))
            and t.state != "memory"
        )
        os.kill(self.pids[address], signal.SIGKILL)


def test_a_worker_killed_during_the_run_does_not_change_the_result(dataset, client):
    reference = _reference(dataset)
    pids = client.run(os.getpid)
    scheduler = client.cluster.scheduler
    plugin = _KillFirstReader(scheduler, pids)
    scheduler.add_plugin(plugin, name="kill-first-reader")
    try:
        table = extract_features(
            dataset, COLLECTIONS, event_columns=["fixedGridRhoAll"], client=client, chunk_size=100
        )
    finally:
        scheduler.remove_plugin(name="kill-first-reader")
    assert plugin.killed is not None and plugin.pending_at_kill > 0
    _assert_same(table, reference)
    client.wait_for_workers(2, timeout=60)


def test_grid_search_runs_on_the_cluster_through_joblibs_dask_backend(client):
    import joblib
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from channeldecomp import ChannelDecompositionClassifier
    from channeldecomp.datasets import make_channel_anomalies

    data = make_channel_anomalies(n_samples=200, random_state=0)
    pipeline = make_pipeline(
        StandardScaler().set_output(transform="pandas"),
        ChannelDecompositionClassifier(
            hidden_layer_sizes=(8,), max_epochs=2, batch_size=50, random_state=0
        ),
    )
    grid = {"channeldecompositionclassifier__lr": [1e-3, 1e-2]}
    search = GridSearchCV(pipeline, grid, cv=2, scoring="roc_auc", n_jobs=-1)
    with distributed.get_task_stream(client) as stream, joblib.parallel_config(backend="dask"):
        search.fit(data.data, data.target)
    # the 2 candidates x 2 folds were fitted on the cluster's workers
    workers = {task["worker"] for task in stream.data}
    assert workers and workers <= set(client.scheduler_info()["workers"])
    assert len(stream.data) >= 4
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert set(search.best_params_) == set(grid)


def test_predicting_on_a_dask_dataframe_partition_by_partition(local_table, client):
    dd = pytest.importorskip("dask.dataframe")
    from sklearn.linear_model import LogisticRegression

    table = local_table
    labels = (table["muons__pt_q5_mean"] > table["muons__pt_q5_mean"].median()).astype(int)
    model = LogisticRegression(max_iter=500).fit(table, labels)
    # Dask DataFrames have no MultiIndex: run and lumi become columns
    frame = dd.from_pandas(table.reset_index(), npartitions=3)

    def predict(part):
        features = part.drop(columns=["run", "lumi"])
        return pd.DataFrame(
            {
                "run": part["run"],
                "lumi": part["lumi"],
                "p_good": model.predict_proba(features)[:, 1],
            },
            index=part.index,
        )

    meta = pd.DataFrame(
        {
            "run": pd.Series(dtype="int64"),
            "lumi": pd.Series(dtype="int64"),
            "p_good": pd.Series(dtype="float64"),
        }
    )
    scores = frame.map_partitions(predict, meta=meta).compute()
    assert frame.npartitions == 3
    # the same model on smaller batches: the matrix products may round differently in the last
    # bits (vector width, blocking), hence a relative tolerance far below any decision
    np.testing.assert_allclose(
        scores["p_good"].to_numpy(), model.predict_proba(table)[:, 1], rtol=1e-10, atol=1e-15
    )
    assert scores[["run", "lumi"]].to_numpy().tolist() == [list(k) for k in table.index]


def test_the_package_imports_no_dask_module_at_import_time():
    # dask and distributed are imported inside the functions that use them only: no module of
    # the package imports them at its top level (where `import channeldecomp` would run it)
    import ast
    from pathlib import Path

    import channeldecomp

    offenders = []
    for path in Path(channeldecomp.__file__).parent.rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            offenders += [
                f"{path.name}: {name}"
                for name in names
                if name.split(".")[0] in {"dask", "distributed", "dask_awkward"}
            ]
    assert offenders == []
