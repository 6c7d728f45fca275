"""The ``channeldecomp`` command line.

Subcommands are registered in :data:`COMMANDS`: each entry is a function that adds its
subparser (and sets ``handler``, the function run with the parsed arguments, returning the exit
status). To add a command, write ``_add_<name>(subparsers)`` and list it there.

Model files are skops files written by :func:`channeldecomp.save` (``model.skops``), loaded
with :func:`channeldecomp.load`, which checks every type before constructing anything. A pickle
or joblib file runs arbitrary code when loaded, so ``--model`` refuses one unless
``--trust-pickle`` is given.

Examples
--------
::

    channeldecomp score --model model.skops --data new.parquet -o scores.parquet
    channeldecomp features data/*.root --collections muons=Muon jets=Jet --workers 4 \\
        -o features.parquet
    channeldecomp report --model model.skops --data test.csv --label-column good \\
        --output report.html
    python -m channeldecomp score --help
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ._validation import _describe
from ._version import __version__

__all__ = ["main"]

logger = logging.getLogger("channeldecomp")


_CSV_SUFFIXES = (".csv", ".txt")
_PARQUET_SUFFIXES = (".parquet", ".pq")


def _require_pyarrow(path, action):
    """Import pyarrow (for Parquet) or say clearly how to do without it."""
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"{action} the Parquet file {path} needs pyarrow: pip install pyarrow (or use a "
            ".csv file instead)."
        ) from exc


def _read_table(path, allow_pickle=False):
    """Read a table of lumisections (CSV, Parquet, or a pickled DataFrame if allowed)."""
    import pandas as pd

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in _CSV_SUFFIXES:
        return pd.read_csv(path)
    if suffix in _PARQUET_SUFFIXES:
        _require_pyarrow(path, "Reading")
        return pd.read_parquet(path, engine="pyarrow")
    if suffix in (".pkl", ".pickle"):
        if not allow_pickle:
            raise ValueError(
                f"{path} is a pickle file: reading it runs arbitrary code from the file, so it "
                "is refused. Use a .csv or .parquet file, or pass --trust-pickle if you trust "
                "whoever wrote it."
            )
        table = pd.read_pickle(path)
        if not isinstance(table, pd.DataFrame):
            raise ValueError(f"{path} holds a {type(table).__name__}, not a pandas DataFrame.")
        return table
    raise ValueError(f"Cannot read {path}: use a .csv or .parquet file.")


def _add_model_arguments(parser):
    parser.add_argument(
        "--model",
        required=True,
        help="fitted model saved with channeldecomp.save (a .skops file)",
    )
    parser.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="TYPE",
        help="also trust this type in the model file (a qualified name, as the error listing "
        "untrusted types prints it); repeat for several",
    )
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="accept a pickle/joblib model file (and, for report, a pickled DataFrame as "
        "--data). Loading a pickle runs arbitrary code from the file: use only for files from "
        "someone you trust",
    )


def _load_model(args):
    """Load ``--model``: a skops file through channeldecomp.load, a pickle only if trusted."""
    from .io import is_model_file, load

    path = Path(args.model)
    if not path.is_file():
        raise FileNotFoundError(f"--model {path}: no such file.")
    if is_model_file(path):
        return load(path, trusted=args.trust or None)
    if not args.trust_pickle:
        raise ValueError(
            f"--model {path} is not a skops model file (written by channeldecomp.save); a "
            "pickle or joblib file is refused because loading a pickle runs arbitrary code "
            "from the file. Pass --trust-pickle only if you trust whoever wrote it, or load "
            "it once in Python and save it with channeldecomp.save(model, 'model.skops')."
        )
    import joblib

    logger.warning("loading %s with pickle (--trust-pickle)", path)
    return joblib.load(path)


def _parse_named_path(text):
    name, separator, path = text.partition("=")
    if not separator or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH; got {text!r}")
    return name, path


def _add_demo(subparsers):
    parser = subparsers.add_parser(
        "demo",
        help="simulate a detector, train, print the decomposition table",
        description="Simulate a CMS-like detector with injected subsystem faults, compute "
        "per-lumisection features, train a ChannelDecompositionClassifier on the global label, "
        "and print how well each channel score finds the faults visible in its channel, next to "
        "the random-partition control and the channel x subsystem AUC matrix.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small and fast (about a minute instead of 5)"
    )
    parser.add_argument(
        "--output",
        metavar="DIR",
        help="write the figures, per-channel golden JSON files and an HTML report to DIR",
    )
    parser.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    parser.add_argument(
        "--input",
        choices=["objects", "histograms"],
        default="objects",
        help="features of the physics objects (one channel per object type, the default) or "
        "of the monitoring-element histograms (one channel per subsystem)",
    )
    parser.set_defaults(handler=_run_demo)


def _run_demo(args):
    from ._demo import run_demo

    run_demo(
        quick=args.quick,
        output=args.output,
        random_state=args.random_state,
        log=print,
        input=args.input,
    )
    return 0


def _add_report(subparsers):
    parser = subparsers.add_parser(
        "report",
        help="write a self-contained HTML report for a fitted model on a dataset",
        description=(
            "Load a fitted model (.skops), score a table of lumisections and write one HTML file "
            "with the channel metrics, figures, certification and triage. The table has one row "
            "per lumisection: the model's feature columns plus the label (and run/lumi) columns."
        ),
    )
    _add_model_arguments(parser)
    parser.add_argument(
        "--data",
        required=True,
        help="table of lumisections (.csv/.parquet; a pickled DataFrame with --trust-pickle)",
    )
    parser.add_argument("--output", "-o", default="report.html", help="HTML file to write")
    labels = parser.add_mutually_exclusive_group(required=True)
    labels.add_argument("--label-column", help="column of the global label (1 = good)")
    labels.add_argument(
        "--golden", help="golden JSON: certified (run, lumi) are good, all others bad"
    )
    parser.add_argument("--run-column", default="run", help="run number column (default: run)")
    parser.add_argument("--lumi-column", default="lumi", help="lumisection column (default: lumi)")
    parser.add_argument("--weight-column", help="column of sample weights (e.g. luminosity)")
    parser.add_argument(
        "--abnormal",
        action="append",
        type=_parse_named_path,
        default=[],
        metavar="SUBSYSTEM=PATH",
        help="list of lumisections bad in a subsystem ('run lumi' lines or golden JSON); repeat",
    )
    parser.add_argument(
        "--truth-prefix",
        help="columns '<prefix><channel>' hold known per-channel truth (1 = nothing visible)",
    )
    parser.add_argument("--good-label", default="1", help="label value meaning good (default 1)")
    parser.add_argument("--false-alarm-rate", type=float, default=0.01)
    parser.add_argument("--max-pollution", type=float, default=0.004)
    parser.add_argument("--max-loss", type=float, default=0.006)
    parser.add_argument("--golden-directory", help="also write one golden JSON per channel here")
    parser.add_argument("--title", default="Channel decomposition report")
    parser.add_argument(
        "--reliability",
        action="store_true",
        help="also measure each channel's reliability from the global label (refits the model "
        "2 x --reliability-cv times on this data, folds by run; slow) and warn about "
        "unreliable channels; pass the training data for a model's own reliability",
    )
    parser.add_argument("--reliability-cv", type=int, default=3, help="folds (default 3)")
    parser.set_defaults(handler=_run_report)


def _run_report(args):
    from . import certification
    from .report import channel_report

    model = _load_model(args)
    table = _read_table(args.data, allow_pickle=args.trust_pickle)
    used = []
    keys = None
    if args.run_column in table.columns and args.lumi_column in table.columns:
        keys = table[[args.run_column, args.lumi_column]].set_axis(["run", "lumi"], axis=1)
        used += [args.run_column, args.lumi_column]
    if args.label_column is not None:
        if args.label_column not in table.columns:
            raise ValueError(
                f"--label-column {args.label_column!r} is not a column of {args.data}; columns "
                f"are {list(table.columns)[:10]}..."
            )
        y = table[args.label_column].to_numpy()
        used.append(args.label_column)
        good_label = _coerce_label(args.good_label, y)
    else:
        if keys is None:
            raise ValueError(
                f"--golden needs the run and lumi of each row: {args.data} has no columns "
                f"{args.run_column!r} and {args.lumi_column!r} (see --run-column/--lumi-column)."
            )
        y = certification.golden_json_labels(keys, args.golden).to_numpy()
        good_label = 1
    sample_weight = None
    if args.weight_column is not None:
        if args.weight_column not in table.columns:
            raise ValueError(f"--weight-column {args.weight_column!r} is not a column of the data.")
        sample_weight = table[args.weight_column].to_numpy(dtype=float)
        used.append(args.weight_column)
    channel_truth = None
    if args.truth_prefix:
        truth_columns = [c for c in table.columns if str(c).startswith(args.truth_prefix)]
        if not truth_columns:
            raise ValueError(f"No column starts with --truth-prefix {args.truth_prefix!r}.")
        channel_truth = table[truth_columns].rename(
            columns=lambda c: str(c)[len(args.truth_prefix) :]
        )
        used += truth_columns
    subsystem_labels = None
    if args.abnormal:
        if keys is None:
            raise ValueError("--abnormal needs the run and lumi columns of the data.")
        subsystem_labels = certification.subsystem_labels_from_lists(keys, dict(args.abnormal))
    if args.golden_directory is not None and keys is None:
        raise ValueError(
            f"--golden-directory needs the run and lumi of each row: {args.data} has no columns "
            f"{args.run_column!r} and {args.lumi_column!r} (see --run-column/--lumi-column)."
        )
    X = table.drop(columns=used)
    reliability = None
    if args.reliability:
        from .model_selection import channel_reliability, reliability_warnings

        reliability = channel_reliability(
            model, X, y, groups=None if keys is None else keys["run"].to_numpy(),
            cv=args.reliability_cv, good_label=good_label, sample_weight=sample_weight,
            random_state=0,
        )  # fmt: skip
        sys.stderr.write(f"{reliability.round(3).to_string()}\n")
        for line in reliability_warnings(reliability):
            sys.stderr.write(f"WARNING: {line}\n")
    report = channel_report(
        model,
        X,
        y,
        keys=keys,
        subsystem_labels=subsystem_labels,
        channel_truth=channel_truth,
        sample_weight=sample_weight,
        good_label=good_label,
        false_alarm_rate=args.false_alarm_rate,
        max_pollution=args.max_pollution,
        max_loss=args.max_loss,
        title=args.title,
        reliability=reliability,
    )
    if args.golden_directory is not None:
        for name, golden in certification.write_channel_golden_jsons(
            report.certified, args.golden_directory
        ).items():
            logger.info("wrote the golden JSON of %s: %s", name, golden)
    path = Path(args.output)
    path.write_text(report.to_html(), encoding="utf-8")
    logger.info("wrote %s", path)
    sys.stdout.write(f"{path}\n")
    return 0


#: Inputs with more rows than this get a progress bar unless --no-progress.
PROGRESS_MIN_ROWS = 100_000


def _add_score(subparsers):
    parser = subparsers.add_parser(
        "score",
        help="score new lumisections with a saved model: P(good) and one score per channel",
        description=(
            "Load a fitted model (.skops) and score a table of lumisections (.csv or .parquet, "
            "one row per lumisection: the run and lumi columns and the model's feature "
            "columns). Writes a table (.csv or .parquet, by the extension of --output) with "
            "run, lumi, p_good (the model's probability of good; global_score, higher = more "
            "normal, for a detector without predict_proba), one column per channel (channel "
            "score, 1 = the channel looks good), with --blame the blamed channel and the "
            "share of an ensemble's networks that blame it, and, when the model carries "
            "thresholds (set "
            "with channeldecomp.certification.set_channel_thresholds before saving), "
            "certified_<channel> per channel (score at or above its threshold) and "
            "certified_all (every channel certified). The output is written whole or not at "
            "all."
        ),
    )
    _add_model_arguments(parser)
    parser.add_argument("--data", required=True, help="lumisections to score (.csv/.parquet)")
    parser.add_argument(
        "--output", "-o", required=True, help="table of scores to write (.csv/.parquet)"
    )
    parser.add_argument("--run-column", default="run", help="run number column (default: run)")
    parser.add_argument("--lumi-column", default="lumi", help="lumisection column (default: lumi)")
    parser.add_argument(
        "--no-keys",
        action="store_true",
        help="the data has no run/lumi columns: write the scores without them, one row per "
        "input row in the same order",
    )
    parser.add_argument(
        "--ignore-extra-columns",
        action="store_true",
        help="leave out columns the model was not fitted on (default: such columns are an "
        "error, since they usually mean the wrong file or model)",
    )
    parser.add_argument(
        "--good-label",
        help="class label meaning good, for P(good) (default: the model's good_label, else 1)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=10_000,
        help="lumisections scored at once (default 10000)",
    )
    parser.add_argument(
        "--blame",
        action="store_true",
        help="also write blamed (the channel with the lowest score, where a bad lumisection's "
        "anomaly is seen) and blame_agreement (the share of an ensemble's networks that blame "
        "it too; 1 for one network): read them on the lumisections you find bad",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"progress bar on stderr (default: shown above {PROGRESS_MIN_ROWS} rows)",
    )
    parser.set_defaults(handler=_run_score)


def _table_format(path, role):
    suffix = Path(path).suffix.lower()
    if suffix in _CSV_SUFFIXES:
        return "csv"
    if suffix in _PARQUET_SUFFIXES:
        return "parquet"
    raise ValueError(f"{role} {path}: use a .csv or .parquet file.")


def _feature_columns(table, model, keys, data, ignore_extra):
    """The columns the model takes, in its order, after checking names, types and values."""
    import numpy as np
    import pandas as pd

    expected = getattr(model, "feature_names_in_", None)
    candidates = [column for column in table.columns if column not in keys]
    if expected is None:
        n_features = getattr(model, "n_features_in_", None)
        if n_features is not None and len(candidates) != n_features:
            raise ValueError(
                f"The model was fitted on {n_features} unnamed columns but {data} has "
                f"{len(candidates)} feature columns besides the keys: "
                f"{_describe(map(str, candidates), 10)}."
            )
        features = candidates
    else:
        features = [str(name) for name in expected]
        missing = [name for name in features if name not in table.columns]
        extra = [name for name in candidates if name not in set(features)]
        if missing or (extra and not ignore_extra):
            problems = []
            if missing:
                problems.append(f"missing column(s) {_describe(map(str, missing), 10)}")
            if extra and not ignore_extra:
                problems.append(
                    "column(s) the model was not fitted on "
                    f"{_describe(map(str, extra), 10)} (leave them out with --ignore-extra-columns)"
                )
            raise ValueError(
                f"{data} does not have the model's feature columns: {'; '.join(problems)}."
            )
    not_numeric = [c for c in features if not pd.api.types.is_numeric_dtype(table[c])]
    if not_numeric:
        shown = _describe(map(str, not_numeric), 10)
        raise ValueError(f"Non-numeric feature column(s) in {data}: {shown}.")
    values = table[features].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        counts = bad.sum(axis=0)
        columns = [f"{features[i]!r} ({counts[i]} rows)" for i in np.flatnonzero(counts)]
        raise ValueError(
            f"NaN or infinite values in {data}, column(s) {', '.join(columns[:10])}"
            f"{' ...' if len(columns) > 10 else ''}. Impute or drop those rows first."
        )
    return features


def _good_column(final, good_label):
    """Index of the good class in ``final.classes_``."""
    classes = list(final.classes_)
    if good_label is None:
        index = getattr(final, "good_class_index_", None)
        if index is not None:
            return int(index)
        good_label = "1"
    import numpy as np

    return classes.index(_coerce_label(good_label, np.asarray(classes)))


def _score_batches(model, features, good_label, batch_size, progress, blame=False):
    """P(good) (or the global score), the channel scores and (``blame``) the frame of
    ``get_channel_blame`` (else None), batch by batch."""
    import numpy as np
    import pandas as pd

    from .base import get_channel_blame

    steps = getattr(model, "steps", None)
    final = model[-1] if steps else model
    preprocessing = model[:-1] if steps else None
    if not hasattr(final, "predict_channel_scores"):
        raise TypeError(
            f"{type(final).__name__} has no predict_channel_scores: score needs a channel "
            "model (e.g. ChannelDecompositionClassifier), or a Pipeline ending in one."
        )
    has_proba = hasattr(final, "predict_proba") and hasattr(final, "classes_")
    global_name = "p_good" if has_proba else "global_score"
    channels = [str(channel) for channel in final.channel_names_]
    others = ("run", "lumi", global_name, *(("blamed", "blame_agreement") if blame else ()))
    clashes = [channel for channel in channels if channel in others]
    if clashes:
        raise ValueError(f"Channel name(s) {clashes} clash with the output's other columns.")
    good = _good_column(final, good_label) if has_proba else None
    global_scores, channel_scores, blames = [], [], []
    for start in range(0, len(features), batch_size):
        batch = features.iloc[start : start + batch_size]
        X = preprocessing.transform(batch) if preprocessing is not None else batch
        scores = final.predict_channel_scores(X)
        values = np.asarray(scores.to_numpy() if isinstance(scores, pd.DataFrame) else scores)
        channel_scores.append(values)
        if blame:
            blames.append(get_channel_blame(final, X).reset_index(drop=True))
        if has_proba:
            global_scores.append(final.predict_proba(X)[:, good])
        else:
            global_scores.append(final.score_samples(X))
        progress.update(len(batch))
    return (
        global_name,
        np.concatenate(global_scores),
        pd.DataFrame(np.concatenate(channel_scores), columns=channels),
        getattr(final, "channel_thresholds_", None),
        pd.concat(blames, ignore_index=True) if blame else None,
    )


def _write_table(table, path, table_format):
    if table_format == "parquet":
        table.to_parquet(path, engine="pyarrow", index=False)
    else:
        table.to_csv(path, index=False)


def _check_score_arguments(args):
    """Fail before any work on what can be checked up front; return the output's format."""
    _table_format(args.data, "--data")
    output_format = _table_format(args.output, "--output")
    if output_format == "parquet":
        _require_pyarrow(args.output, "Writing")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be a positive integer; got {args.batch_size}.")
    if not Path(args.data).is_file():
        raise FileNotFoundError(f"--data {args.data}: no such file.")
    if Path(args.output).resolve() == Path(args.data).resolve():
        raise ValueError(f"--output {args.output} is the input file; write the scores elsewhere.")
    if not Path(args.output).resolve().parent.is_dir():
        raise FileNotFoundError(
            f"--output {args.output}: the folder {Path(args.output).parent} does not exist."
        )
    return output_format


def _key_columns(table, args):
    keys = [] if args.no_keys else [args.run_column, args.lumi_column]
    missing = [column for column in keys if column not in table.columns]
    if missing:
        raise ValueError(
            f"{args.data} has no key column(s) {missing} (see --run-column/--lumi-column), "
            "or pass --no-keys to score rows without run and lumi."
        )
    for column in keys:
        if table[column].isna().any():
            raise ValueError(f"Key column {column!r} of {args.data} has missing values.")
    return keys


def _run_score(args):
    import numpy as np
    import pandas as pd
    from tqdm import tqdm

    from . import certification
    from ._files import atomic_path

    output_format = _check_score_arguments(args)
    model = _load_model(args)
    table = _read_table(args.data, allow_pickle=False)
    if len(table) == 0:
        raise ValueError(f"{args.data} has no rows: nothing to score.")
    keys = _key_columns(table, args)
    features = _feature_columns(table, model, keys, args.data, args.ignore_extra_columns)

    show = args.progress if args.progress is not None else len(table) > PROGRESS_MIN_ROWS
    with tqdm(
        total=len(table), desc="scoring", unit="LS", file=sys.stderr, disable=not show
    ) as progress:
        global_name, global_scores, channel_scores, thresholds, blame = _score_batches(
            model, table[features], args.good_label, args.batch_size, progress, args.blame
        )

    output = pd.DataFrame(index=pd.RangeIndex(len(table)))
    if not args.no_keys:
        output["run"] = table[args.run_column].to_numpy()
        output["lumi"] = table[args.lumi_column].to_numpy()
    output[global_name] = global_scores
    output = pd.concat([output, channel_scores], axis=1)
    if blame is not None:
        output["blamed"] = blame["channel"].astype(str).to_numpy()
        output["blame_agreement"] = blame["agreement"].to_numpy()
    if thresholds is not None:
        # The decision needs no keys: rows are numbered, the output keeps their order.
        row_keys = np.column_stack([np.zeros(len(table), dtype=np.int64), np.arange(len(table))])
        certified = certification.certify_channels(channel_scores, thresholds, keys=row_keys)
        for column in certified.columns:
            name = "certified_all" if column == "global" else f"certified_{column}"
            output[name] = certified[column].to_numpy()

    with atomic_path(args.output) as temporary:
        _write_table(output, temporary, output_format)
    logger.info("scored %d lumisections: %s", len(output), args.output)
    sys.stdout.write(f"{args.output}\n")
    return 0


def _coerce_label(text, y):
    """Interpret ``--good-label`` with the dtype of the label column."""
    import numpy as np

    values = np.unique(y)
    for value in values:
        if str(value) == text or (
            np.issubdtype(values.dtype, np.number) and _same_number(value, text)
        ):
            return value.item() if hasattr(value, "item") else value
    raise ValueError(f"--good-label {text!r} is not a value of the label column ({values[:5]}).")


def _same_number(value, text):
    try:
        return float(value) == float(text)
    except ValueError:
        return False


def _parse_collection(text):
    name, separator, collection = text.partition("=")
    if not separator:
        name = collection = text  # "Muon": channel and collection named alike
    if not name or not collection:
        raise argparse.ArgumentTypeError(f"expected CHANNEL=COLLECTION; got {text!r}")
    return name, collection


def _add_features(subparsers):
    parser = subparsers.add_parser(
        "features",
        help="per-lumisection features of NanoAOD files, on Dask, to Parquet",
        description="Read NanoAOD files (TTree or RNTuple) in chunks on a Dask cluster, compute "
        "the LumiSectionPercentiles features of every lumisection (exactly as in one process, "
        "whatever the split of lumisections over files) and write them to a Parquet table with "
        "its metadata. Needs the hep and dask extras.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="ROOT files or wildcards")
    parser.add_argument(
        "--collections",
        nargs="+",
        required=True,
        type=_parse_collection,
        metavar="CHANNEL=COLLECTION",
        help="channels and their NanoAOD collections, e.g. muons=Muon photons=Photon jets=Jet",
    )
    parser.add_argument(
        "--event-columns", nargs="+", default=None, metavar="BRANCH", help="per-event branches"
    )
    parser.add_argument(
        "--properties",
        nargs="+",
        default=None,
        metavar="PROPERTY",
        help="object properties to read (default: pt, eta, phi, mass where present)",
    )
    parser.add_argument("--tree", default="Events", help="TTree or RNTuple name (default Events)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workers", type=int, metavar="N", help="start a local cluster of N worker processes"
    )
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="join a running cluster, e.g. tcp://10.0.0.5:8786 (started with `dask scheduler`)",
    )
    parser.add_argument(
        "--chunk-size", type=int, default=100_000, help="entries per task (default 100000)"
    )
    parser.add_argument(
        "--skip-bad-files",
        action="store_true",
        help="skip unreadable files (listed in the metadata) instead of stopping",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar on standard error"
    )
    parser.add_argument("-o", "--output", required=True, help="Parquet file to write")
    parser.set_defaults(handler=_run_features)


def _progress_bar(stream, width=30):
    """A ``progress(stage, done, total)`` callback drawing a text bar on ``stream``."""

    def progress(stage, done, total):
        filled = int(width * done / max(total, 1))
        bar = "#" * filled + "." * (width - filled)
        stream.write(f"\r{stage:>8} [{bar}] {done}/{total} tasks")
        if done == total:
            stream.write("\n")
        stream.flush()

    return progress


def _run_features(args):
    import contextlib

    from .features import extract_features, extraction_cluster

    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1; got {args.workers}.")
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            "channeldecomp features needs dask.distributed: pip install 'channeldecomp[dask]'."
        ) from exc
    with contextlib.ExitStack() as stack:
        if args.scheduler is not None:
            client = stack.enter_context(distributed.Client(args.scheduler))
        else:
            # one thread per worker, the profiler off, glibc's malloc thresholds kept
            cluster = stack.enter_context(extraction_cluster(args.workers or 1))
            client = stack.enter_context(distributed.Client(cluster))
        n_workers = len(client.scheduler_info().get("workers", {}))
        sys.stderr.write(
            f"channeldecomp features: {n_workers} worker(s) at {client.scheduler.address}\n"
        )
        table = extract_features(
            args.files,
            dict(args.collections),
            properties=args.properties,
            event_columns=args.event_columns,
            tree=args.tree,
            client=client,
            output=args.output,
            chunk_size=args.chunk_size,
            skip_bad_files=args.skip_bad_files,
            progress=None if args.no_progress else _progress_bar(sys.stderr),
        )
    metadata = table.attrs["channeldecomp"]
    seconds = metadata["seconds"]
    skipped = metadata["skipped_files"]
    summary = f"files {len(metadata['files'])}"
    if skipped:
        summary += f" (skipped {len(skipped)}: {', '.join(s['path'] for s in skipped)})"
    print(
        f"{summary}, events {metadata['n_events']:,}, lumisections "
        f"{metadata['n_lumisections']:,}, seconds {seconds:.1f}, events/s "
        f"{metadata['n_events'] / max(seconds, 1e-9):,.0f}"
    )
    print(f"wrote {args.output}")
    return 0


#: Functions adding one subcommand each (see the module docstring).
COMMANDS = [_add_demo, _add_report, _add_score, _add_features]


def build_parser():
    """Return the argument parser of the ``channeldecomp`` command.

    Returns
    -------
    parser : argparse.ArgumentParser
        With one subcommand per entry of :data:`COMMANDS`.

    Examples
    --------
    >>> "report" in build_parser().format_help()
    True
    """
    parser = argparse.ArgumentParser(
        prog="channeldecomp",
        description="Which channel made a lumisection bad: channel decomposition tools.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for add_command in COMMANDS:
        add_command(subparsers)
    return parser


def main(argv=None):
    """Run the ``channeldecomp`` command line.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    status : int
        Exit status: 0 on success, 2 on a usage or input error.

    Examples
    --------
    >>> main([])  # no command: the help goes to stderr
    2
    >>> build_parser().parse_args(["report", "--model", "m.skops", "--data", "ls.csv",
    ...                            "--label-column", "good"]).command
    'report'
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        return int(args.handler(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as exc:
        sys.stderr.write(f"channeldecomp {args.command}: error: {exc}\n")
        return 2
