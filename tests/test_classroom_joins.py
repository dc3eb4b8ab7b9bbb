"""Seats and join codes without a chain: who may take a seat, and the pages for the room."""

import re
import time

import pytest
from eth_account import Account

from daisee_lab.classroom import ClassroomError
from daisee_lab.classroom.joins import (CODE_ALPHABET, claim, join_code, make_seats, qr_text,
                                        write_pages)

URL = "http://192.0.2.7:8545"


def test_join_codes_use_the_unambiguous_alphabet():
    codes = {join_code() for _ in range(200)}
    assert len(codes) == 200  # 31**8 codes: no repeat in 200
    assert all(re.fullmatch(f"[{CODE_ALPHABET}]{{4}}-[{CODE_ALPHABET}]{{4}}", c) for c in codes)
    assert not set("01OIL") & set(CODE_ALPHABET)


def test_seats_have_names_seeds_and_pv_for_two_in_five():
    seats = make_seats(7, seed=3, code_hours=2)
    assert [s.name for s in seats][:2] == ["learner-001", "learner-002"]
    assert [s.seed for s in seats] == list(range(3000, 3007))
    assert [s.producer for s in seats] == [True, True, False, False, False, True, True]
    assert all(7190 < s.expires - time.time() <= 7200 for s in seats)  # two hours from now
    assert not any(s.joined for s in seats) and len({s.meter.address for s in seats}) == 7


def test_a_code_opens_its_seat_once_and_names_every_refusal():
    seats = make_seats(2, seed=0, code_hours=1)
    me, meter, other = (Account.create().address for _ in range(3))
    seat, address, own = claim(seats, f"  {seats[1].code.lower()} ", me.lower(), meter)
    assert (seat, address, own) == (seats[1], me, meter)  # checksummed, code case-insensitive
    seat.code, seat.address = None, address  # what Classroom.seat_learner does once registered
    refusals = [
        ((seats[1].code or "USED-CODE", other), "unknown or already used join code"),
        (("AAAA-AAAA", other), "unknown or already used join code"),
        ((seats[0].code, "0x1234"), "is not an account address"),
        ((seats[0].code, other, "not-an-address"), "is not an account address"),
        ((seats[0].code, other, other), "the meter needs a key of its own"),
        ((seats[0].code, me), f"{me} already has a seat: make a new key"),
    ]
    for args, reason in refusals:
        with pytest.raises(ClassroomError, match=re.escape(reason)):
            claim(seats, *args)
    seats[0].expires = time.time() - 1
    with pytest.raises(ClassroomError, match="join code of learner-001 has expired"):
        claim(seats, seats[0].code, other)


def test_the_projected_page_has_no_code_and_the_slips_are_private(tmp_path):
    seats = make_seats(3, seed=0, code_hours=1)
    seats[2].code = None  # taken
    write_pages(tmp_path, URL, seats)
    page = (tmp_path / "joins" / "index.html").read_text()
    codes = tmp_path / "joins" / "codes.html"
    assert URL in page and page.count("<svg") == 1
    assert not any(s.code and s.code in page for s in seats)
    slips = codes.read_text()
    assert slips.count("<code>") == 2 and seats[0].code in slips and "learner-003" not in slips
    assert codes.stat().st_mode & 0o777 == 0o600
    assert "▀" in qr_text(URL) or "▄" in qr_text(URL)
