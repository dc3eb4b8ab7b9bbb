"""ipywidgets for the book: a live gauge of what a meter draws and injects."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

import ipywidgets as w

from daisee_lab.reading import Reading
from daisee_lab.tariffs import GRID_BUY, GRID_SELL

__all__ = ["BillExplorer", "PowerGauge"]


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

    def follow(self, readings: Iterable[Reading | tuple[Reading, bytes]],
               count: int) -> Reading | None:
        """Update from the next `count` readings (or (reading, raw) pairs); return the last, None
        if there was none."""
        last = None
        for item in islice(readings, count):
            last = item[0] if isinstance(item, tuple) else item
            self.update(last)
        return last

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


class BillExplorer:
    """Sliders for the grid prices and the size of everyone's PV, a choice of pricing method, and
    each household's bill against the baseline, recomputed on every change.

    `load_wh` and `pv_wh` are gross (households, slots) arrays; the PV slider scales `pv_wh`, and
    each slot is netted behind the meter (no batteries). The prices start at the book's grid
    prices (:mod:`daisee_lab.tariffs`).
    """

    def __init__(self, load_wh, pv_wh, names, grid_buy: int = GRID_BUY, grid_sell: int = GRID_SELL):
        import numpy as np

        self._load, self._pv = np.asarray(load_wh, np.int64), np.asarray(pv_wh, np.int64)
        self.names = list(names)
        self.grid_buy = w.IntSlider(grid_buy, 50_000, 500_000, 1_000, description="λb µ€/kWh",
                                    continuous_update=False)
        self.grid_sell = w.IntSlider(grid_sell, 0, 200_000, 1_000, description="λs µ€/kWh",
                                     continuous_update=False)
        self.pv_scale = w.FloatSlider(1.0, min=0.0, max=3.0, step=0.25, description="PV ×",
                                      continuous_update=False)
        self.method = w.Dropdown(options=["mmr", "bill_sharing", "sdr"], description="method")
        self.output = w.Output()
        for control in (self.grid_buy, self.grid_sell, self.pv_scale, self.method):
            control.observe(lambda _change: self.refresh(), names="value")
        self.widget = w.VBox([w.HBox([self.grid_buy, self.grid_sell]),
                              w.HBox([self.pv_scale, self.method]), self.output])
        self.refresh()

    def table(self):
        """Each household's bill (€) under the chosen method and the baseline, and the saving."""
        import numpy as np
        import pandas as pd

        from daisee_lab.settlement import settle

        pv = np.floor(self._pv * self.pv_scale.value).astype(np.int64)
        consumption, production = np.maximum(self._load - pv, 0), np.maximum(pv - self._load, 0)
        buy, sell = self.grid_buy.value, min(self.grid_sell.value, self.grid_buy.value)
        chosen = settle(consumption, production, buy, sell, self.method.value)
        baseline = settle(consumption, production, buy, sell, "none")
        bills = pd.DataFrame({"baseline €": baseline.payments.sum(axis=1) / 1e6,
                              f"{self.method.value} €": chosen.payments.sum(axis=1) / 1e6},
                             index=pd.Index(self.names, name="household"))
        bills["saving €"] = bills.iloc[:, 0] - bills.iloc[:, 1]
        return bills.round(2)

    def refresh(self) -> None:
        """Recompute the table for the sliders' current values."""
        from IPython.display import display

        self.output.clear_output(wait=True)
        with self.output:
            display(self.table())

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
