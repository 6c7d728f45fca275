"""The ``channeldecomp`` command line.

Subcommands are registered in :data:`COMMANDS`: each entry is a function that adds its
subparser (and sets ``handler``, the function run with the parsed arguments, returning the exit
status). To add a command, write ``_add_<name>(subparsers)`` and list it there.

Examples
--------
::

    channeldecomp report --model model.joblib --data test.csv --label-column good \\
        --output report.html
    python -m channeldecomp report --help
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ._version import __version__

__all__ = ["main"]

logger = logging.getLogger("channeldecomp")


def _read_table(path):
    """Read a table of lumisections (CSV, Parquet or pickled DataFrame) by file extension."""
    import pandas as pd

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return pd.read_csv(path)
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix in (".pkl", ".pickle"):
        table = pd.read_pickle(path)
        if not isinstance(table, pd.DataFrame):
            raise ValueError(f"{path} holds a {type(table).__name__}, not a pandas DataFrame.")
        return table
    raise ValueError(f"Cannot read {path}: use a .csv, .parquet or .pkl (pandas) file.")


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
        "--quick", action="store_true", help="small and fast (about 30 s instead of 3 minutes)"
    )
    parser.add_argument(
        "--output",
        metavar="DIR",
        help="write the figures, per-channel golden JSON files and an HTML report to DIR",
    )
    parser.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    parser.set_defaults(handler=_run_demo)


def _run_demo(args):
    from ._demo import run_demo

    run_demo(quick=args.quick, output=args.output, random_state=args.random_state, log=print)
    return 0


def _add_report(subparsers):
    parser = subparsers.add_parser(
        "report",
        help="write a self-contained HTML report for a fitted model on a dataset",
        description=(
            "Load a fitted model (joblib), score a table of lumisections and write one HTML file "
            "with the channel metrics, figures, certification and triage. The table has one row "
            "per lumisection: the model's feature columns plus the label (and run/lumi) columns."
        ),
    )
    parser.add_argument("--model", required=True, help="fitted model saved with joblib.dump")
    parser.add_argument("--data", required=True, help="table of lumisections (.csv/.parquet/.pkl)")
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
    parser.set_defaults(handler=_run_report)


def _run_report(args):
    import joblib

    from . import certification
    from ._report import write_report

    model = joblib.load(args.model)
    table = _read_table(args.data)
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
    X = table.drop(columns=used)
    path = write_report(
        model,
        X,
        y,
        args.output,
        keys=keys,
        subsystem_labels=subsystem_labels,
        channel_truth=channel_truth,
        sample_weight=sample_weight,
        good_label=good_label,
        false_alarm_rate=args.false_alarm_rate,
        max_pollution=args.max_pollution,
        max_loss=args.max_loss,
        golden_directory=args.golden_directory,
        title=args.title,
    )
    logger.info("wrote %s", path)
    sys.stdout.write(f"{path}\n")
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


#: Functions adding one subcommand each (see the module docstring).
COMMANDS = [_add_demo, _add_report]


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
    >>> build_parser().parse_args(["report", "--model", "m.joblib", "--data", "ls.csv",
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
    except (ValueError, TypeError, FileNotFoundError) as exc:
        sys.stderr.write(f"channeldecomp {args.command}: error: {exc}\n")
        return 2
