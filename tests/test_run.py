"""The main job, `daisee-lab run`: a small day through the whole pipeline, every frame recorded
and the meters' energy equal to the profiles', its report checked against an independent
settlement and against the chain itself; the auction; bad arguments; a failure or a Ctrl-C
mid-run keeping what was recorded."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from daisee_lab import community, settlement, tic
from daisee_lab.chain import Chain
from daisee_lab.cli import main
from daisee_lab.recorder import Recorder
from daisee_lab.run import (FUNDS_UEUR, MeterMismatch, MeterPlan, RunArgumentError, RunError,
                            SettlementMismatch, run_day)
from daisee_lab.run import arguments, checks, fleet, market
from daisee_lab.settlement import reference
from daisee_lab.tariffs import GRID_BUY, GRID_SELL
from daisee_lab.units import MIN_ORDER_WH, PARIS, day_slots
from polling import wait_until

pytestmark = pytest.mark.slow  # runs the main job: meters, recorder, settlement and chain

NOON = range(46, 54)  # 11:30 to 13:30 local time in summer: the producer exports


def window(day: date, slots: range) -> tuple[datetime, datetime]:
    midnight = datetime(day.year, day.month, day.day, tzinfo=PARIS)
    first = int(midnight.timestamp()) // 900 + slots.start
    return (datetime.fromtimestamp(first * 900, UTC),
            datetime.fromtimestamp((first + len(slots)) * 900, UTC))


def next_summer_day() -> date:
    """The next 21 June after tomorrow: a day the chain has not reached, with sunshine."""
    tomorrow = datetime.now(PARIS).date() + timedelta(days=1)
    day = date(tomorrow.year, 6, 21)
    return day if day > tomorrow else date(tomorrow.year + 1, 6, 21)


def test_a_small_day_goes_from_the_meters_bytes_to_the_chain_and_the_report(tmp_path,
                                                                             anvil_node):
    chain = Chain(anvil_node.url)
    snapshot = chain.snapshot()
    try:
        report = run_day(households=3, date="2026-06-21", slots=NOON, rpc=anvil_node.url,
                         out=tmp_path / "day", seed=0, progress=False)
        day, out = date(2026, 6, 21), tmp_path / "day"
        bills = pd.read_csv(out / "bills.csv", dtype={"meter_id": str})
        slots = pd.read_csv(out / "slots.csv")

        # the meters: one per household, read in its own mode, every frame decoded and
        # recorded: four a slot, from a quarter of an hour before the first slot to the end of
        # the last, stamped with the meter's clock (its DATE where the frame carries one)
        homes = community.make_households(3, 0)
        assert bills["mode"].tolist() == ["standard" if h.prosumer else "historic" for h in homes]
        largest = max((h for h in homes if not h.prosumer), key=lambda h: h.annual_kwh)
        with Recorder(out / "readings.sqlite") as recorder:
            readings = recorder.to_dataframe()
        start, end = window(day, NOON)
        frames = pd.date_range(start - timedelta(minutes=15), end, freq="225s")
        by_meter = readings.groupby("meter_id")
        for meter, stamps in by_meter.received_at:
            assert stamps.tolist() == frames.tolist(), meter
        assert report.figures["frames"] == len(readings) == 3 * len(frames)
        clocked = readings.dropna(subset=["meter_time"])
        assert len(clocked) == len(frames) and (clocked.meter_time == clocked.received_at).all()
        assert by_meter["mode"].unique().map(list).to_dict() == {
            m: [mode] for m, mode in zip(bills.meter_id, bills["mode"])}
        assert by_meter.phases.max().loc[bills.meter_id].tolist() == [
            3 if h is largest else 1 for h in homes]
        assert readings[readings["mode"] == "historic"].export_wh.isna().all()
        assert readings[readings["mode"] == "standard"].export_wh.notna().all()

        # what is settled is the meters' data, and it is the households' profiles (after their
        # battery) to the Wh, in every slot
        energy = community.energy_per_slot(readings, start, end, meters=bills.meter_id.tolist())
        assert (energy.import_wh == report.energy.import_wh).all()
        assert (energy.export_wh == report.energy.export_wh).all()
        profile = community.profiles(homes, day, 1, 0)
        assert (energy.import_wh == profile.import_wh[:, NOON.start:NOON.stop]).all()
        assert (energy.export_wh == profile.export_wh[:, NOON.start:NOON.stop]).all()
        assert energy.export_wh.sum() > 1000  # the producer sells at noon

        # the report's numbers are an independent settlement's (the plain reference)
        mmr = reference.settle(energy.import_wh, energy.export_wh, GRID_BUY, GRID_SELL, "mmr")
        none = reference.settle(energy.import_wh, energy.export_wh, GRID_BUY, GRID_SELL, "none")
        assert bills.kernel_ueur.tolist() == mmr.payments.sum(axis=1).tolist()
        assert bills.baseline_ueur.tolist() == none.payments.sum(axis=1).tolist()
        assert (bills.savings_ueur == bills.baseline_ueur - bills.kernel_ueur).all()
        assert bills.savings_ueur.sum() > 0
        assert slots.slot.tolist() == list(range(int(start.timestamp()) // 900,
                                                  int(end.timestamp()) // 900))
        for column, values in (("grid_bill_ueur", mmr.grid_bill), ("rounding_ueur", mmr.rounding),
                               ("buy_price", mmr.buy_price), ("sell_price", mmr.sell_price),
                               ("grid_import_wh", mmr.grid_import_wh)):
            assert slots[column].tolist() == values.tolist(), column

        # ... and the chain's, read back from the node
        market = chain.at("CommunityMarket", report.contracts["CommunityMarket"])
        balances, left_out = market.accountsOf([a.address for a in chain.accounts[1:4]])
        assert left_out == [0, 0, 0]  # every household could prepay every import
        assert [FUNDS_UEUR - b for b in balances] == bills.chain_ueur.tolist()
        assert bills.chain_ueur.tolist() == bills.kernel_ueur.tolist()
        events = market.web3.events.SlotSettled.get_logs(from_block=0)
        assert [e.args.slot for e in events] == [slots.slot[0] - 1, *slots.slot]  # the anchor
        assert [e.args.gridBill for e in events[1:]] == slots.grid_bill_ueur.tolist()
        assert [e.args.rounding for e in events[1:]] == slots.rounding_ueur.tolist()
        gas = pd.read_csv(out / "gas.csv").set_index(["contract", "function"])
        assert gas.loc[("CommunityMarket", "settle"), "calls"] == len(NOON) + 1
    finally:
        chain.revert_to(snapshot)

    # the folder: tables, plots, a page that shows them, the run's record
    for name in ("households.png", "community.png", "prices.png", "bills.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'src="{name}"' in (out / "index.html").read_text()
    page = (out / "index.html").read_text()
    assert all(f'href="{name}"' in page for name in ("bills.csv", "slots.csv", "gas.csv",
                                                      "readings.sqlite"))
    assert f"every frame they sent ({len(readings)} frames)" in page
    status = json.loads((out / "run.json").read_text())
    assert status["status"] == "done" and status["arguments"]["slots"] == [46, 54]
    assert set(status["timings"]) == {"community", "meters", "records", "kernel", "chain",
                                      "check", "report"}
    summary = report.summary()
    assert str(report.index) in summary and all(h in summary for h in ("h00", "h01", "h02"))


def test_an_auction_day_clears_on_chain_as_in_the_kernel(tmp_path):
    day = next_summer_day()
    report = run_day(households=3, date=day, method="auction", slots=range(48, 52),
                     out=tmp_path / "auction", progress=False)
    bills, slots, clearing = report.bills, report.slots, report.kernel
    net = report.energy.import_wh.astype(np.int64) - report.energy.export_wh
    bid_qty, ask_qty = np.maximum(net, 0).T, np.maximum(-net, 0).T
    assert (clearing.bid_fills <= bid_qty).all() and (clearing.ask_fills <= ask_qty).all()
    assert not clearing.bid_fills[bid_qty < MIN_ORDER_WH].any()  # too small to order
    assert slots.traded_wh.tolist() == clearing.volume.tolist()
    assert (slots.traded_wh > 0).any()  # a sunny noon: the producer sells to its neighbours
    traded = slots[slots.traded_wh > 0]
    assert traded.buy_price.between(GRID_SELL, GRID_BUY).all()
    assert (traded.buy_price == traded.sell_price).all()
    assert (slots.grid_import_wh == slots.demand_wh - slots.traded_wh).all()
    # each household pays for its trades at the clearing price (buyers rounded up, sellers
    # down) and buys or sells the rest at the grid's prices
    price = np.maximum(clearing.price, 0)[:, None]
    trades = (-(-clearing.bid_fills * price // 1000) - clearing.ask_fills * price // 1000).T
    rest = reference.settle(bid_qty.T - clearing.bid_fills.T, ask_qty.T - clearing.ask_fills.T,
                            GRID_BUY, GRID_SELL, "none")
    assert bills.kernel_ueur.tolist() == (trades + rest.payments).sum(axis=1).tolist()
    assert slots.rounding_ueur.tolist() == trades.sum(axis=0).tolist()
    assert slots.grid_bill_ueur.tolist() == rest.payments.sum(axis=0).tolist()
    assert bills.chain_ueur.tolist() == bills.kernel_ueur.tolist()
    assert set(report.contracts) == {"EnergyCredit", "AuctionMarket"}
    assert report.gas.set_index("function").loc["clear", "calls"] == 4


@pytest.mark.parametrize("method", settlement.ACC_METHODS)
def test_a_collective_self_consumption_day_settles_off_chain(tmp_path, monkeypatch, method):
    """The French keys: the meters' day settled by the kernel alone, each household paying what
    the plain reference says; no chain is made, and the report says why none is needed."""
    def no_chain(*args, **kwargs):
        raise AssertionError("an ACC day made a chain")

    monkeypatch.setattr(arguments, "Chain", no_chain)
    out = tmp_path / "acc"
    report = run_day(households=3, date="2026-06-21", method=method, slots=NOON, out=out,
                     progress=False)
    energy = report.energy
    expected = reference.settle(energy.import_wh, energy.export_wh, GRID_BUY, GRID_SELL, method)
    assert (report.kernel.payments == expected.payments).all()
    bills = pd.read_csv(out / "bills.csv", dtype={"meter_id": str})
    assert bills.kernel_ueur.tolist() == expected.payments.sum(axis=1).tolist()
    assert bills.savings_ueur.sum() > 0  # the producer's noon export is shared
    assert "chain_ueur" not in bills
    slots = pd.read_csv(out / "slots.csv")
    assert slots.grid_bill_ueur.tolist() == expected.grid_bill.tolist()
    assert slots.rounding_ueur.tolist() == expected.rounding.tolist()
    assert (slots.traded_wh == slots.demand_wh - expected.grid_import_wh).all()
    assert (slots.traded_wh == slots.surplus_wh - expected.grid_export_wh).all()
    assert slots.traded_wh.sum() > 0

    status = json.loads((out / "run.json").read_text())
    assert status["status"] == "done" and "contracts" not in status
    assert list(status["timings"]) == ["community", "meters", "records", "kernel", "check",
                                       "report"]
    assert report.contracts == {} and report.gas is None and not (out / "gas.csv").exists()
    page = (out / "index.html").read_text()
    assert "settled by the kernel, off chain" in page and "<h2>Why no chain</h2>" in page
    assert "certified meter curves" in page and "gas.csv" not in page
    assert "settled off chain" in report.summary()


def test_an_off_chain_method_takes_no_node(tmp_path):
    with pytest.raises(RunArgumentError, match="acc_static settles off chain"):
        run_day(method="acc_static", rpc="http://127.0.0.1:9", out=tmp_path / "r",
                progress=False)
    assert not (tmp_path / "r").exists()


def test_a_need_below_the_smallest_order_is_served_by_the_grid():
    """The auction takes no order under MIN_ORDER_WH (the contract refuses it): a 4 Wh need is
    not bid, and its household buys it from the grid at the grid's price."""
    imports = np.array([[4, 500]], dtype=np.int64)   # one household, two slots
    exports = np.zeros_like(imports)
    orders = market.auction_orders(imports, exports, seed=0)
    assert orders[1].tolist() == [[0], [500]]
    clearing = settlement.clear_double_auction_slots(*orders)
    trades, rest = market.auction_payments(clearing, imports, exports)
    assert not trades.any()  # nobody sells: nothing trades
    # at GRID_BUY = 194 000 µ€/kWh: 4 Wh x 194 = 776 µ€, 500 Wh x 194 = 97 000 µ€
    assert GRID_BUY == 194_000 and rest.tolist() == [[776, 97_000]]


def test_auction_payments_round_each_trade_in_the_communitys_favour_worked_by_hand():
    """One slot: h0 needs 500 Wh and h1 has 400 Wh to sell; 333 Wh trade at 150 001 µ€/kWh."""
    imports, exports = np.array([[500], [0]]), np.array([[0], [400]])
    clearing = settlement.Clearing(np.array([333]), np.array([150_001]), np.array([[333, 0]]),
                                   np.array([[0, 333]]), np.zeros(0))
    trades, rest = market.auction_payments(clearing, imports, exports)
    # 333 Wh x 150 001 µ€/kWh / 1000 = 49 950.333 µ€: the buyer pays 49 951 (up), the seller
    # gets 49 950 (down), and the community keeps the 1 µ€
    assert trades.tolist() == [[49_951], [-49_950]]
    # the rest at the grid's prices: h0 buys 500 - 333 = 167 Wh x 194 = 32 398 µ€, h1 sells
    # 400 - 333 = 67 Wh x 40 (GRID_SELL = 40 000 µ€/kWh) = 2 680 µ€
    assert GRID_SELL == 40_000 and rest.tolist() == [[32_398], [-2_680]]


def test_a_meters_indexes_are_its_anchor_plus_the_energy_counted_since():
    # h0 starts at 1 000 Wh and imports 10 then 20; h1 starts at 50 and imports 0 then 5
    rows = market.indexes([1_000, 50], np.array([[10, 20], [0, 5]]))
    assert rows.tolist() == [[1_000, 50], [1_010, 50], [1_030, 55]]


def test_a_slots_demand_and_surplus_are_its_net_imports_and_net_exports():
    # slot 0: h0 nets +300, h1 -500; slot 1: h0 -50, h1 +10 (a meter's own export nets first)
    demand, surplus = checks.demand_and_surplus(np.array([[300, 0], [0, 10]]),
                                                np.array([[0, 50], [500, 0]]))
    assert demand.tolist() == [300, 10] and surplus.tolist() == [500, 50]


def test_a_payment_on_chain_one_micro_euro_off_the_kernels_is_named():
    """h0 imports 300 Wh and h1 exports 500 in slot 100, mid-market rate: the price is
    (194 000 + 40 000) / 2 = 117 000 µ€/kWh; h0 pays 300 x 117 = 35 100 µ€, h1 gets those and
    200 Wh x 40 = 8 000 µ€ from the grid, 43 100 µ€ (the grid bill is -8 000)."""
    kernel = settlement.settle(np.array([[300], [0]]), np.array([[0], [500]]), GRID_BUY,
                               GRID_SELL, "mmr")
    assert kernel.payments.tolist() == [[35_100], [-43_100]]
    plans = [MeterPlan(f"h0{i}", f"00000000000{i}", "historic", 1, False) for i in (0, 1)]
    on_chain = {"paid": np.array([[35_100], [-43_099]]), "grid_bill": np.array([-8_000]),
                "rounding": np.array([0])}
    with pytest.raises(SettlementMismatch) as caught:
        checks.check_community(kernel, on_chain, plans, np.array([100]))
    assert caught.value.mismatches == ["h01 in slot 100: chain -43099 µ€, kernel -43100 µ€"]
    on_chain["paid"][1, 0] = -43_100
    checks.check_community(kernel, on_chain, plans, np.array([100]))  # agreed: no error


@pytest.mark.parametrize("kwargs, message", [
    ({"households": 0}, "households=0: give a whole number from 1 to 50"),
    ({"method": "vickrey"}, "method='vickrey': use one of mmr, bill_sharing, sdr, auction, "
                            "acc_static, acc_dynamic_default, acc_dynamic_simple"),
    ({"date": "2026-02-30"}, "date='2026-02-30': give a day as YYYY-MM-DD"),
    # the meters' horodate holds 2000 to 2099; they start the day before, end the day after
    ({"date": "1970-01-02"}, "date='1970-01-02': give a day from 2000-01-02 to 2099-12-30"),
    ({"date": date(2000, 1, 1)}, "date='2000-01-01': give a day from 2000-01-02 to 2099-12-30"),
    ({"date": "2099-12-31"}, "date='2099-12-31': give a day from 2000-01-02 to 2099-12-30"),
    ({"date": date(9999, 12, 31)}, "give a day from 2000-01-02 to 2099-12-30"),
    ({"rpc": "ftp://node"}, "rpc='ftp://node': give a JSON-RPC node's URL (http or https)"),
])
def test_run_day_refuses_bad_arguments_before_starting(tmp_path, kwargs, message):
    """The command line refuses these at parse time (tests/test_cli_errors.py); the library
    refuses them too, for a caller from Python."""
    out = tmp_path / "report"
    with pytest.raises(RunArgumentError, match=re.escape(message)):
        run_day(out=out, progress=False, **kwargs)
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--slots", "97"], "slots=97: give a whole number from 1 to 96"),
    (["--method", "auction", "--date", "2026-06-21"], "the chain's clock"),
    (["--method", "acc_dynamic_simple", "--rpc", "http://127.0.0.1:8545"], "settles off chain"),
])
def test_bad_arguments_give_one_line_and_exit_2(tmp_path, capsys, args, message):
    out = tmp_path / "report"
    assert main(["run", "--out", str(out), *args]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error and error.startswith("daisee-lab run: ")
    assert not out.exists()  # nothing was started


def test_a_node_that_does_not_answer_is_a_runtime_failure_exit_1(tmp_path, capsys):
    """The URL is well formed, so the argument is right; nothing answering there is a failure
    of the moment (exit 1) with the cause and what to do, in one line and no traceback."""
    out = tmp_path / "report"
    assert main(["run", "--out", str(out), "--rpc", "http://127.0.0.1:9"]) == 1
    error = capsys.readouterr().err
    assert error == ("daisee-lab: error: cannot reach a JSON-RPC node at http://127.0.0.1:9 "
                     "(connection refused): check the address and that the node is running\n")


def test_an_unusable_report_folder_is_refused(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "file").write_text("")
    for out, message in ((tmp_path, "holds other files"), (tmp_path / "file", "is a file")):
        assert main(["run", "--out", str(out)]) == 2
        assert message in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_mismatch_fails_loudly_and_keeps_what_was_recorded(tmp_path, capsys, monkeypatch):
    real = settlement.settle

    def off_by_one(consumption, production, buy, sell, method="mmr", window=None):
        result = real(consumption, production, buy, sell, method, window)
        if method != "none":
            result.payments[0, -1] += 1
        return result

    monkeypatch.setattr(settlement, "settle", off_by_one)
    out = tmp_path / "day"
    assert main(["run", "--households", "2", "--slots", "2", "--out", str(out)]) == 1
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith("daisee-lab: error: the chain and the kernel disagree: h00 in slot")
    with Recorder(out / "readings.sqlite") as recorder:
        assert recorder.to_dataframe().meter_id.nunique() == 2
    status = json.loads((out / "run.json").read_text())
    assert status["status"].startswith("failed: the chain and the kernel disagree")
    assert status["timings"]["meters"] > 0 and not (out / "bills.csv").exists()
    assert main(["run", "--households", "0", "--out", str(out)]) == 2  # a report folder: reused


def test_meters_that_differ_from_the_profiles_fail_the_run(tmp_path, monkeypatch):
    real = fleet._SlotProfile.__call__

    def four_watts_more_at_noon(self, t):  # in the simulators, forked with it
        load_w, pv_w = real(self, t)
        return load_w + 4 * (t.hour == 12 and t.minute < 15), pv_w  # 1 Wh more in one slot

    monkeypatch.setattr(fleet._SlotProfile, "__call__", four_watts_more_at_noon)
    out = tmp_path / "day"
    with pytest.raises(MeterMismatch) as caught:
        run_day(households=2, date="2026-06-21", slots=NOON, out=out, progress=False)
    profile = community.profiles(community.make_households(2, 0), date(2026, 6, 21), 1, 0)
    expected = []
    for name, change in (("import_wh", 1), ("export_wh", -1)):  # a producer exports 1 Wh less
        wh = getattr(profile, name)[:, 48]
        expected += [f"h0{h} in slot {int(profile.slots[48])}: {name} {wh[h] + change} from its "
                     f"meter, {wh[h]} in its profile"
                     for h in (0, 1) if (name == "export_wh") == (profile.export_wh[h, 48] > 0)]
    assert caught.value.mismatches == expected and len(expected) == 2
    assert json.loads((out / "run.json").read_text())["status"].startswith(
        "failed: the meters and the profiles disagree: h00 in slot")


def test_a_frame_decoded_but_not_recorded_fails_the_run(tmp_path, monkeypatch):
    real, calls = tic.Frame.reading, []

    def lose_the_tenth(frame):
        calls.append(frame)
        if len(calls) == 10:
            raise tic.TicError("lost to a test")
        return real(frame)

    monkeypatch.setattr(tic.Frame, "reading", lose_the_tenth)
    with pytest.raises(RunError, match=r"frames were lost: meter \d{12} \(h00\): its simulator "
                       r"made 13 frames, its reader decoded 13 and recorded 12"):
        run_day(households=1, date="2026-06-21", slots=range(48, 50), out=tmp_path / "day",
                progress=False)


def test_ctrl_c_stops_the_meters_and_keeps_what_was_recorded(tmp_path):
    out = tmp_path / "interrupted"
    run = subprocess.Popen([sys.executable, "-m", "daisee_lab.cli", "run", "--households", "20",
                            "--out", str(out)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: recorded(out) >= 4 or run.poll() is not None, 60, "four readings recorded")
    assert run.poll() is None, run.stderr.read()
    run.send_signal(signal.SIGINT)
    assert run.wait(30) == 130
    status = json.loads((out / "run.json").read_text())
    assert status["status"] == "interrupted"
    assert "meters" not in status["timings"]  # it was reading the meters
    assert recorded(out) >= 4
    wait_until(lambda: not processes_naming(out), 10, "every simulator gone with the run")


def processes_naming(path: Path) -> list[str]:
    """The processes whose command line mentions `path`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(path).encode() in cmdline.read_bytes():
                found.append(cmdline.parent.name)
        except OSError:
            continue  # it ended meanwhile
    return found


def recorded(out: Path) -> int:
    """Rows in the run's recorder database so far (0 before it exists)."""
    try:
        with sqlite3.connect(f"file:{out / 'readings.sqlite'}?mode=ro", uri=True) as db:
            return db.execute("SELECT count(*) FROM readings").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_a_clearing_the_auction_contract_refuses_fails_the_run_naming_the_slot(tmp_path,
                                                                               monkeypatch):
    """The contract verifies the kernel's clearing: one Wh more than the books clear to, in the
    first slot, and the run stops with a SettlementMismatch that names that slot."""
    real = settlement.clear_double_auction_slots

    def one_wh_more(*orders):
        clearing = real(*orders)
        clearing.volume[0] += 1
        return clearing

    monkeypatch.setattr(settlement, "clear_double_auction_slots", one_wh_more)
    day = next_summer_day()
    with pytest.raises(SettlementMismatch, match=r"slot \d+: the contract refused the "
                       r"kernel's clearing") as caught:
        run_day(households=2, date=day, method="auction", slots=range(48, 50),
                out=tmp_path / "auction", progress=False)
    assert len(caught.value.mismatches) == 1
    assert caught.value.mismatches[0].startswith(f"slot {day_slots(day)[48]}: ")
