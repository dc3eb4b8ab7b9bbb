"""Draw the meter interfaces of the hardware guide as SVG: ``python hardware/schematic.py``.

Three drawings, written next to this file:

- ``tic_interface.svg``: the Linky TIC demodulator (optocoupler, MOSFET, resistors, an RXD LED);
- ``tic_wiring.svg``: Linky terminals -> demodulator board -> Raspberry Pi header;
- ``p1_cable.svg``: a DSMR P1 cable for a Raspberry Pi (RJ12 plug, transistor inverter).

The output is deterministic: the same source gives the same SVG bytes, so the committed images
can be checked against their source (``--check`` does it; so does ``tests/test_hardware.py``).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

import schemdraw
import schemdraw.elements as elm

schemdraw.use("svg")
# Text as <text> elements, whether or not the optional ziamath package (text as paths) is
# installed: the bytes written must not depend on what else is in the environment.
schemdraw.svgconfig.text = "text"

HERE = Path(__file__).resolve().parent

# Every component, by drawing and reference designator: the value printed next to it. bom.csv
# lists the same designators with the same values (tests/test_hardware.py checks it).
PARTS = {
    "tic_interface.svg": {
        "J1": "2-way screw terminal",
        "R1": "1.2 kΩ",
        "U1": "SFH620A",
        "R2": "10 kΩ",
        "Q1": "BSS138",
        "R3": "4.7 kΩ",
        "D1": "red LED",
        "R7": "1 kΩ",
        "J2": "3-pin header",
    },
    "p1_cable.svg": {
        "J3": "RJ12 6P6C plug",
        "R4": "1 kΩ",
        "R5": "10 kΩ",
        "Q2": "BC547B",
        "R6": "1 kΩ",
    },
}

GREY = "#777777"
WIRE_COLOURS = {"3V3": "#d62728", "GND": "black", "RXD": "#1f77b4"}


def _part(ref: str) -> str:
    """The two-line label of a component: designator, then value."""
    value = next(parts[ref] for parts in PARTS.values() if ref in parts)
    return f"{ref}\n{value}"


class AcOptocoupler(elm.ElementCompound):
    """An AC-input optocoupler (SFH620A, LTV-814): two anti-parallel LEDs light one phototransistor.

    Whichever way the current flows between pins 1 and 2, one LED emits, so the transistor
    conducts on both half-waves of the 50 kHz carrier. Anchors: ``pin1``, ``pin2`` (LED side),
    ``pin3`` (emitter), ``pin4`` (collector).
    """

    def setup(self) -> None:
        """Draw the LEDs, the light arrows, the phototransistor, the package outline."""
        height = 2.0
        self.add(elm.Line(at=(-0.4, 0), to=(1.4, 0)))
        self.add(elm.Line(at=(-0.4, -height), to=(1.4, -height)))
        self.add(elm.Diode(at=(0.5, 0), to=(0.5, -height)))
        self.add(elm.Diode(at=(1.4, -height), to=(1.4, 0)))
        for y in (-0.75, -1.25):
            self.add(elm.Arrow(at=(1.75, y), to=(2.45, y), arrowwidth=0.15, arrowlength=0.2))
        bjt = self.add(elm.BjtNpn(at=(2.5, -height / 2)))
        bjt.segments.pop(0)  # a phototransistor has no base lead
        self.add(elm.Line(at=bjt.collector, toy=0))
        self.add(elm.Line(tox=4.0))
        self.add(elm.Line(at=bjt.emitter, toy=-height))
        self.add(elm.Line(tox=4.0))
        self.add(elm.Rect(at=(0, 0), corner1=(0, 0.4), corner2=(3.6, -height - 0.4)))
        self.anchors["pin1"] = (-0.4, 0)
        self.anchors["pin2"] = (-0.4, -height)
        self.anchors["pin4"] = (4.0, 0)
        self.anchors["pin3"] = (4.0, -height)
        for pin, (x, y) in {"1": (-0.25, 0.25), "2": (-0.25, -height + 0.25),
                            "4": (3.85, 0.25), "3": (3.85, -height + 0.25)}.items():
            self.add(elm.Label(at=(x, y)).label(pin, fontsize=9))
        self.anchors["barrier_top"] = (2.1, 0.4)
        self.anchors["barrier_bottom"] = (2.1, -height - 0.4)


def _new_drawing() -> schemdraw.Drawing:
    """An empty drawing with the guide's common style."""
    drawing = schemdraw.Drawing(show=False)
    drawing.config(unit=2.5, fontsize=12, font="Arial, Helvetica, Liberation Sans, sans-serif",
                   margin=1.5)  # room for labels whose text width schemdraw underestimates
    return drawing


def _notes(d: schemdraw.Drawing, at: tuple[float, float], *lines: str) -> None:
    """Write `lines` of explanation under a drawing, the first one starting at `at`."""
    x, y = at
    for row, line in enumerate(lines):
        d.add(elm.Label().at((x, y - 0.6 * row)).label(line, halign="left"))


def tic_interface() -> schemdraw.Drawing:
    """The TIC demodulator: Linky I1/I2 -> SFH620A -> BSS138 -> 3.3 V UART for the Pi's RXD.

    D1 and R7 light while the meter sends (RXD low): the activity LED that 54E recommends.
    """
    d = _new_drawing()
    j1 = d.add(elm.Header(rows=2, cols=1, style="screw", pinspacing=2.0, pinfontsizeleft=12,
                          pinsleft=["I1", "I2"]).label(_part("J1"), loc="bottom"))
    d.add(elm.Line(at=j1.pin1).right(1.0))
    d.add(elm.Resistor().right().label(_part("R1")))
    u1 = d.add(AcOptocoupler().anchor("pin1").label(_part("U1"), loc="top"))
    d.add(elm.Line(at=j1.pin2, to=u1.pin2))
    d.add(elm.Line(at=u1.barrier_top, ls="--", color=GREY).up(1.2))
    d.add(elm.Line(at=u1.barrier_bottom, ls="--", color=GREY).down(2.2))
    d.add(elm.Label().at((u1.barrier_bottom.x - 0.2, u1.barrier_bottom.y - 1.9))
          .label("meter side", halign="right", color=GREY))
    d.add(elm.Label().at((u1.barrier_bottom.x + 0.2, u1.barrier_bottom.y - 1.9))
          .label("Pi side", halign="left", color=GREY))

    d.add(elm.Line(at=u1.pin4).up(0.8))
    d.add(elm.Vdd().label("+3V3"))
    d.add(elm.Line(at=u1.pin3).right(1.5))
    envelope = d.add(elm.Dot())
    d.add(elm.Resistor().down().label(_part("R2"), loc="bottom"))
    d.add(elm.Ground())
    d.add(elm.Line(at=envelope.center).right(1.0))
    q1 = d.add(elm.NFet().reverse().anchor("gate").label(_part("Q1"), loc="right"))
    d.add(elm.Ground(at=q1.source))
    d.add(elm.Line(at=q1.drain).up(0.6))
    rxd = d.add(elm.Dot())
    d.add(elm.Resistor().up().label(_part("R3"), loc="bottom"))
    d.add(elm.Vdd().label("+3V3"))
    d.add(elm.Line(at=rxd.center).right(2.4))
    led_tap = d.add(elm.Dot())
    d.add(elm.LED().up(1.6).reverse().label(_part("D1"), loc="bottom"))
    d.add(elm.Resistor().up().label(_part("R7"), loc="bottom"))
    d.add(elm.Vdd().label("+3V3"))
    j2 = d.add(elm.Header(rows=3, cols=1, pinspacing=1.0, pinfontsizeright=11,
                          pinsright=["3V3 → Pi pin 1", "GND → Pi pin 6",
                                     "RXD → Pi pin 10 (GPIO15)"])
               .anchor("pin3").at((led_tap.center.x + 3.2, rxd.center.y))
               .label(_part("J2"), loc="bottom"))
    d.add(elm.Line(at=led_tap.center).tox(j2.pin3.x).label("RXD", loc="top"))
    d.add(elm.Line(at=j2.pin1).left(0.7))
    d.add(elm.Vdd().label("+3V3"))
    d.add(elm.Line(at=j2.pin2).left(0.7))
    d.add(elm.Ground())

    _notes(d, (j1.pin2.x - 1.0, j1.pin2.y - 3.4),
           "carrier present = bit 0, no carrier = bit 1 (idle line)",
           "UART 7E1: 1200 baud (historic mode), 9600 baud (standard mode)",
           "R1 fusible: a wire landed on 230 V opens it; D1 lights while the meter sends")
    return d


def _pi_header(d: schemdraw.Drawing, x: float, y: float) -> dict[int, tuple[float, float]]:
    """Draw pins 1-10 of the Raspberry Pi 40-pin header, pin 1 top left; return pin positions."""
    names = {1: "3V3", 2: "5V", 3: "GPIO2", 4: "5V", 5: "GPIO3", 6: "GND", 7: "GPIO4",
             8: "GPIO14 (TXD)", 9: "GND", 10: "GPIO15 (RXD)"}
    pitch = 0.9
    pins = {n: (x + pitch * ((n - 1) % 2), y - pitch * ((n - 1) // 2)) for n in names}
    d.add(elm.Rect(corner1=(x - 0.3, y + 0.3), corner2=(x + pitch + 0.3, y - 4 * pitch - 0.3))
          .at((0, 0)))
    for n, (px, py) in pins.items():
        d.add(elm.Dot(radius=0.12, open=True).at((px, py)))
        left = n % 2 == 1
        text = f"{names[n]}  {n}" if left else f"{n}  {names[n]}"
        d.add(elm.Label().at((px - 0.45 if left else px + 0.45, py))
              .label(text, halign="right" if left else "left", fontsize=10))
    d.add(elm.Label().at((x + pitch / 2, y - 4 * pitch - 0.9))
          .label("Raspberry Pi header, pins 1-10\n(pin 1: square pad, microSD end)", fontsize=10))
    return pins


def _wire(d: schemdraw.Drawing, net: str, *points: tuple[float, float]) -> None:
    """A wire through `points`, in the colour of its net (a key of WIRE_COLOURS)."""
    for start, end in zip(points, points[1:]):
        d.add(elm.Line(at=start, to=end, color=WIRE_COLOURS[net], lw=2.5))


def tic_wiring() -> schemdraw.Drawing:
    """Linky customer terminals -> demodulator board -> Raspberry Pi header pins 1, 6 and 10."""
    d = _new_drawing()
    d.add(elm.Rect(corner1=(0, 0.8), corner2=(4.2, -3.0)).at((0, 0)))
    d.add(elm.Label().at((2.1, 1.3)).label("Linky: customer terminals"))
    terminals = {"I1": (4.2, 0.0), "I2": (4.2, -1.0), "A": (4.2, -2.0)}
    for name, (x, y) in terminals.items():
        d.add(elm.Dot(radius=0.15, open=True).at((x, y)))
        d.add(elm.Label().at((x - 0.4, y)).label(name, halign="right"))
    d.add(elm.Label().at((4.6, -2.0)).label("A: not connected", halign="left", color=GREY))
    d.add(elm.Label().at((0, -3.6)).label("C1, C2 (relay contact, may carry 230 V): never connect",
                                          halign="left", color=GREY))

    d.add(elm.Rect(corner1=(8.0, 0.8), corner2=(12.0, -2.6)).at((0, 0)))
    d.add(elm.Label().at((10.0, 1.3)).label("TIC demodulator board"))
    d.add(elm.Label().at((10.0, -2.2)).label("see tic_interface.svg", fontsize=10, color=GREY))
    inputs = {"I1": (8.0, 0.0), "I2": (8.0, -1.0)}
    outputs = {"3V3": (12.0, 0.0), "GND": (12.0, -1.0), "RXD": (12.0, -2.0)}
    for name, (x, y) in inputs.items():
        d.add(elm.Dot(radius=0.12).at((x, y)))
        d.add(elm.Label().at((x + 0.3, y)).label(f"J1 {name}", halign="left", fontsize=10))
        d.add(elm.Line(at=terminals[name], to=(x, y), lw=2.5))
    for name, (x, y) in outputs.items():
        d.add(elm.Dot(radius=0.12).at((x, y)))
        d.add(elm.Label().at((x - 0.3, y)).label(f"J2 {name}", halign="right", fontsize=10))

    pins = _pi_header(d, 17.5, -0.45)
    _wire(d, "3V3", outputs["3V3"], (pins[1][0], 0.0), pins[1])
    _wire(d, "GND", outputs["GND"], (14.0, -1.0), (14.0, -1.8), (pins[6][0], -1.8), pins[6])
    _wire(d, "RXD", outputs["RXD"], (14.5, -2.0), (14.5, -3.6), (pins[10][0], -3.6), pins[10])
    for net, y in (("3V3", 0.0), ("GND", -1.8), ("RXD", -3.6)):
        d.add(elm.Label().at((15.0, y + 0.25)).label(net, color=WIRE_COLOURS[net], fontsize=10))
    return d


def p1_cable() -> schemdraw.Drawing:
    """A P1 cable for a Pi: RJ12 plug, Data Request held at 5 V, Data inverted by Q2."""
    d = _new_drawing()
    j3 = d.add(elm.Header(rows=6, cols=1, pinspacing=0.8, pinfontsizeleft=11,
                          pinsleft=["1  +5V (not used)", "2  Data Request", "3  Data GND",
                                    "4  n.c.", "5  Data (open collector)",
                                    "6  Power GND (not used)"])
               .label(_part("J3"), loc="top", ofst=0.4))
    d.add(elm.Line(at=j3.pin2).right(1.9))
    d.add(elm.Line().up(2.4))
    d.add(elm.Line().right(8.1).label("+5 V: Data Request held high while reading", loc="top",
                                      fontsize=10))
    pi_5v = d.add(elm.Dot(open=True).label("Pi pin 2 (5V)", loc="right"))
    d.add(elm.Line(at=j3.pin3).right(0.5))
    d.add(elm.Ground())

    d.add(elm.Line(at=j3.pin5).right(2.5).label("Data", loc="top"))
    data = d.add(elm.Dot())
    d.add(elm.Resistor().up().label(_part("R4"), loc="bottom"))
    rail_start = d.add(elm.Line().toy(pi_5v.center.y - 0.9)).end
    d.add(elm.Resistor(at=data.center).right().label(_part("R5")))
    q2 = d.add(elm.BjtNpn().anchor("base").label(_part("Q2"), loc="right"))
    d.add(elm.Ground(at=q2.emitter))
    d.add(elm.Line(at=q2.collector).up(0.5))
    rxd = d.add(elm.Dot())
    d.add(elm.Resistor().up().label(_part("R6"), loc="bottom"))
    d.add(elm.Line().toy(rail_start.y))
    d.add(elm.Line(at=rail_start).tox(pi_5v.center.x).label("+3V3", loc="top", fontsize=10))
    d.add(elm.Dot(open=True).label("Pi pin 1 (3V3)", loc="right"))
    d.add(elm.Line(at=rxd.center).tox(pi_5v.center.x).label("RXD", loc="top", fontsize=10))
    d.add(elm.Dot(open=True).label("Pi pin 10 (GPIO15, RXD)", loc="right"))
    pi_gnd = d.add(elm.Dot(open=True).at((pi_5v.center.x, q2.emitter.y))
                   .label("Pi pin 6 (GND)", loc="right"))
    d.add(elm.Line(at=pi_gnd.center).left(0.8))
    d.add(elm.Ground())

    _notes(d, (j3.pin6.x - 4.0, j3.pin6.y - 1.6),
           "P1 Data is open collector and inverted: R4 pulls it up, Q2 inverts it to 3.3 V UART",
           "DSMR 5: 115200 baud 8N1; DSMR 4: 115200 8N1 or 7E1; DSMR 2.2 and 3: 9600 baud 7E1")
    return d


# The drawings, by the name of the SVG file each one is written to.
DRAWINGS: dict[str, Callable[[], schemdraw.Drawing]] = {
    "tic_interface.svg": tic_interface,
    "tic_wiring.svg": tic_wiring,
    "p1_cable.svg": p1_cable,
}


def _round_long_decimals(svg: bytes) -> bytes:
    """Round the raw floats schemdraw leaves in some attributes (``656.4440000000002``) to 3 places.

    They come out of float arithmetic, whose last bit may differ between platforms' maths
    libraries; rounded like the rest of the file, they give the same bytes everywhere.
    """
    def shorten(match: re.Match[bytes]) -> bytes:
        text = f"{float(match[0]):.3f}".rstrip("0").rstrip(".")
        return b"0" if text == "-0" else text.encode()

    return re.sub(rb"-?\d+\.\d{4,}", shorten, svg)


def render(name: str) -> bytes:
    """The SVG bytes of the drawing `name`, one of the keys of DRAWINGS."""
    if name not in DRAWINGS:
        raise KeyError(f"no drawing named {name!r}; the drawings are {', '.join(DRAWINGS)}")
    return _round_long_decimals(DRAWINGS[name]().get_imagedata("svg"))


def main(argv: list[str] | None = None) -> int:
    """Write every drawing to --dir (default: next to this file); with --check, list stale ones."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=HERE, help="where the SVG files are")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if an SVG differs from what its source draws")
    args = parser.parse_args(argv)
    stale = []
    for name in DRAWINGS:
        path = args.dir / name
        svg = render(name)
        if not args.check:
            path.write_bytes(svg)
        elif not path.is_file() or path.read_bytes() != svg:
            stale.append(name)
            print(f"{path} is stale: run python hardware/schematic.py to redraw it",
                  file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
