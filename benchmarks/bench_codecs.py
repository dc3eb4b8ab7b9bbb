"""The meter codecs against their line rate: how many times faster than the wire they decode.

    python benchmarks/bench_codecs.py            # 64 KB per input
    python benchmarks/bench_codecs.py --small    # 16 KB per input

A decoder must keep up with its line whatever arrives, noise and hostile bytes included (issue
18 asks for at least 100 times the line rate). For each input the script feeds the decoder in
64-byte chunks (as serial reads come) and whole, takes the best of three runs, and prints the
bytes per second divided by the line's bytes per second: DSMR 4/5 at 115200 baud 8N1 (11,520
B/s), TIC standard at 9600 baud 7E1 (960 B/s) and historic at 1200 baud 7E1 (120 B/s).
Measured side by side in one run; nothing here is asserted (tests count the work instead).
"""

from __future__ import annotations

import argparse
import random
import time
from functools import partial
from pathlib import Path

from daisee_lab import dlms, dsmr, tic
from daisee_lab.meter import DSMR_LINES, TIC_LINES
from daisee_lab.simulator import MeterSimulator

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
SMARTY_KEY = bytes.fromhex("D491470F47126332B07D1923B3504188")
TARGET = 100  # times the line rate, at least


def line_rate(line) -> float:
    """Bytes per second a serial line carries."""
    return line.baudrate / line.bits_per_char


def filled(pattern: bytes, size: int, tail: bytes = b"") -> bytes:
    return (pattern * (size // len(pattern) + 1))[:size - len(tail)] + tail


def corrupted(data: bytes, rng: random.Random, every: int = 300) -> bytes:
    """`data` with one random byte changed every `every` bytes: a very noisy line."""
    out = bytearray(data)
    for at in range(rng.randrange(every), len(out), every):
        out[at] = rng.randrange(256)
    return bytes(out)


def dsmr_inputs(size: int, rng: random.Random) -> dict[str, tuple[bytes, bytes | None]]:
    crc = b"".join(p.read_bytes() for p in sorted((DATA / "dsmr").glob("*.txt"))
                   if "nocrc" not in p.name)
    hex_text = (DATA / "dsmr" / "smarty_lux_encrypted_key_D491470F.hex").read_text()
    frame = bytes.fromhex(hex_text.replace("\n", ""))
    telegrams = filled(crc, size)
    return {
        "real telegrams (DSMR 4.2/5, Fluvius, Sagemcom)": (telegrams, None),
        "real telegrams, a byte in 300 changed": (corrupted(telegrams, rng), None),
        "encrypted Smarty frames, with the key": (filled(frame, size), SMARTY_KEY),
        "8 KB of '/' then !0000 (issue 18)": (filled(b"/", size, b"!0000\r\n"), None),
        "header lines only (/ABC CR LF)": (filled(b"/ABC\r\n", size, b"!0000\r\n"), None),
        "a header inside every line (x/ABC)": (filled(b"x/ABC\r\n", size, b"!0000\r\n"), None),
        "a header inside every value": (
            filled(b"/ABC\r\n", 6) + filled(b"1-0:1.8.1(/ABC)\r\n", size, b"!0000\r\n"), None),
        "tiny telegrams with a bad CRC": (
            filled(b"/ABC5\r\n\r\n1-0:1.8.1(1*kWh)\r\n!0000\r\n", size), None),
        "random bytes": (rng.randbytes(size), None),
        "random bytes, with the key": (rng.randbytes(size), SMARTY_KEY),
        "a frame, then headers claiming 8 KB (DB 08 ..)": (
            frame + filled(dlms.START + bytes(8) + b"\x82\x1f\xf0\x30", size - len(frame)),
            SMARTY_KEY),
    }


def tic_inputs(mode: str, size: int, rng: random.Random) -> dict[str, bytes]:
    frames = filled(MeterSimulator(mode, seed=1).render(40), size)
    return {
        f"simulated {mode} frames": frames,
        f"simulated {mode} frames, a byte in 300 changed": corrupted(frames, rng),
        "STX only": filled(b"\x02", size),
        "STX LF repeated (empty groups)": filled(b"\x02\n", size),
        "one frame that never ends": b"\x02" + filled(b"\nBASE 000012345 ,\r", size - 1),
        "random bytes": rng.randbytes(size),
    }


def rate(make_decoder, data: bytes, chunk: int | None) -> float:
    """Best of three: bytes per second through a fresh decoder."""
    best = float("inf")
    for _ in range(3):
        decoder = make_decoder()
        began = time.perf_counter()
        if chunk is None:
            decoder.feed(data)
        else:
            for at in range(0, len(data), chunk):
                decoder.feed(data[at:at + chunk])
        best = min(best, time.perf_counter() - began)
    return len(data) / best


def report(title: str, line: float, cases: dict, make_decoder) -> list[float]:
    print(f"\n{title}: line rate {line:,.0f} B/s; ratio = decode rate / line rate "
          f"(64-byte chunks | whole input)")
    ratios = []
    for name, (data, key) in cases.items():
        chunked, whole = (rate(partial(make_decoder, key), data, size) for size in (64, None))
        ratios += [chunked / line, whole / line]
        flag = "" if min(chunked, whole) / line >= TARGET else f"   < {TARGET}x"
        print(f"  {name:<50} {chunked / line:>9,.0f}x | {whole / line:>9,.0f}x{flag}")
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="16 KB per input instead of 64 KB")
    size = 16_384 if parser.parse_args().small else 65_536
    rng = random.Random(18)
    ratios = report("DSMR P1, 115200 baud 8N1", line_rate(DSMR_LINES["5"]), dsmr_inputs(size, rng),
                    lambda key: dsmr.DsmrDecoder(key=key))
    for mode in ("standard", "historic"):
        line = TIC_LINES[mode]
        cases = {name: (data, None) for name, data in tic_inputs(mode, size, rng).items()}
        ratios += report(f"TIC {mode}, {line}", line_rate(line), cases,
                         lambda key: tic.TicDecoder())
    print(f"\nslowest input: {min(ratios):,.0f} times its line rate (target: {TARGET}x)")


if __name__ == "__main__":
    main()
