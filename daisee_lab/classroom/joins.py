"""How learners take their seats: one-time join codes, the pages the instructor projects and
hands out, and the room's QR code.

Each :class:`Seat` gets a code from :func:`join_code` when the room opens; a learner spends it
once, before it expires (:func:`claim`), with the address of a key it made on its own machine.
:func:`write_pages` writes ``joins/index.html``, to project (the room's address and its QR code,
no secret), and ``joins/codes.html``, to print and cut (one slip per seat, readable by the
instructor only).
"""

from __future__ import annotations

import io
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import segno
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from daisee_lab.classroom.schedule import ClassroomError

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
PRODUCERS = 2  # learners 0, 1 of every 5 have PV: 40 %, as community.make_households
MAX_CODE_HOURS = 24 * 7  # a join code is valid for a week at most


@dataclass
class Seat:
    """A learner's seat: its name, its one-time join `code` (None once used) valid until
    `expires` (unix seconds), its meter (the signing key stays with the instructor's meter
    relay), the simulated household's seed and PV; once joined, the learner's `address` (its key
    never leaves the learner's machine) and the `token` of its door in the guarded endpoint; for
    a learner who brings a real meter, that meter's address and its process's door."""

    name: str
    code: str | None
    expires: float
    meter: LocalAccount
    seed: int
    producer: bool
    address: str | None = None
    token: str | None = None
    own_meter: str | None = None  # a learner's real meter, signing in its own process
    meter_token: str | None = None  # that meter process's door

    @property
    def joined(self) -> bool:
        """True once a learner took the seat."""
        return self.address is not None

    @property
    def meter_address(self) -> str:
        """The address of the meter registered for this seat: the learner's own, or the
        room's simulated one."""
        return self.own_meter or self.meter.address


def join_code() -> str:
    """A fresh join code, ``XXXX-XXXX`` (about 40 bits: guessing one is not an option)."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


def make_seats(learners: int, seed: int, code_hours: float) -> list[Seat]:
    """`learners` new seats, each with a join code valid `code_hours` from now, a meter key,
    its household's seed (from the room's `seed`) and PV for two learners in five."""
    expires = time.time() + code_hours * 3600
    return [Seat(f"learner-{i + 1:03d}", join_code(), expires, Account.create(),
                 seed * 1000 + i, i % 5 < PRODUCERS)
            for i in range(learners)]


def claim(seats: list[Seat], code: str, address: str,
          meter: str | None = None) -> tuple[Seat, str, str | None]:
    """The seat that join `code` opens for a learner at `address` (with its own `meter`, or
    None), and both addresses checksummed; :class:`ClassroomError` saying why if the code is
    unknown, used or expired, an address is not one, or `address` already has a seat. The seat
    is not changed: the caller marks it taken once the chain has registered it."""
    code = code.strip().upper()
    try:
        address = Web3.to_checksum_address(address)
        meter = meter and Web3.to_checksum_address(meter)
    except (ValueError, TypeError):
        raise ClassroomError(f"{address!r} or {meter!r} is not an account address") from None
    if meter == address:
        raise ClassroomError("the meter needs a key of its own, not the account's")
    seat = next((s for s in seats if s.code is not None and s.code == code), None)
    if seat is None:
        raise ClassroomError("unknown or already used join code: ask the instructor")
    if time.time() > seat.expires:
        raise ClassroomError(f"join code of {seat.name} has expired: ask the instructor "
                             "for a new one")
    if any(s.address == address for s in seats):
        raise ClassroomError(f"{address} already has a seat: make a new key to join")
    return seat, address, meter


def lan_address() -> str:
    """This machine's address on its local network (no packet is sent to find it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
            return probe.getsockname()[0]
        except OSError:  # no route at all: the hostname's address, if it has one
            try:
                return socket.gethostbyname(socket.gethostname())
            except OSError:
                return "127.0.0.1"


def qr(url: str) -> segno.QRCode:
    """The QR code of the room's address `url` (no secret in it)."""
    return segno.make(url, error="m")


def qr_text(url: str) -> str:
    """The QR code of `url` drawn in a terminal."""
    out = io.StringIO()
    qr(url).terminal(out=out, compact=True)
    return out.getvalue()


def write_pages(out_dir: Path, url: str, seats: list[Seat]) -> None:
    """``joins/index.html`` in `out_dir`, to project: the room's address `url` and how to
    join, no secret; ``joins/codes.html``, to print and hand out: one slip per seat with its
    code (readable by its owner only)."""
    folder = out_dir / "joins"
    folder.mkdir(exist_ok=True)
    command = f"daisee-lab classroom join {url} --code XXXX-XXXX"
    (folder / "index.html").write_text(
        "<!doctype html><meta charset=utf-8><title>daisee-lab classroom</title>"
        "<style>body{font-family:sans-serif;text-align:center}</style>"
        f"<h1>Join the room</h1>{qr(url).svg_inline(scale=8)}<p><code>{url}</code>"
        f"<p>with the code on your slip: <code>{command}</code>, or in a notebook "
        f"<code>join(\"{url}\", code=\"XXXX-XXXX\")</code>", encoding="utf-8")
    slips = "".join(f"<div><b>{s.name}</b><br><code>{s.code}</code></div>"
                    for s in seats if s.code)
    codes = folder / "codes.html"
    codes.write_text(
        "<!doctype html><meta charset=utf-8><title>join codes: do not project</title>"
        "<style>div{display:inline-block;border:1px dashed;margin:.5em;padding:1em}</style>"
        f"<p>Cut and hand out: each code seats one learner, once. {url}<br>"
        + slips, encoding="utf-8")
    codes.chmod(0o600)
