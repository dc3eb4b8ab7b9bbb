"""ipywidgets for the book: a live gauge of what a meter draws and injects."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

import ipywidgets as w

from daisee_lab.reading import Reading


class PowerGauge:
    """Two bars (power drawn, power injected) and a line of text, updated from readings.

    Display it in a notebook (it is the last value of a cell, or ``display(gauge)``), then call
    :meth:`update` with each new `Reading`, or :meth:`follow` with a stream of them.
    """

    def __init__(self, max_power: int = 9000):
        self.drawn = w.IntProgress(min=0, max=max_power, description="drawn",
                                   bar_style="warning")
        self.injected = w.IntProgress(min=0, max=max_power, description="injected",
                                      bar_style="success")
        self.text = w.HTML("waiting for the first reading...")
        self.widget = w.VBox([self.text, self.drawn, self.injected])
        self.readings = 0

    def update(self, reading: Reading) -> None:
        """Show `reading`: power in VA (TIC) or W (DSMR), its time and energy indexes."""
        unit = "VA" if reading.protocol == "tic" else "W"
        drawn = reading.apparent_power_va if unit == "VA" else reading.power_w
        injected = reading.injected_power_va if unit == "VA" else reading.export_power_w
        self.drawn.value = min(drawn or 0, self.drawn.max)
        self.injected.value = min(injected or 0, self.injected.max)
        self.drawn.description = f"{drawn or 0} {unit}"
        self.injected.description = f"{injected or 0} {unit}"
        when = reading.meter_time.strftime("%Y-%m-%d %H:%M:%S") if reading.meter_time else "-"
        export = "" if reading.export_wh is None else f", injected {reading.export_wh:,} Wh"
        self.text.value = (f"<b>{reading.meter_id}</b> ({reading.mode}) at {when}: "
                           f"drawn {reading.import_wh:,} Wh{export}")
        self.readings += 1

    def follow(self, readings: Iterable[Reading | tuple[Reading, bytes]], count: int) -> Reading:
        """Update from the next `count` readings (or (reading, raw) pairs); return the last."""
        last = None
        for item in islice(readings, count):
            last = item[0] if isinstance(item, tuple) else item
            self.update(last)
        return last

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
