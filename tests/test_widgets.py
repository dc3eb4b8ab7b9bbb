"""The live power gauge follows readings."""

from datetime import UTC, datetime

from daisee_lab.reading import Reading
from daisee_lab.widgets import PowerGauge


def reading(va, injected, protocol="tic"):
    return Reading(protocol, "standard", "M1", 1234, 567, apparent_power_va=va,
                   injected_power_va=injected, power_w=va, export_power_w=injected,
                   meter_time=datetime(2025, 6, 21, 10, tzinfo=UTC))


def test_gauge_shows_the_latest_reading_and_clips_to_its_scale():
    gauge = PowerGauge(max_power=3000)
    last = gauge.follow(iter([(reading(100, 0), b""), (reading(5000, 1500), b"")]), count=5)
    assert last.apparent_power_va == 5000 and gauge.readings == 2
    assert (gauge.drawn.value, gauge.injected.value) == (3000, 1500)
    assert gauge.drawn.description == "5000 VA"
    assert "M1" in gauge.text.value and "1,234 Wh" in gauge.text.value


def test_gauge_uses_watts_for_dsmr():
    gauge = PowerGauge()
    gauge.update(reading(250, 40, protocol="dsmr"))
    assert (gauge.drawn.description, gauge.injected.description) == ("250 W", "40 W")


def test_bill_explorer_recomputes_bills_from_its_sliders():
    import numpy as np

    from daisee_lab.widgets import BillExplorer

    load = np.array([[300, 400, 200], [100, 100, 100]])
    pv = np.array([[0, 0, 0], [500, 600, 50]])
    explorer = BillExplorer(load, pv, ["a", "b"], grid_buy=200_000, grid_sell=50_000)
    shared = explorer.table()
    assert list(shared.columns) == ["baseline €", "mmr €", "saving €"]
    assert shared.loc["a", "baseline €"] == 0.18        # 900 Wh at 0.20 €/kWh
    assert shared.loc["a", "mmr €"] < shared.loc["a", "baseline €"]  # b's surplus is cheaper
    explorer.pv_scale.value = 0.0                       # no PV: nothing to share
    alone = explorer.table()
    assert (alone["saving €"] == 0).all() and alone.loc["b", "baseline €"] == 0.06
    explorer.method.value = "sdr"
    assert "sdr €" in explorer.table().columns


def test_the_bill_explorer_starts_at_the_books_grid_prices():
    import numpy as np

    from daisee_lab.tariffs import GRID_BUY, GRID_SELL
    from daisee_lab.widgets import BillExplorer

    explorer = BillExplorer(np.array([[100]]), np.array([[0]]), ["a"])
    assert (explorer.grid_buy.value, explorer.grid_sell.value) == (GRID_BUY, GRID_SELL)
