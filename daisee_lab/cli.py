"""The ``daisee-lab`` command. Thin: it parses arguments and calls the library."""

from __future__ import annotations

import argparse
import signal
import sys
from datetime import UTC, datetime
from itertools import islice

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
    _add_run_command(sub)
    _add_meter_commands(sub)
    _add_classroom_commands(sub)

    book = sub.add_parser("book", help="tools for the book's notebooks")
    book_actions = book.add_subparsers(dest="book_command", metavar="ACTION", required=True)
    student = book_actions.add_parser("student", help="write the learners' edition: the "
                                      "chapters without the exercises' solutions")
    student.add_argument("--book", default="book", help="the chapters' folder (default book)")
    student.add_argument("--out", default="student", help="where to write (default student)")
    student.set_defaults(func=_book_student)
    return parser


def _book_student(args: argparse.Namespace) -> int:
    from daisee_lab.book import student_edition

    for path in student_edition(args.book, args.out):
        print(path)
    return 0


def _add_run_command(sub: argparse._SubParsersAction) -> None:
    """``run``: the main job, a community day from the meters' bytes to on-chain settlement."""
    run = sub.add_parser("run", help="simulate and read a community's meters for a day, settle "
                         "it with the kernel and on chain, and write a report",
                         description="A community day from its meters' bytes to on-chain "
                         "settlement; each stage's time is printed as it ends, then the bills "
                         "and where the report is.")
    run.add_argument("--households", type=int, metavar="N", help="1 to 50 (default 8)")
    run.add_argument("--date", metavar="YYYY-MM-DD", help="the local day (default 2026-06-21; "
                     "with --method auction, tomorrow)")
    run.add_argument("--method", help="mmr (default), bill_sharing, sdr or auction")
    run.add_argument("--rpc", metavar="URL", help="a JSON-RPC node, e.g. anvil's (default: "
                     "eth-tester in process)")
    run.add_argument("--out", metavar="DIR", help="the report folder: new, empty or a previous "
                     "report's (default reports/DATE-METHOD)")
    run.add_argument("--seed", type=int, metavar="N", help="0 to 999999 (default 0)")
    run.add_argument("--slots", type=int, metavar="N", help="settle only the day's first N "
                     "slots")
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from daisee_lab.run import RunArgumentError, run_day

    given = {name: getattr(args, name) for name in (
        "households", "date", "method", "rpc", "out", "seed", "slots")}
    try:
        report = run_day(**{name: value for name, value in given.items() if value is not None},
                         echo=lambda text: print(text, flush=True))
    except RunArgumentError as exc:
        print(f"daisee-lab run: error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0


def _toolchain(args: argparse.Namespace) -> int:
    from daisee_lab.chain.demo import run_toolchain_demo

    run_toolchain_demo()
    return 0


def _add_meter_commands(sub: argparse._SubParsersAction) -> None:
    """``meter read``, ``meter simulate`` and ``meter record``."""
    meter = sub.add_parser("meter", help="read, simulate or record a Linky (TIC) or DSMR meter")
    actions = meter.add_subparsers(dest="meter_command", metavar="ACTION", required=True)

    read = actions.add_parser("read", help="print one line per reading from a port or URL")
    record = actions.add_parser("record", help="store every reading in a SQLite database")
    record.add_argument("--db", required=True, help="the recorder database (created if missing)")
    for parser, func in ((read, _meter_read), (record, _meter_record)):
        parser.add_argument("port", metavar="PORT", help="device path or pyserial URL")
        parser.add_argument("--protocol", default="tic", help="tic (default) or dsmr")
        parser.add_argument("--mode", default="auto",
                            help="auto (default); tic: historic, standard; dsmr: 5, 2.2")
        parser.add_argument("--count", type=_positive_int, help="stop after this many readings")
        parser.add_argument("--reconnect-timeout", type=float, default=60.0,
                            help="seconds to wait for a vanished port to come back (default 60)")
        parser.set_defaults(func=func)

    simulate = actions.add_parser(
        "simulate", help="stream a simulated Linky on a pseudo-terminal; prints its path")
    simulate.add_argument("--mode", default="standard", help="standard (default) or historic")
    simulate.add_argument("--phases", type=int, default=1, help="1 (default) or 3")
    simulate.add_argument("--producer", action="store_true", help="with 3 kWp of PV")
    simulate.add_argument("--tariff", default="base", help="base (default) or hchp")
    simulate.add_argument("--seed", type=int, default=0)
    simulate.add_argument("--speed", type=float, default=1.0,
                          help="times real time, for both the bytes and the clock (default 1)")
    simulate.add_argument("--start", type=datetime.fromisoformat,
                          help="simulated start, ISO 8601 with offset (default: now)")
    simulate.add_argument("--link", help="also make this symlink to the pty: a stable path")
    for fault in ("bit-flip", "drop", "eot"):
        simulate.add_argument(f"--{fault}", type=float, default=0.0,
                              help=f"{fault} fault rate (per byte; eot: per frame)")
    simulate.add_argument("--duration", type=float, help="seconds to run (default: until Ctrl-C)")
    simulate.set_defaults(func=_meter_simulate)


def _add_classroom_commands(sub: argparse._SubParsersAction) -> None:
    """``classroom serve``, ``classroom join`` and ``classroom stop``."""
    room = sub.add_parser("classroom", help="a live neighbourhood market for a room of learners")
    actions = room.add_subparsers(dest="classroom_command", metavar="ACTION", required=True)
    serve = actions.add_parser("serve", help="start anvil, open the learners' endpoint, run "
                               "the slot clock")
    serve.add_argument("--learners", type=_positive_int, required=True, help="how many seats")
    serve.add_argument("--host", default="127.0.0.1",
                       help="where learners reach the room (default loopback; 0.0.0.0: the "
                       "room's network); the node itself stays on loopback")
    serve.add_argument("--port", type=int, default=8545,
                       help="the learners' endpoint's port (default 8545; 0: any free port)")
    serve.add_argument("--slot-seconds", type=float, default=60.0,
                       help="real seconds per slot, at most (default 60)")
    serve.add_argument("--slots", type=_positive_int,
                       help="slots to trade (default: until stopped)")
    serve.add_argument("--out", default="classroom", help="folder for pages and results")
    serve.add_argument("--credits", type=_positive_int, default=20_000_000,
                       help="credits per learner, µ€ (default 20 €)")
    serve.add_argument("--seed", type=int, default=0, help="seed of the simulated meters")
    serve.add_argument("--qr", action="store_true", help="also draw the room's QR code here")
    serve.set_defaults(func=_classroom_serve)
    join = actions.add_parser("join", help="take a seat and trade automatically")
    join.add_argument("source", metavar="ROOM_OR_SEAT",
                      help="the room's address (with --code), or your kept seat file")
    join.add_argument("--code", help="the one-time join code your instructor gave you")
    join.add_argument("--keep", default="daisee-seat.json",
                      help="where a new seat (your key) is kept (default daisee-seat.json)")
    join.add_argument("--meter", help="a real meter's port (default: a simulated household)")
    join.add_argument("--protocol", default="tic", help="the real meter's: tic (default) or dsmr")
    join.add_argument("--patience", type=float, default=120.0,
                      help="seconds to keep calling a room that stopped answering (default 120)")
    join.set_defaults(func=_classroom_join)
    stop = actions.add_parser("stop", help="stop the classroom serving from a folder")
    stop.add_argument("--out", default="classroom", help="the folder serve writes to")
    stop.set_defaults(func=_classroom_stop)


def _classroom_serve(args: argparse.Namespace) -> int:
    from daisee_lab.classroom import serve

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop cleanly: results, anvil
    serve(args.learners, args.out, host=args.host, port=args.port or None,
          slot_seconds=args.slot_seconds, slots=args.slots, credits=args.credits,
          seed=args.seed, qr=args.qr, echo=lambda text: print(text, flush=True))
    return 0


def _classroom_join(args: argparse.Namespace) -> int:
    from daisee_lab.classroom import attend

    attend(args.source, args.code, args.keep if args.code else None, args.meter,
           args.protocol, echo=lambda text: print(text, flush=True), patience=args.patience)
    return 0


def _classroom_stop(args: argparse.Namespace) -> int:
    from daisee_lab.classroom import stop

    stop(args.out)
    print(f"asked the classroom in {args.out} to stop")
    return 0


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _meter_options(args: argparse.Namespace) -> dict:
    return {"reconnect_timeout": args.reconnect_timeout,
            "on_status": lambda text: print(f"meter: {text}", file=sys.stderr, flush=True)}


def _meter_read(args: argparse.Namespace) -> int:
    from daisee_lab.meter import open_meter, summarize

    with open_meter(args.port, args.protocol, args.mode, **_meter_options(args)) as meter:
        for reading, _raw in islice(meter.readings(), args.count):
            print(summarize(reading), flush=True)
    return 0


def _meter_record(args: argparse.Namespace) -> int:
    from daisee_lab.meter import open_meter, summarize
    from daisee_lab.recorder import Recorder

    with (Recorder(args.db) as recorder,
          open_meter(args.port, args.protocol, args.mode, **_meter_options(args)) as meter):
        for reading, raw in islice(meter.readings(), args.count):
            row = recorder.record(reading, raw)
            print(f"committed row {row}: {summarize(reading)}", flush=True)
    return 0


def _meter_simulate(args: argparse.Namespace) -> int:
    from daisee_lab.meter import MeterSimulator

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop cleanly: remove the link
    faults = {"bit_flip": args.bit_flip, "drop": args.drop, "eot": args.eot}
    with MeterSimulator(args.mode, args.phases, args.producer, args.seed, args.speed, faults,
                        args.start or datetime.now(UTC), tariff=args.tariff,
                        link=args.link) as sim:
        print(sim.port, flush=True)
        print(f"simulating meter {sim.meter_id}: {sim.mode} mode, {sim.line}, x{sim.speed:g}; "
              "Ctrl-C to stop", file=sys.stderr, flush=True)
        sim.wait(args.duration)
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
