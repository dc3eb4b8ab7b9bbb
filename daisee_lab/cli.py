"""The ``daisee-lab`` command. Thin: it parses and checks the arguments and calls the library.

Every argument is checked as it is parsed (its type, choices and range, taken from the
library's own constants): a bad one exits 2 with one line naming it and what it accepts,
before anything starts. A failure at run time (a library error, or the system's: a port gone,
a full disk, an address in use, a permission) exits 1 with one line saying what to do; with
``--debug`` its traceback is shown instead. Ctrl-C exits 130. Only the chosen sub-command's
arguments are built, so that ``meter read`` does not wait for the chain's libraries to load.
"""

from __future__ import annotations

import argparse
import errno
import inspect
import re
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice

from daisee_lab import __version__
from daisee_lab.cli_args import (RATE, SECONDS_OR_INF, SECONDS_ABOVE_0, aes_key, checked,
                                 existing_folder, file_to_write, folder_to_write, host,
                                 is_room_address, link_to_make, moment, number, rpc_url, run_date,
                                 whole)
from daisee_lab.errors import DaiseeError, wrapped_errors


# --- the parser -------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, ``PROG: error: MESSAGE``, and exit 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


@dataclass
class _Command:
    """A sub-command: its help, the function adding its arguments, the function running it, and
    an optional check across its arguments (returning an error message, or None)."""

    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    check: Callable[[argparse.Namespace], str | None] = lambda args: None
    description: str | None = None


@dataclass
class _Group:
    """A sub-command with actions of its own (``meter read``, ``classroom serve``...)."""

    help: str
    actions: dict[str, _Command] = field(default_factory=dict)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser of the ``daisee-lab`` command. Given `argv`, only the sub-command it
    names gets its arguments (the others need not import their libraries); else all do."""
    words = [word for word in (argv or []) if not word.startswith("-")][:2]
    parser = _Parser(prog="daisee-lab",
                     description="Local energy markets, from the meter's bytes to on-chain "
                                 "settlement.")
    parser.add_argument("--version", action="version", version=f"daisee-lab {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="on a failure, show its traceback instead of one line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, entry in COMMANDS.items():
        if isinstance(entry, _Command):
            _add_command(sub, name, entry, argv is None or words[:1] == [name])
            continue
        group = sub.add_parser(name, help=entry.help)
        actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)
        for action, command in entry.actions.items():
            _add_command(actions, action, command, argv is None or words == [name, action])
    return parser


def _add_command(sub: argparse._SubParsersAction, name: str, command: _Command,
                 full: bool) -> None:
    parser = sub.add_parser(name, help=command.help, description=command.description)
    if full:
        command.arguments(parser)
    parser.set_defaults(func=command.run, check=command.check, parser=parser)


def _defaults(function: Callable) -> dict:
    """The default values of `function`'s keyword parameters: one definition, the library's."""
    return {name: parameter.default
            for name, parameter in inspect.signature(function).parameters.items()
            if parameter.default is not inspect.Parameter.empty}



# --- toolchain and book -----------------------------------------------------------------------

def _toolchain(args: argparse.Namespace) -> int:
    from daisee_lab.chain.demo import run_toolchain_demo

    run_toolchain_demo()
    return 0


def _book_arguments(student: argparse.ArgumentParser) -> None:
    student.add_argument("--book", type=existing_folder, default="book",
                         help="the chapters' folder (default: %(default)s)")
    student.add_argument("--out", type=folder_to_write, default="student",
                         help="where to write (default: %(default)s)")


def _book_student(args: argparse.Namespace) -> int:
    from daisee_lab.book import student_edition

    for path in student_edition(args.book, args.out):
        print(path)
    return 0


# --- run --------------------------------------------------------------------------------------

def _run_arguments(run: argparse.ArgumentParser) -> None:
    from daisee_lab.run import (CHAIN_METHODS, DEFAULT_DATE, MAX_HOUSEHOLDS, MAX_RUN_SEED,
                                OFF_CHAIN_METHODS, RUN_METHODS, run_day)

    given = _defaults(run_day)
    run.add_argument("--households", type=whole(1, MAX_HOUSEHOLDS), metavar="N",
                     default=given["households"],
                     help=f"1 to {MAX_HOUSEHOLDS} (default: %(default)s)")
    run.add_argument("--date", type=run_date, metavar="YYYY-MM-DD",
                     help=f"the local day (default: {DEFAULT_DATE}; with --method auction, "
                     "tomorrow)")
    run.add_argument("--method", choices=RUN_METHODS, default=given["method"],
                     help=f"how the community prices its energy: on chain, "
                     f"{', '.join(CHAIN_METHODS)}; off chain, as French collective "
                     f"self-consumption (no chain needed), {', '.join(OFF_CHAIN_METHODS)} "
                     "(default: %(default)s)")
    run.add_argument("--rpc", type=rpc_url, metavar="URL",
                     help="a JSON-RPC node, e.g. anvil's, for the on-chain methods (default: "
                     "eth-tester in process)")
    run.add_argument("--out", type=folder_to_write, metavar="DIR",
                     help="the report folder: new, empty or a previous report's (default: "
                     "reports/DATE-METHOD)")
    run.add_argument("--seed", type=whole(0, MAX_RUN_SEED), metavar="N",
                     default=given["seed"], help=f"0 to {MAX_RUN_SEED} (default: %(default)s)")
    run.add_argument("--slots", type=whole(1), metavar="N",
                     help="settle only the day's first N slots (default: all)")


def _run(args: argparse.Namespace) -> int:
    from daisee_lab.run import RunArgumentError, run_day

    try:
        report = run_day(args.households, args.date, args.method, args.rpc, args.out,
                         args.seed, args.slots, echo=lambda text: print(text, flush=True))
    except RunArgumentError as exc:  # found once the day (and its slots) or the node is known
        if args.debug:
            raise
        print(f"daisee-lab run: error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0


# --- meter ------------------------------------------------------------------------------------

def _modes() -> dict[str, tuple[str, ...]]:
    """Each protocol's modes, ``auto`` (detect) first."""
    from daisee_lab.meter import DSMR_LINES, TIC_LINES

    return {"tic": ("auto", *TIC_LINES), "dsmr": ("auto", *DSMR_LINES)}


def _meter_arguments(parser: argparse.ArgumentParser) -> None:
    from daisee_lab.dlms import KEY_HEX_DIGITS
    from daisee_lab.meter import Meter

    modes, given = _modes(), _defaults(Meter)
    parser.add_argument("port", metavar="PORT", help="device path or pyserial URL")
    parser.add_argument("--protocol", choices=tuple(modes), default=given["protocol"],
                        help="tic: a Linky; dsmr: a P1 port (default: %(default)s)")
    parser.add_argument("--mode", choices=tuple(dict.fromkeys(sum(modes.values(), ()))),
                        default=given["mode"],
                        help="; ".join(f"{protocol}: {', '.join(names)}"
                                       for protocol, names in modes.items())
                        + " (default: %(default)s, found by decoding)")
    parser.add_argument("--count", type=whole(1, sys.maxsize),
                        help="stop after this many readings")
    parser.add_argument("--reconnect-timeout", type=SECONDS_OR_INF,
                        default=given["reconnect_timeout"], metavar="SECONDS",
                        help="how long to wait for a vanished port to come back "
                        "(default: %(default)s)")
    parser.add_argument("--key", type=aes_key, metavar="HEX",
                        help=f"the AES-128 key of an encrypted DSMR meter (Luxembourg's Smarty, "
                        f"Austria), {KEY_HEX_DIGITS} hex digits from the grid operator; "
                        "only with --protocol dsmr")


def _record_arguments(record: argparse.ArgumentParser) -> None:
    _meter_arguments(record)
    record.add_argument("--db", type=file_to_write, required=True,
                        help="the recorder database (created once the meter answers)")


def _check_meter(args: argparse.Namespace) -> str | None:
    modes = _modes()[args.protocol]
    if args.mode not in modes:
        return (f"argument --mode: {args.mode!r} is not a {args.protocol} mode: give one of "
                + "; ".join(f"{protocol}: {', '.join(names)}"
                            for protocol, names in _modes().items()))
    if args.key is not None and args.protocol != "dsmr":
        return "argument --key: a key decrypts DSMR telegrams: only with --protocol dsmr"
    return None


def _meter_options(args: argparse.Namespace) -> dict:
    options = {"reconnect_timeout": args.reconnect_timeout,
               "on_status": lambda text: print(f"meter: {text}", file=sys.stderr, flush=True)}
    if args.key is not None:
        options["key"] = args.key
    return options


def _meter_read(args: argparse.Namespace) -> int:
    from daisee_lab.meter import open_meter, summarize

    with open_meter(args.port, args.protocol, args.mode, **_meter_options(args)) as meter:
        for reading, _raw in islice(meter.readings(), args.count):
            print(summarize(reading), flush=True)
    return 0


def _meter_record(args: argparse.Namespace) -> int:
    from daisee_lab.meter import open_meter, summarize
    from daisee_lab.recorder import Recorder, RefusedRow

    # the meter first: a port that does not answer leaves no empty database behind
    with (open_meter(args.port, args.protocol, args.mode, **_meter_options(args)) as meter,
          Recorder(args.db) as recorder):
        for reading, raw in islice(meter.readings(), args.count):
            try:
                row = recorder.record(reading, raw)
            except RefusedRow as exc:  # one bad reading: say so, keep recording
                print(f"meter: skipped a reading: {exc}", file=sys.stderr, flush=True)
                continue
            print(f"committed row {row}: {summarize(reading)}", flush=True)
    return 0


def _simulate_arguments(simulate: argparse.ArgumentParser) -> None:
    from daisee_lab.meter import TIC_LINES
    from daisee_lab.simulator import (MAX_SIMULATOR_SPEED, PRODUCER_PV_PEAK_W, SIMULATOR_PHASES,
                                      SIMULATOR_TARIFFS, MeterSimulator)

    given = _defaults(MeterSimulator)
    simulate.add_argument("--mode", choices=tuple(TIC_LINES), default=given["mode"],
                          help="the Linky's TIC mode (default: %(default)s)")
    simulate.add_argument("--phases", choices=SIMULATOR_PHASES, default=given["phases"],
                          type=checked(int, lambda n: True,
                                       f"one of {', '.join(map(str, SIMULATOR_PHASES))}"),
                          help="the Linky's phases (default: %(default)s)")
    simulate.add_argument("--producer", action="store_true",
                          help=f"with {PRODUCER_PV_PEAK_W / 1000:g} kWp of PV")
    simulate.add_argument("--tariff", choices=SIMULATOR_TARIFFS, default=given["tariff"],
                          help="one price all day, or off-peak hours at night (default: "
                          "%(default)s)")
    simulate.add_argument("--seed", type=whole(0), default=given["seed"],
                          help="same seed, same bytes (default: %(default)s)")
    simulate.add_argument("--speed", type=checked(
                              float, lambda x: 0 < x <= MAX_SIMULATOR_SPEED,
                              f"a number above 0, at most {MAX_SIMULATOR_SPEED}"),
                          default=given["speed"],
                          help="times real time, for both the bytes and the clock, at most "
                          f"{MAX_SIMULATOR_SPEED} (default: %(default)s)")
    simulate.add_argument("--start", type=moment,
                          help="simulated start, ISO 8601 with offset (default: now)")
    simulate.add_argument("--link", type=link_to_make,
                          help="also make this symlink to the pty: a stable path")
    for fault, unit in (("bit-flip", "byte"), ("drop", "byte"), ("eot", "frame")):
        simulate.add_argument(f"--{fault}", type=RATE, default=0.0, metavar="RATE",
                              help=f"{fault} faults per {unit}, 0 to 1 (default: %(default)s)")
    simulate.add_argument("--duration", type=SECONDS_ABOVE_0, metavar="SECONDS",
                          help="how long to run (default: until Ctrl-C)")


def _meter_simulate(args: argparse.Namespace) -> int:
    from daisee_lab.simulator import MeterSimulator

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


# --- classroom --------------------------------------------------------------------------------

def _serve_arguments(serve: argparse.ArgumentParser) -> None:
    from daisee_lab.classroom import Classroom
    from daisee_lab.classroom.instructor import MAX_CREDITS
    from daisee_lab.classroom.schedule import MAX_SLOT_SECONDS, MIN_SLOT_SECONDS
    from daisee_lab.units import MAX_MEMBERS as MAX_LEARNERS  # the auction registers them all

    given = _defaults(Classroom)
    serve.add_argument("--learners", type=whole(1, MAX_LEARNERS), required=True,
                       help=f"how many seats, 1 to {MAX_LEARNERS}")
    serve.add_argument("--host", type=host, default=given["host"],
                       help="where learners reach the room (default: %(default)s, loopback; "
                       "0.0.0.0: the room's network); the node itself stays on loopback")
    serve.add_argument("--port", type=whole(0, 65535), default=given["port"],
                       help="the learners' endpoint's port (default: %(default)s; 0: any free "
                       "port)")
    serve.add_argument("--slot-seconds", default=given["slot_seconds"], metavar="SECONDS",
                       type=number(MIN_SLOT_SECONDS, MAX_SLOT_SECONDS,
                                   f"a number from {MIN_SLOT_SECONDS} to {MAX_SLOT_SECONDS}"),
                       help=f"real seconds per slot at most, {MIN_SLOT_SECONDS} to "
                       f"{MAX_SLOT_SECONDS} (default: %(default)s)")
    serve.add_argument("--slots", type=whole(1), help="slots to trade (default: until stopped)")
    serve.add_argument("--out", type=folder_to_write, default=given["out_dir"],
                       help="folder for pages and results (default: %(default)s)")
    serve.add_argument("--credits", type=whole(1, MAX_CREDITS), default=given["credits"],
                       help="credits per learner, µ€ (default: %(default)s)")
    serve.add_argument("--seed", type=whole(0), default=given["seed"],
                       help="seed of the simulated meters (default: %(default)s)")
    serve.add_argument("--qr", action="store_true", help="also draw the room's QR code here")


def _classroom_serve(args: argparse.Namespace) -> int:
    from daisee_lab.classroom import serve

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop cleanly: results, anvil
    serve(args.learners, args.out, host=args.host, port=args.port or None,
          slot_seconds=args.slot_seconds, slots=args.slots, credits=args.credits,
          seed=args.seed, qr=args.qr, echo=lambda text: print(text, flush=True))
    return 0


def _join_arguments(join: argparse.ArgumentParser) -> None:
    from daisee_lab.classroom import attend
    from daisee_lab.classroom.instructor import CODE_ALPHABET
    from daisee_lab.classroom.learner import PATIENCE

    code = f"[{CODE_ALPHABET}]{{4}}-[{CODE_ALPHABET}]{{4}}"
    join.add_argument("source", metavar="ROOM_OR_SEAT",
                      help="the room's address, http://HOST:PORT (with --code), or your kept "
                      "seat file")
    join.add_argument("--code", type=checked(str.upper, lambda text: re.fullmatch(code, text),
                                             "the join code your instructor gave you, "
                                             "XXXX-XXXX"),
                      help="the one-time join code your instructor gave you")
    join.add_argument("--keep", type=file_to_write, default="daisee-seat.json",
                      help="where a new seat (your key) is kept (default: %(default)s)")
    join.add_argument("--meter", metavar="PORT",
                      help="a real meter's port (default: a simulated household)")
    join.add_argument("--protocol", choices=tuple(_modes()),
                      default=_defaults(attend)["protocol"],
                      help="the real meter's (default: %(default)s)")
    join.add_argument("--patience", type=SECONDS_OR_INF, default=PATIENCE, metavar="SECONDS",
                      help="how long to keep calling a room that stopped answering "
                      "(default: %(default)s)")


def _check_join(args: argparse.Namespace) -> str | None:
    if args.code is None and is_room_address(args.source):
        return ("argument --code: a room's address needs the join code your instructor gave "
                "you (--code XXXX-XXXX); to come back, give your seat file instead")
    if args.code is not None and not is_room_address(args.source):
        return (f"argument ROOM_OR_SEAT: with --code, give the room's address as "
                f"http://HOST:PORT, not {args.source!r}")
    if args.code is not None and args.keep.exists():  # it may hold the key of an earlier seat
        return (f"argument --keep: {str(args.keep)!r} exists: give a new file for the new seat, "
                f"or come back to that seat with `daisee-lab classroom join {args.keep}`")
    return None


def _classroom_join(args: argparse.Namespace) -> int:
    from daisee_lab.classroom import attend

    attend(args.source, args.code, args.keep if args.code else None, args.meter,
           args.protocol, echo=lambda text: print(text, flush=True), patience=args.patience)
    return 0


def _stop_arguments(parser: argparse.ArgumentParser) -> None:
    from daisee_lab.classroom import stop

    parser.add_argument("--out", type=folder_to_write, default=_defaults(stop)["out_dir"],
                        help="the folder serve writes to (default: %(default)s)")


def _classroom_stop(args: argparse.Namespace) -> int:
    from daisee_lab.classroom import stop

    stop(args.out)
    print(f"asked the classroom in {args.out} to stop")
    return 0


COMMANDS: dict[str, _Command | _Group] = {
    "toolchain": _Command("compile the contracts, deploy them on an in-process chain, print a "
                          "gas table", lambda parser: None, _toolchain),
    "run": _Command("simulate and read a community's meters for a day, settle it with the "
                    "kernel and on chain (or off chain, the French way), and write a report",
                    _run_arguments, _run,
                    description="A community day from its meters' bytes to on-chain "
                    "settlement (the acc_* methods, French collective self-consumption, settle "
                    "off chain); each stage's time is printed as it ends, then the bills and "
                    "where the report is."),
    "meter": _Group("read, simulate or record a Linky (TIC) or DSMR meter", {
        "read": _Command("print one line per reading from a port or URL", _meter_arguments,
                         _meter_read, _check_meter),
        "record": _Command("store every reading in a SQLite database", _record_arguments,
                           _meter_record, _check_meter),
        "simulate": _Command("stream a simulated Linky on a pseudo-terminal; prints its path",
                             _simulate_arguments, _meter_simulate),
    }),
    "classroom": _Group("a live neighbourhood market for a room of learners", {
        "serve": _Command("start anvil, open the learners' endpoint, run the slot clock",
                          _serve_arguments, _classroom_serve),
        "join": _Command("take a seat and trade automatically", _join_arguments,
                         _classroom_join, _check_join),
        "stop": _Command("stop the classroom serving from a folder", _stop_arguments,
                         _classroom_stop),
    }),
    "book": _Group("tools for the book's notebooks", {
        "student": _Command("write the learners' edition: the chapters without the exercises' "
                            "solutions", _book_arguments, _book_student),
    }),
}


# --- running ----------------------------------------------------------------------------------

_ADVICE = {
    errno.ENOSPC: "the disk is full: free some space, then run it again",
    errno.EDQUOT: "your disk quota is used up: free some space, then run it again",
    errno.EACCES: "permission denied: give a path you may write to, or change its permissions",
    errno.EPERM: "permission denied: give a path you may write to, or change its permissions",
    errno.EROFS: "a read-only file system: give a path on a writable disk",
    errno.ENOENT: "no such file or folder: check the path",
    errno.ENOTDIR: "a part of the path is a file, not a folder: check the path",
    errno.EISDIR: "it is a folder: give a file",
    errno.EADDRINUSE: "that address is already in use: choose another --port, or stop the "
                      "program using it",
    errno.EADDRNOTAVAIL: "that address is not this machine's: choose another --host",
    errno.ECONNREFUSED: "nothing answers there: check the address and that the node or room "
                        "is running",
    errno.ECONNRESET: "the other end closed the connection: check that it is still running",
    errno.ETIMEDOUT: "no answer in time: check the address and the network",
    errno.EHOSTUNREACH: "that host cannot be reached: check the address and the network",
    errno.ENETUNREACH: "the network cannot be reached: check this machine's connection",
}


def explain_os_error(exc: OSError) -> str:
    """One line saying what the system refused, where, and what to do about it."""
    where = " -> ".join(str(name) for name in (exc.filename, exc.filename2) if name is not None)
    request = getattr(exc, "request", None)  # requests' errors: the URL asked
    where = where or str(getattr(request, "url", None) or "")
    cause = _system_cause(exc)
    if isinstance(cause, socket.gaierror):
        advice = "that host name does not resolve: check it and the network"
    else:
        advice = _ADVICE.get(cause.errno or 0, f"{exc.strerror or exc or type(exc).__name__}")
    line = f"{where}: {advice}" if where else str(advice)
    return " ".join(line.split())


def _system_cause(exc: OSError) -> OSError:
    """The system's refusal under `exc`: the first of the errors it wraps (itself included)
    that is an OSError with an errno; `exc` when there is none."""
    return next((error for error in wrapped_errors(exc)
                 if isinstance(error, OSError) and error.errno is not None), exc)


def _status(exit: SystemExit) -> int:
    """The exit status `exit` stands for, as the interpreter would give it."""
    return exit.code if isinstance(exit.code, int) else int(exit.code is not None)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the sub-command and return the exit status: 2 for a bad argument, 1
    for a failure (one line on stderr; its traceback with ``--debug``), 130 for Ctrl-C."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # a bad argument (2), or --help and --version (0)
        return _status(exc)
    error = args.check(args)
    if error is not None:
        try:
            args.parser.error(error)
        except SystemExit as exc:
            return _status(exc)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except (DaiseeError, OSError) as exc:
        if args.debug:
            raise
        text = str(exc) if isinstance(exc, DaiseeError) else explain_os_error(exc)
        print(f"daisee-lab: error: {' '.join(text.split())}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
