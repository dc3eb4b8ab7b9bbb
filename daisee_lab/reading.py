"""`Reading`: one meter reading in the project's units, whatever protocol it came from.

The TIC codec (:mod:`daisee_lab.tic`) and the DSMR codec (:mod:`daisee_lab.dsmr`) both turn a
frame or telegram into a `Reading`; the recorder stores them and the community module turns
their cumulative indexes into energy per slot. Units: energy in Wh, apparent power in VA,
active power in W, current in A, voltage in V; `meter_time` is timezone-aware.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["Reading"]


@dataclass(frozen=True)
class Reading:
    """A decoded meter reading.

    `import_wh` is the total energy drawn from the grid (BASE, the sum of the tariff indexes,
    EAST, or the DSMR delivered registers); `export_wh` the total injected (EAIT or the DSMR
    returned registers), None when the meter cannot report injection (TIC historic mode).
    `registers` holds every energy index by its label or OBIS code, in Wh.

    `flags` says why an index of this reading must not be used: the stream decoder found it
    implausible against the meter's previous readings (it went backwards, or forwards by more
    than the subscribed power allows over the time elapsed). A flagged index is left out of
    `registers`, and the total it belongs to (`import_wh` or `export_wh`) is None, so code that
    never looks at `flags` cannot use it either; `index_ok` is False. Never sign or bill a
    reading that is not `index_ok`.
    """

    protocol: str                      # "tic" or "dsmr"
    mode: str                          # "historic", "standard" (TIC) or a DSMR version: "5.0"
    meter_id: str
    import_wh: int | None
    export_wh: int | None = None
    registers: dict[str, int] = field(default_factory=dict)
    phases: int = 1
    apparent_power_va: int | None = None     # TIC: PAPP / SINSTS
    injected_power_va: int | None = None     # TIC standard: SINSTI
    power_w: int | None = None               # DSMR: 1-0:1.7.0, active power drawn
    export_power_w: int | None = None        # DSMR: 1-0:2.7.0, active power injected
    currents_a: tuple[int | float, ...] = ()  # per phase, where sent
    voltages_v: tuple[int | float, ...] = ()  # per phase, where sent
    tariff_period: str | None = None
    meter_time: datetime | None = None
    status: dict[str, object] | None = None  # decoded STGE (TIC standard)
    warnings: tuple[str, ...] = ()           # plausibility problems: flagged, never dropped
    flags: tuple[str, ...] = ()              # implausible indexes, left out (see above)

    @property
    def index_ok(self) -> bool:
        """True unless an index of this reading was found implausible (see `flags`)."""
        return not self.flags
