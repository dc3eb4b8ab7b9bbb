"""The ``daisee-lab`` command's argument types: each converts one argument's text and refuses a
bad value with one line saying what it accepts (argparse shows it and exits 2). The bounds are
the library's own constants, imported only when the sub-command that needs them is parsed."""

from __future__ import annotations

import argparse
import math
import re
import socket
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar

from daisee_lab.units import PARIS

__all__ = ["RATE", "SECONDS_ABOVE_0", "SECONDS_OR_INF", "aes_key", "checked", "existing_folder",
           "file_to_write", "folder_to_write", "host", "is_room_address", "link_to_make", "moment",
           "number", "rpc_url", "run_date", "whole"]

T = TypeVar("T")


def checked(convert: Callable[[str], T], accepted: Callable[[T], object],
            accepts: str) -> Callable[[str], T]:
    """A type for argparse: `convert` the text, keep it if `accepted`, else say `accepts`."""
    def parse(text: str) -> T:
        try:
            value = convert(text)
            fits = accepted(value)
        except (ValueError, ArithmeticError):
            fits = False
        if not fits:
            raise argparse.ArgumentTypeError(f"give {accepts}, not {text!r}")
        return value
    return parse


def whole(low: int, high: int | None = None) -> Callable[[str], int]:
    """A whole number from `low` to `high` (None: no upper bound)."""
    if high is None:
        return checked(int, lambda value: value >= low, f"a whole number, {low} or more")
    return checked(int, lambda value: low <= value <= high,
                   f"a whole number from {low} to {high}")


def number(low: float, high: float, accepts: str) -> Callable[[str], float]:
    """A number from `low` to `high` inclusive; never nan."""
    return checked(float, lambda value: low <= value <= high, accepts)


SECONDS_ABOVE_0 = checked(float, lambda value: 0 < value < math.inf,
                          "a number of seconds above 0")
SECONDS_OR_INF = number(0, math.inf, "a number of seconds, 0 or more (inf: forever)")
RATE = number(0, 1, "a rate from 0 to 1")


def run_date(text: str) -> date:
    """A day for ``run``, one its meters' clocks can show."""
    from daisee_lab.run import FIRST_DAY, LAST_DAY

    return checked(date.fromisoformat,
                   lambda value: len(text) == 10 and FIRST_DAY <= value <= LAST_DAY,
                   f"a day as YYYY-MM-DD, from {FIRST_DAY} to {LAST_DAY}")(text)


def moment(text: str) -> datetime:
    """A simulated Linky's start: aware, within the years its horodate can hold (in Paris)."""
    from daisee_lab.tic import HORODATE_YEARS

    return checked(datetime.fromisoformat,
                   lambda value: value.utcoffset() is not None
                   and value.astimezone(PARIS).year in HORODATE_YEARS,
                   f"an ISO 8601 time with its offset, e.g. 2025-06-21T12:00+02:00, in the "
                   f"years {HORODATE_YEARS.start} to {HORODATE_YEARS.stop - 1}")(text)


def rpc_url(text: str) -> str:
    """A JSON-RPC node's URL."""
    from daisee_lab.chain import is_rpc_url

    if not is_rpc_url(text):
        raise argparse.ArgumentTypeError(
            f"give a JSON-RPC node's URL, such as http://127.0.0.1:8545, not {text!r}")
    return text


def is_room_address(text: str) -> bool:
    """Whether `text` is a room's address (a URL), not a seat file."""
    from daisee_lab.chain import is_rpc_url

    return is_rpc_url(text)


def host(text: str) -> str:
    """A name or address this machine can listen on: it must at least resolve."""
    try:
        if text:
            socket.getaddrinfo(text, None)
            return text
    except (OSError, UnicodeError):
        pass
    raise argparse.ArgumentTypeError(
        f"{text!r} does not resolve: give an address or name of this machine (127.0.0.1, or "
        "0.0.0.0 for the room's network)")


def aes_key(text: str) -> bytes:
    """An AES-128 key; the message does not repeat it (it is a secret)."""
    from daisee_lab.dlms import KEY_HEX_DIGITS

    if not re.fullmatch(f"[0-9A-Fa-f]{{{KEY_HEX_DIGITS}}}", text):
        raise argparse.ArgumentTypeError(
            f"give the key your grid operator sent as {KEY_HEX_DIGITS} hex digits (0-9, "
            f"A-F); got {len(text)} characters")
    return bytes.fromhex(text)


def existing_folder(text: str) -> Path:
    """A folder that exists."""
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"give a folder that exists, not {text!r}")
    return Path(text)


def folder_to_write(text: str) -> Path:
    """A folder, existing or to be made: neither it nor any parent is a file."""
    path = Path(text)
    for place in (path, *path.parents):
        if place.exists():
            if not place.is_dir():
                raise argparse.ArgumentTypeError(
                    f"give a folder (new or existing), not {text!r}: {place} is a file")
            return path
    return path


def file_to_write(text: str) -> Path:
    """A file, existing or to be made, in a folder that exists."""
    path = Path(text)
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(
            f"give a file in an existing folder, not {text!r}: {path.parent} is not a folder")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"give a file, not {text!r}: it is a folder")
    return path


def link_to_make(text: str) -> Path:
    """A symlink's path: new, or an old link (replaced); never a file, which it would replace."""
    path = file_to_write(text)
    if path.exists() and not path.is_symlink():
        raise argparse.ArgumentTypeError(
            f"give a new path or an old link, not {text!r}: it is a file and would be replaced")
    return path
