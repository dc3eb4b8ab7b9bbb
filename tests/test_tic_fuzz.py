"""Fuzzing the TIC stream decoder with every accepted value checked (issue 18): damaged real and
simulated streams, both checksum methods, any chunking. Derandomized and bounded: never flaky."""

from __future__ import annotations

import itertools
from datetime import datetime

from conftest import TESTDATA
from hypothesis import given, settings
from hypothesis import strategies as st

from daisee_lab.reading import Reading
from daisee_lab.simulator import MeterSimulator
from daisee_lab.tic import (
    _INDEX_FAMILIES, PARIS, Frame, TicDecoder, TicError, decode_frames, encode_group,
    group_checksum,
)
from daisee_lab.units import MAX_INDEX_WH

FUZZ = settings(deadline=None, derandomize=True, database=None)
START = datetime(2025, 1, 15, 21, 59, 30, tzinfo=PARIS)  # the off-peak switch at 22:00


def _method_2(stream: bytes) -> bytes:
    """The historic frames of `stream` again, every group under checksum method 2."""
    return b"".join(b"\x02" + b"".join(encode_group(g.label, g.data, "historic", method=2)
                                       for g in frame.groups) + b"\x03"
                    for frame in decode_frames(stream))


_HISTORIC = MeterSimulator("historic", tariff="hchp", seed=1, start=START).render(12)
STREAMS = [
    _HISTORIC, _method_2(_HISTORIC),
    MeterSimulator("standard", producer=True, phases=3, seed=2, start=START).render(8),
    MeterSimulator("historic", seed=3, start=START, frame_seconds=225).render(12),
    (TESTDATA / "tic" / "pyteleinfo_captured_frames.bin").read_bytes(),
    (TESTDATA / "tic" / "std_tri_producer_tempo_openhab_reframed.bin").read_bytes() * 3,
]


@st.composite
def damaged(draw) -> bytes:
    """One stream with bits flipped, bytes dropped, inserted or swapped."""
    stream = bytearray(draw(st.sampled_from(STREAMS)))
    for _ in range(draw(st.integers(0, 12))):
        at = draw(st.integers(0, len(stream) - 1))
        kind = draw(st.sampled_from(["flip", "drop", "insert", "swap"]))
        if kind == "flip":
            stream[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "drop":
            del stream[at]
        elif kind == "insert":
            stream.insert(at, draw(st.sampled_from([2, 3, 4, 9, 10, 13, 32, 48, 57, 0x7F])))
        else:
            other = draw(st.integers(0, len(stream) - 1))
            stream[at], stream[other] = stream[other], stream[at]
    return bytes(stream)


CHUNKS = st.lists(st.integers(1, 300), min_size=1, max_size=8)


def feed_in_chunks(stream: bytes, sizes: list[int]) -> tuple[TicDecoder, list[tuple[int | None,
                                                                                   Frame]]]:
    """Feed `stream` cut into `sizes` (cycled); each frame with the method fixed before it."""
    decoder, out, i = TicDecoder(), [], 0
    for n in itertools.cycle(sizes):
        if i >= len(stream):
            return decoder, out
        method = decoder.method
        out += [(method, frame) for frame in decoder.feed(stream[i:i + n])]
        i += n


def assert_groups_check(method: int | None, frame: Frame) -> None:
    """Every group checks on its own, under one method per frame: the stream's once fixed."""
    methods = {g.method for g in frame.groups}
    assert len(methods) == 1 and (methods == {None}) == (frame.mode == "standard")
    if method is not None and frame.mode == "historic":
        assert methods == {method}
    for g in frame.groups:
        assert g.checksum == group_checksum(g.label, g.data, g.mode, g.horodate, g.method or 1)


def assert_whole_totals(frame: Frame, reading: Reading) -> None:
    """Registers are exactly the frame's in-bound, unflagged indexes; a total is one whole
    tariff option's sum, never a partial one."""
    values, flagged = frame.values, dict(frame.flags)
    for label, wh in reading.registers.items():
        assert int(values[label]) == wh and 0 <= wh <= MAX_INDEX_WH and label not in flagged
    if reading.import_wh is not None:
        whole = [sum(reading.registers[label] for label in family)
                 for family in _INDEX_FAMILIES[frame.mode]
                 if all(label in reading.registers for label in family)]
        partial = [family for family in _INDEX_FAMILIES[frame.mode]
                   if 0 < sum(label in values for label in family) < len(family)]
        assert whole == [reading.import_wh] and not partial
    assert reading.export_wh == reading.registers.get("EAIT")
    assert reading.index_ok == (not frame.flags)
    assert reading.flags == tuple(flagged.values())


def check(stream: bytes, sizes: list[int]) -> None:
    decoder, frames = feed_in_chunks(stream, sizes)
    for method, frame in frames:
        assert_groups_check(method, frame)
        try:
            reading = frame.reading()
        except TicError:  # the only error a frame may give: no meter id
            continue
        assert_whole_totals(frame, reading)
    whole = TicDecoder()
    assert whole.feed(stream) == [frame for _, frame in frames]
    assert whole.stats == decoder.stats and whole.method == decoder.method


@FUZZ
@given(damaged(), CHUNKS)
def test_damaged_streams_decode_soundly_however_they_are_cut(stream, sizes):
    check(stream, sizes)


@FUZZ
@given(st.lists(st.one_of(st.sampled_from([s[i:i + 60] for s in STREAMS
                                            for i in range(0, len(s), 60)]),
                          st.binary(max_size=12)), max_size=30), CHUNKS)
def test_spliced_streams_decode_soundly_however_they_are_cut(parts, sizes):
    check(b"".join(parts), sizes)


def test_the_clean_streams_are_decoded_whole():
    for stream in STREAMS:
        frames = decode_frames(stream)
        assert frames and all(f.reading().index_ok and f.reading().import_wh is not None
                              for f in frames)
    decoder = TicDecoder()
    decoder.feed(STREAMS[1])
    assert decoder.method == 2 and not decoder.stats.rejected
