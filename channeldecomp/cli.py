"""The ``channeldecomp`` command line."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _add_demo(subparsers):
    parser = subparsers.add_parser(
        "demo",
        help="simulate data with known channel truth, train, print the decomposition table",
        description="Simulate data with known channel truth, train a "
        "ChannelDecompositionClassifier, print how well each channel score finds the anomalies "
        "visible in its channel.",
    )
    parser.add_argument("--quick", action="store_true", help="small and fast (about 30 s)")
    parser.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    parser.set_defaults(handler=_run_demo)


def _run_demo(args):
    from ._demo import run_demo

    run_demo(quick=args.quick, random_state=args.random_state, log=print)
    return 0


def main(argv=None):
    """Run the ``channeldecomp`` command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="channeldecomp", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_demo(subparsers)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
