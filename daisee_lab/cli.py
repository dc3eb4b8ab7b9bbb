"""The ``daisee-lab`` command. Thin: it parses arguments and calls the library."""

from __future__ import annotations

import argparse
import sys

from daisee_lab import __version__
from daisee_lab.errors import DaiseeError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``daisee-lab`` command, with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="daisee-lab",
        description="Local energy markets, from the meter's bytes to on-chain settlement.",
    )
    parser.add_argument("--version", action="version", version=f"daisee-lab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    toolchain = sub.add_parser(
        "toolchain",
        help="compile the contracts, deploy them on an in-process chain, print a gas table",
    )
    toolchain.set_defaults(func=_toolchain)
    return parser


def _toolchain(args: argparse.Namespace) -> int:
    from daisee_lab.chain.demo import run_toolchain_demo

    run_toolchain_demo()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the sub-command; library errors become one line on stderr and exit 1."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except DaiseeError as exc:
        print(f"daisee-lab: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
