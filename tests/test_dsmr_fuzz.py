"""Fuzzing the DSMR codec (issue 18), bounded and derandomized so that it is never flaky.

Real telegrams are corrupted (bytes changed, dropped, repeated) and fed whole or in pieces. The
properties: nothing but the library's own errors escapes; every telegram accepted checks on its
own (its CRC, where its version or the stream requires one); chunking does not change the result;
and no total is ever a partial sum of its registers.
"""

from __future__ import annotations

import re

from conftest import TESTDATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daisee_lab.dsmr import DsmrDecoder, DsmrError, crc16_arc, decrypt_telegram, parse_telegram

DSMR = TESTDATA / "dsmr"
WITH_CRC = sorted(p.name for p in DSMR.glob("*.txt") if "nocrc" not in p.name)
NO_CRC = sorted(p.name for p in DSMR.glob("*.txt") if "nocrc" in p.name)
SMARTY_KEY = bytes.fromhex("D491470F47126332B07D1923B3504188")
FUZZ = settings(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
TARIFF = re.compile(r"1-([01]):([12])\.8\.([0-9]|[1-9][0-9])")


def raw(name: str) -> bytes:
    return (DSMR / name).read_bytes()


def smarty_frame() -> bytes:
    text = (DSMR / "smarty_lux_encrypted_key_D491470F.hex").read_text()
    return bytes.fromhex(text.replace("\n", ""))


edits = st.lists(st.tuples(st.sampled_from(["set", "drop", "repeat"]), st.integers(0, 10**6),
                           st.integers(0, 255)), min_size=1, max_size=4)


def corrupt(data: bytes, changes) -> bytes:
    out = bytearray(data)
    for kind, where, byte in changes:
        at = where % len(out)
        if kind == "set":
            out[at] = byte
        elif kind == "drop":
            del out[at]
        else:
            out[at:at] = out[at:at + 1]
    return bytes(out)


def feed(decoder: DsmrDecoder, stream: bytes, sizes: list[int]):
    got, at = [], 0
    for size in sizes + [len(stream)]:
        got += decoder.feed_raw(stream[at:at + size])
        at += size
    return got


def assert_checks_on_its_own(telegram, data: bytes, crc_required: bool) -> None:
    """A telegram the decoder accepted, judged from its bytes alone."""
    assert parse_telegram(data, require_crc=crc_required) == telegram
    text = data.strip()
    if telegram.crc is not None:
        assert crc16_arc(text[:text.index(b"!") + 1]) == telegram.crc
    if telegram.version not in ("2.2",):  # 4+, 4.2, 5.0...: DSMR 4 or later carries its CRC
        assert telegram.crc is not None


def assert_whole_totals(telegram) -> None:
    """import_wh/export_wh, when given, sum every tariff register (both directions have the same
    tariffs) or are the one 8.0 register: never a part of them."""
    reading = telegram.reading()
    for direction, total in (("1", reading.import_wh), ("2", reading.export_wh)):
        if total is None:
            continue
        codes = {(m[1], m[2], int(m[3])): key for key in telegram.values
                 if (m := TARIFF.fullmatch(key))}
        channel = min(ch for ch, way, _ in codes if way == direction)
        numbers = {n for ch, _, n in codes if ch == channel and n >= 1}
        mine = {n: key for (ch, way, n), key in codes.items() if ch == channel and way == direction}
        if set(mine) - {0}:
            assert numbers == set(range(1, max(numbers) + 1)) == set(mine) - {0}
            assert total == sum(reading.registers[mine[n]] for n in numbers)
        else:
            assert total == reading.registers[mine[0]]
        assert not set(telegram.garbled) & set(mine.values())


@FUZZ
@given(st.sampled_from(WITH_CRC + NO_CRC), edits)
def test_a_corrupted_telegram_raises_only_dsmr_errors_and_never_gives_a_partial_total(name,
                                                                                      changes):
    data = corrupt(raw(name), changes)
    try:
        telegram = parse_telegram(data)
    except DsmrError:
        return
    assert_whole_totals(telegram)
    if name in WITH_CRC and telegram.crc is not None:  # the CRC held: the values are the sent ones
        assert telegram.reading().import_wh == parse_telegram(raw(name)).reading().import_wh


@FUZZ
@given(st.sampled_from([WITH_CRC, NO_CRC]).flatmap(lambda files: st.lists(
    st.tuples(st.sampled_from(files), edits | st.just(())), min_size=1, max_size=4)),
    st.lists(st.integers(1, 200), max_size=30))
def test_a_corrupted_stream_gives_telegrams_that_check_alone_whatever_the_chunks(items, sizes):
    stream = b"".join(corrupt(raw(name), changes) if changes else raw(name)
                      for name, changes in items)
    whole, pieces = DsmrDecoder(), DsmrDecoder()
    got = feed(pieces, stream, sizes)
    assert got == whole.feed_raw(stream)
    assert pieces.stats == whole.stats
    crc_seen = False
    for telegram, data in got:
        assert_checks_on_its_own(telegram, data, crc_seen)
        assert_whole_totals(telegram)
        crc_seen |= telegram.crc is not None
    intact = [parse_telegram(raw(name)) for name, changes in items if not changes]
    assert all(t in [g for g, _ in got] for t in intact if t.crc is not None or not crc_seen)


@FUZZ
@given(st.binary(max_size=600), st.lists(st.integers(1, 64), max_size=20))
def test_arbitrary_bytes_never_raise_and_chunks_do_not_matter(data, sizes):
    whole, pieces = DsmrDecoder(max_telegram_bytes=512), DsmrDecoder(max_telegram_bytes=512)
    assert feed(pieces, data, sizes) == whole.feed_raw(data)
    assert whole.stats.bytes_skipped <= len(data)


@settings(deadline=None, derandomize=True, database=None)
@given(edits, st.lists(st.integers(1, 300), max_size=10))
def test_a_corrupted_encrypted_frame_is_rejected_or_checks(changes, sizes):
    frame = smarty_frame()
    bad = corrupt(frame, changes)
    try:
        telegram = decrypt_telegram(bad, SMARTY_KEY)
    except DsmrError:
        telegram = None
    if telegram is not None:
        assert telegram.crc is not None and telegram.reading().import_wh == 6695
    stream = frame + bad + frame
    whole, pieces = DsmrDecoder(key=SMARTY_KEY), DsmrDecoder(key=SMARTY_KEY)
    got = feed(pieces, stream, sizes)
    assert got == whole.feed_raw(stream)
    assert all(t.crc is not None and t.reading().import_wh == 6695 for t, _ in got)
    assert len(got) >= 2
