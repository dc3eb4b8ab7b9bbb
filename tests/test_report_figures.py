"""The report's figures (daisee_lab.report), built from a small hand-made run: three households,
eight slots, numbers chosen here rather than produced by the main job."""

import struct
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer

from daisee_lab import report as rp
from daisee_lab.community import REPORT_COLUMNS, SlotEnergy
from daisee_lab.settlement import settle
from daisee_lab.units import PARIS, SLOT_SECONDS

DAY = date(2026, 6, 21)
FIRST_SLOT = int(datetime(2026, 6, 21, 10, 0, tzinfo=PARIS).timestamp()) // SLOT_SECONDS
SLOTS = 8
BUY, SELL = 200_000, 60_000  # µ€/kWh
IMPORT_WH = np.array([[100, 120, 0, 0, 80, 90, 300, 310],
                      [50, 0, 0, 40, 60, 0, 10, 20],
                      [0, 0, 0, 0, 0, 0, 0, 500]], np.int64)
EXPORT_WH = np.array([[0, 0, 30, 40, 0, 0, 0, 0],
                      [0, 70, 200, 0, 0, 10, 0, 0],
                      [400, 380, 350, 300, 200, 100, 0, 0]], np.int64)
LOAD_WH = IMPORT_WH + 25  # the profiles behind the meters: whatever, as long as it is drawn
PV_WH = EXPORT_WH + 25
HOMES = [("standard", 1, 0.0, 0.0), ("historic", 3, 3.0, 0.0), ("dsmr", 1, 6.5, 5.0)]
PNG = b"\x89PNG\r\n\x1a\n"


def make_report(tmp_path, method="mmr", households=3, gas=None, traded=None):
    """A Report of `households` homes (the three above, repeated) over SLOTS slots; the bills and
    slot table hold a real settlement of those meter counts."""
    imports = np.resize(IMPORT_WH, (households, SLOTS))
    exports = np.resize(EXPORT_WH, (households, SLOTS))
    kernel = settle(imports, exports, BUY, SELL, "mmr")
    baseline = settle(imports, exports, BUY, SELL, "none")
    names = [f"house {i + 1}" for i in range(households)]
    homes = [HOMES[i % len(HOMES)] for i in range(households)]
    meters = pd.DataFrame(homes, columns=["mode", "phases", "pv_kwp", "battery_kwh"])
    meters.insert(0, "household", names)
    meters.insert(1, "meter_id", [f"{i + 1:012d}" for i in range(households)])
    bills = pd.DataFrame({"household": names, "meter_id": meters.meter_id, "mode": meters["mode"],
                          "import_wh": imports.sum(axis=1), "export_wh": exports.sum(axis=1),
                          "kernel_ueur": kernel.payments.sum(axis=1),
                          "baseline_ueur": baseline.payments.sum(axis=1)})
    bills["savings_ueur"] = bills.baseline_ueur - bills.kernel_ueur
    net = imports - exports
    demand, surplus = np.maximum(net, 0).sum(axis=0), np.maximum(-net, 0).sum(axis=0)
    slots = pd.DataFrame({"slot": FIRST_SLOT + np.arange(SLOTS), "demand_wh": demand,
                          "surplus_wh": surplus,
                          "traded_wh": np.minimum(demand, surplus) if traded is None else traded,
                          "grid_import_wh": kernel.grid_import_wh,
                          "grid_export_wh": kernel.grid_export_wh, "grid_buy": BUY,
                          "grid_sell": SELL, "buy_price": kernel.buy_price,
                          "sell_price": kernel.sell_price, "grid_bill_ueur": kernel.grid_bill})
    energy = SlotEnergy(meters=tuple(meters.meter_id), slots=slots.slot.to_numpy(),
                        import_wh=imports, export_wh=exports,
                        estimated=np.zeros_like(imports, bool),
                        missing=np.zeros_like(imports, bool),
                        report=pd.DataFrame(0, index=meters.meter_id, columns=REPORT_COLUMNS))
    return rp.Report(out=tmp_path, method=method, day=DAY, meters=meters, energy=energy,
                     kernel=kernel, baseline=baseline, bills=bills, slots=slots, gas=gas,
                     figures={"frames": 1234})


def times_of(report):
    return pd.to_datetime(report.slots.slot * SLOT_SECONDS, unit="s", utc=True).dt.tz_convert(
        PARIS)


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def hours_on(ax):
    """The local hour labels the axis would print at the first and last slot."""
    formatter = ax.xaxis.get_major_formatter()
    return [formatter(x) for x in ax.get_lines()[0].get_xdata(orig=False)[[0, -1]]]


def test_households_figure_has_one_panel_per_home_with_its_four_series(tmp_path):
    report = make_report(tmp_path)
    figure = rp.households_figure(report, LOAD_WH, PV_WH, times_of(report))
    axes = figure.axes
    assert len(axes) == 4  # 2 columns x 2 rows; the fourth panel is hidden
    assert [ax.get_visible() for ax in axes] == [True, True, True, False]
    for i, ax in enumerate(axes[:3]):
        lines = lines_by_label(ax)
        assert list(lines) == ["load", "PV", "meter import", "meter export"]
        for label, expected in (("load", LOAD_WH), ("PV", PV_WH), ("meter import", IMPORT_WH),
                                ("meter export", EXPORT_WH)):
            assert lines[label].get_drawstyle() == "steps-post"
            np.testing.assert_array_equal(lines[label].get_ydata(), expected[i])
    assert [ax.get_title() for ax in axes[:3]] == [
        "house 1: standard, 1 phase", "house 2: historic, 3 phases, 3 kWp",
        "house 3: dsmr, 1 phase, 6.5 kWp, 5 kWh battery"]
    assert axes[0].get_legend() is not None and axes[1].get_legend() is None
    assert figure.get_supxlabel() == "local time"
    assert figure.get_supylabel() == "Wh per 15 min"
    assert hours_on(axes[0]) == ["10:00", "11:45"]  # local time, not UTC


def test_households_figure_goes_to_four_columns_beyond_eight_homes(tmp_path):
    report = make_report(tmp_path, households=9)
    load, pv = np.resize(LOAD_WH, (9, SLOTS)), np.resize(PV_WH, (9, SLOTS))
    axes = rp.households_figure(report, load, pv, times_of(report)).axes
    assert len(axes) == 12
    assert sum(ax.get_visible() for ax in axes) == 9
    assert axes[8].get_title().startswith("house 9: ")


def test_community_figure_draws_the_slot_table(tmp_path):
    report = make_report(tmp_path)
    figure = rp.community_figure(report, times_of(report))
    (ax,) = figure.axes
    lines = lines_by_label(ax)
    assert list(lines) == ["demand D", "surplus G", "grid import", "grid export"]
    for label, column in (("demand D", "demand_wh"), ("surplus G", "surplus_wh"),
                          ("grid import", "grid_import_wh"), ("grid export", "grid_export_wh")):
        np.testing.assert_array_equal(lines[label].get_ydata(), report.slots[column])
    # every slot balances: what the street lacked came from the grid, its excess went there
    np.testing.assert_array_equal(
        lines["demand D"].get_ydata() - lines["surplus G"].get_ydata(),
        lines["grid import"].get_ydata() - lines["grid export"].get_ydata())
    assert ax.get_title() == "the community, 2026-06-21 (mmr)"
    assert ax.get_xlabel() == "local time"
    assert ax.get_ylabel() == "energy (Wh per 15 min)"
    assert hours_on(ax) == ["10:00", "11:45"]


def test_prices_figure_draws_the_prices_in_millieuros_against_the_grid(tmp_path):
    report = make_report(tmp_path)
    (ax,) = rp.prices_figure(report, times_of(report)).axes
    lines = lines_by_label(ax)
    np.testing.assert_array_equal(lines["buyers pay"].get_ydata(), report.slots.buy_price / 1000)
    np.testing.assert_array_equal(lines["sellers get"].get_ydata(),
                                  report.slots.sell_price / 1000)
    grid = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert sorted(line.get_ydata()[0] for line in grid) == [SELL / 1000, BUY / 1000]
    assert [text.get_text() for text in ax.texts] == ["grid import λb", "grid feed-in λs"]
    assert ax.get_ylabel() == "m€/kWh" and ax.get_title() == "prices per slot (mmr)"
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["buyers pay",
                                                                         "sellers get"]
    # the mid-market rate lies between the grid's prices in every slot
    assert all(SELL / 1000 <= y <= BUY / 1000 for y in lines["buyers pay"].get_ydata())


def test_prices_figure_leaves_slots_without_trades_blank_in_an_auction(tmp_path):
    traded = np.array([0, 10, 10, 0, 5, 0, 0, 1])
    report = make_report(tmp_path, method="auction", traded=traded)
    (ax,) = rp.prices_figure(report, times_of(report)).axes
    buy = lines_by_label(ax)["buyers pay"]
    np.testing.assert_array_equal(np.isnan(buy.get_ydata()), traded == 0)
    assert buy.get_marker() == "."


@pytest.mark.parametrize("gas, where", [(None, "off chain"),
                                        (pd.DataFrame({"contract": ["Market"]}), "on chain")])
def test_bills_figure_sets_each_home_against_its_baseline(tmp_path, gas, where):
    report = make_report(tmp_path, gas=gas)
    (ax,) = rp.bills_figure(report).axes
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert [b.get_label() for b in bars] == ["without a community", f"mmr ({where})"]
    for container, column in zip(bars, ("baseline_ueur", "kernel_ueur"), strict=True):
        heights = [patch.get_height() for patch in container.patches]
        np.testing.assert_allclose(heights, report.bills[column] / 1e6)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["house 1", "house 2", "house 3"]
    assert ax.get_ylabel() == "€ for the day (negative: earned)"


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == PNG
    return struct.unpack(">II", data[16:24])  # the IHDR chunk: width, height


@pytest.mark.parametrize("gas", [None, pd.DataFrame({"contract": ["Market"], "calls": [3]})])
def test_write_report_writes_every_file_and_non_empty_pngs(tmp_path, gas):
    report = make_report(tmp_path, gas=gas)
    ticks = []
    files = rp.write_report(report, LOAD_WH, PV_WH, tick=lambda: ticks.append(1))
    tables = {"bills.csv", "slots.csv"} | ({"gas.csv"} if gas is not None else set())
    written = tables | set(rp.FIGURES) | {"index.html"}
    assert set(files) == written | {"readings.sqlite", "run.json"}
    assert {p.name for p in tmp_path.iterdir()} == written
    assert len(ticks) == 3 + len(rp.FIGURES) + 1  # one per table (gas too, even when absent)
    # 100 dpi: each figure's size in inches, times 100
    assert {name: png_size(files[name]) for name in rp.FIGURES} == {
        "households.png": (1000, 440), "community.png": (800, 350), "prices.png": (800, 350),
        "bills.png": (600, 380)}
    assert all(files[name].stat().st_size > 5000 for name in rp.FIGURES)  # drawn, not blank
    page = files["index.html"].read_text(encoding="utf-8")
    assert all(f'<img src="{name}"' in page for name in rp.FIGURES)
    pd.testing.assert_frame_equal(pd.read_csv(files["bills.csv"], dtype={"meter_id": str}),
                                  report.bills, check_dtype=False)
