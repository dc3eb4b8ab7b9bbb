"""The classroom: a whole room on loopback (anvil, 20 learners in threads, 10 slots) whose slots
all clear as the kernel, settle, conserve credits and bill exactly the auction plus the grid;
bad orders, a learner who leaves and one who vanishes; anvil missing, busy or dying; join codes.
"""

import json
import os
import socket
import threading
from types import SimpleNamespace

import pandas as pd
import pytest
from bill_checks import check_bill
from eth_account import Account
from polling import wait_until

from daisee_lab.chain import TransactionReverted
from daisee_lab.chain.anvil import AnvilError, free_port
from daisee_lab.classroom import (Classroom, ClassroomError, Dashboard, Phase, SerialMeter, join,
                                  stop)
from daisee_lab.cli import main
from daisee_lab.contracts import MAX_PRICE
from daisee_lab.simulator import MeterSimulator
from daisee_lab.settlement import clear_double_auction
from daisee_lab.units import MIN_ORDER_WH

pytestmark = pytest.mark.slow  # a classroom on anvil in each test: seconds to a minute

LEARNERS, SLOTS, CREDITS = 20, 10, 20_000_000
GONE, LEAVER = 1, 2  # seats: one vanishes mid-round, one leaves the market after a bad order
K = 4  # in chain slot first + K they act, so their orders for first + K + 1 go wrong


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """The room, run to the end and still open for inspection. Seat GONE is stepped by the
    clock itself (so the test knows exactly what it did) until it vanishes in the reveal phase
    of slot first + K, leaving a sealed order; seat LEAVER places three bad orders then, and
    trades no more."""
    out = tmp_path_factory.mktemp("room")
    room = Classroom(LEARNERS, out, port=None, slots=SLOTS, slot_seconds=12, seed=3)
    with room:
        kept = [out / f"seat-{i}.json" for i in range(LEARNERS)]
        learners = [join(room.url, seat.code, keep=kept[i]) for i, seat in enumerate(room.seats)]
        learners[1::2] = [join(path) for path in kept[1::2]]  # reconnect from the kept seat
        first = room.schedule.first_slot
        gone, leaver = learners[GONE], learners[LEAVER]
        caught = {}

        def clock_hook(phase):
            if phase.slot < first + K or phase == Phase(first + K, "commit"):
                gone.step(auto=True)
            if phase == Phase(first + K, "commit"):
                for name, order in (("price", lambda: leaver.bid(MAX_PRICE + 1, 100)),
                                    ("tiny", lambda: leaver.bid(200_000, MIN_ORDER_WH - 1)),
                                    ("wallet", lambda: leaver.bid(200_000, 100, deposit=(
                                        leaver.balances()["wallet"] + 1)))):
                    try:
                        order()
                    except Exception as exc:  # noqa: BLE001 - asserted by the tests
                        caught[name] = exc
                caught["small"] = leaver.bid(200_000, 100, deposit=1)
                leaver.auto = False

        room.on_phase.append(clock_hook)
        for i, learner in enumerate(learners):
            if i != GONE:
                learner.start(auto=True)
        results = room.run()
        for learner in learners:
            learner.stop()
        yield SimpleNamespace(room=room, learners=learners, results=results, first=first,
                              caught=caught, market=room.auction.market)


def slots_of(session):
    return range(session.first, session.first + SLOTS)


def test_every_slot_clears_as_the_kernel_and_settles(session):
    room, results, market = session.room, session.results, session.market
    assert len(results) == LEARNERS * SLOTS
    assert results.slot.unique().tolist() == list(slots_of(session))
    pd.testing.assert_frame_equal(pd.read_csv(room.results_path), results, check_dtype=False)
    traded = 0
    for slot in slots_of(session):
        bids, asks = room.auction.book(slot)
        kernel = clear_double_auction(bids.price.to_numpy(), bids.qty.to_numpy(),
                                      asks.price.to_numpy(), asks.qty.to_numpy())
        _, _, cleared, price, volume = market.rounds(slot)
        assert cleared and (volume, price) == (kernel.volume, max(kernel.price, 0))
        assert room.clearings[slot].volume == volume  # what the clock submitted
        assert bids.filled.tolist() == kernel.bid_fills.tolist()
        assert asks.filled.tolist() == kernel.ask_fills.tolist()
        row = results[results.slot == slot].iloc[0]
        assert (row.volume_wh, row.price) == (volume, price)
        assert (bids.escrow == 0).all() and (asks.escrow == 0).all()  # every sale settled
        # the book holds exactly the orders the learners opened, nobody else's
        opened = sorted((one.account.address, o.price, o.qty) for one in session.learners
                        for o in one.orders_placed if o.slot == slot and one.opened(o) is not None)
        on_chain = sorted((t, p, q) for side in (bids, asks)
                          for t, p, q in zip(side.trader, side.price, side.qty))
        assert opened == on_chain
        traded += volume
    assert traded > 0


def test_credits_are_conserved_and_positions_match_the_bills(session):
    room, market = session.room, session.market
    credit = room.auction.credit
    accounts = [one.account.address for one in session.learners]
    minted = credit.totalSupply()
    assert minted == LEARNERS * CREDITS
    wallets = sum(credit.balanceOf(a) for a in accounts)
    balances = {a: market.balanceOf(a) for a in accounts + [room.grid]}
    assert minted == wallets + credit.balanceOf(market.address)
    assert credit.balanceOf(market.address) == sum(balances.values()) + market.communityBalance()
    # what each learner's credits became = what its bills say it paid in the auction
    paid = session.results.groupby("learner").auction_ueur.sum()
    for learner in session.learners:
        left = credit.balanceOf(learner.account.address) + balances[learner.account.address]
        assert CREDITS - left == paid[learner.name]


def test_bills_are_the_auction_payments_plus_the_grid_remainder(session):
    """Each bill's energy is what its meter signed in the ledger, its trades what the book
    filled and what its sales showed delivered. Its money is checked exactly on hand-worked
    cases in test_classroom_bills.py; here, against the exact (fractional) amounts: each
    rounding is less than 1 µ€, in the room's favour, and the bill adds up."""
    room, market, results = session.room, session.market, session.results
    readings = {(e.args.meter, e.args.slot): (e.args.importWh, e.args.exportWh)
                for e in room.ledger.web3.events.ReadingAccepted.get_logs(from_block=0)}
    for slot in slots_of(session):
        bids, asks = room.auction.book(slot)
        price = market.rounds(slot)[3]
        shown = market.web3.events.Delivered.get_logs(argument_filters={"slot": slot},
                                                      from_block=0)
        sealed = market.commitments(slot)
        billed = results[results.slot == slot].set_index("learner")
        used_by_all = []
        for learner in session.learners:
            meter = learner.meter_address
            before, after = readings.get((meter, slot - 1)), readings.get((meter, slot))
            used = (after[0] - before[0], after[1] - before[1]) if before and after else (0, 0)
            check_bill(billed.loc[learner.name], used, learner.account.address, bids, asks,
                       shown, sealed, price)
            used_by_all.append(sum(used))
        assert all(used_by_all)  # every meter reports, its learner gone or not


def test_a_bad_order_reverts_with_its_reason_and_the_round_goes_on(session):
    caught, leaver = session.caught, session.learners[LEAVER]
    assert isinstance(caught["price"], ClassroomError)
    assert "price must be an integer in [0, 10000000]" in str(caught["price"])
    assert f"qty must be an integer in [{MIN_ORDER_WH}, " in str(caught["tiny"])
    assert isinstance(caught["wallet"], TransactionReverted)
    assert caught["wallet"].revert.name == "ERC20InsufficientBalance"
    slot = session.first + K + 1
    refused = [e for s, e in leaver.errors if s == slot]
    assert [e.revert.name for e in refused] == ["ERC20InsufficientBalance", "InsufficientDeposit"]
    assert refused[1].revert.args == {"deposit": 1, "required": 20_000}
    assert "AuctionMarket.reveal reverted: InsufficientDeposit" in str(refused[1])
    assert caught["small"].slot == slot
    logged = [what for seat, what in session.room.failures if seat == leaver.name]
    assert any("refused on chain: InsufficientDeposit" in what for what in logged)
    row = session.results[(session.results.slot == slot)]
    assert row.volume_wh.iloc[0] > 0  # the others traded
    assert row.set_index("learner").auction_ueur[leaver.name] >= 1  # the sealed deposit is lost


def test_who_stops_trading_pays_grid_prices_and_who_vanishes_loses_its_sealed_order(session):
    results, first = session.results, session.first
    leaver, gone = session.learners[LEAVER], session.learners[GONE]
    later = results[(results.learner == leaver.name) & (results.slot > first + K + 1)]
    assert len(later) == SLOTS - K - 2 and (later.traded_wh == 0).all()
    assert (later.import_wh + later.export_wh > 0).all()  # its meter still reports
    assert (later.bill_ueur == later.baseline_ueur).all()
    quiet = results[(results.traded_wh == 0) & (results.auction_ueur == 0)]
    assert (quiet.bill_ueur == quiet.baseline_ueur).all()  # nobody else is billed otherwise
    # the vanished learner: its order for first + K + 1 stays sealed and its deposit is lost
    (order,) = [o for o in gone.orders_placed if o.slot == first + K + 1]
    sealed = session.market.commitments(first + K + 1)[order.id]
    assert sealed[0] == gone.account.address and any(sealed[2])
    mine = results[results.learner == gone.name].set_index("slot")
    assert mine.auction_ueur[first + K + 1] == order.deposit
    assert (mine.loc[first + K + 2:, "traded_wh"] == 0).all()
    assert (mine.loc[first + K + 2:, "import_wh"] + mine.loc[first + K + 2:, "export_wh"]
            > 0).all()  # the house goes on: its meter, the room's, still reports


def test_join_codes_are_single_use_and_seats_reconnect_with_clear_errors(session, tmp_path):
    room = session.room
    assert all(seat.code is None and seat.joined for seat in room.seats)
    page = (room.out_dir / "joins" / "index.html").read_text()
    assert room.url in page and not any(s.token in page for s in room.seats)
    kept = json.loads((room.out_dir / "seat-3.json").read_text())
    assert kept["seat"]["contracts"]["auction"] == session.market.address
    assert Account.from_key(kept["account_key"]).address == session.learners[3].account.address
    assert "meter_key" not in json.dumps(kept) and "key" not in json.dumps(kept["seat"])
    assert oct((room.out_dir / "seat-3.json").stat().st_mode & 0o777) == "0o600"
    with pytest.raises(ClassroomError, match="refused to seat you: unknown or already used"):
        join(room.url, "AAAA-AAAA")
    with pytest.raises(ClassroomError, match="cannot read seat file .*missing.json"):
        join(tmp_path / "missing.json")
    (tmp_path / "garbled.json").write_text("{url: ")
    with pytest.raises(ClassroomError, match="is not JSON"):
        join(tmp_path / "garbled.json")
    with pytest.raises(ClassroomError, match="has no 'account_key'"):
        join({"seat": kept["seat"]})
    with pytest.raises(ClassroomError, match="no classroom market at"):
        join({**kept, "seat": {**kept["seat"], "contracts": {
            **kept["seat"]["contracts"], "auction": Account.create().address}}})
    with pytest.raises(ClassroomError, match="cannot reach a JSON-RPC node"):
        join({**kept, "seat": {**kept["seat"], "rpc": f"http://127.0.0.1:{free_port()}"}})
    with pytest.raises(ClassroomError, match="cannot reach the room"):
        join(f"http://127.0.0.1:{free_port()}", "AAAA-AAAA")


def test_dashboard_shows_the_phase_and_the_leaderboard(session):
    board = Dashboard(session.room)
    best = session.room.leaderboard().iloc[0]
    assert best.savings_ueur == session.results.groupby("learner").savings_ueur.sum().max()
    assert f"<td>{best.learner}</td>" in board.board.value
    board.show_phase(Phase(session.first + 1, "reveal"))
    assert "slot 2 of 10" in board.status.value and "reveal" in board.status.value
    board.show_phase(Phase(session.first + SLOTS, "commit"))
    assert "the 10 slots are played" in board.status.value


def test_anvil_missing_or_its_port_taken_is_a_clear_error(tmp_path, monkeypatch):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(AnvilError, match=f"port {port} on 127.0.0.1 is already taken"):
            Classroom(2, tmp_path, port=port).open()
    monkeypatch.setattr("daisee_lab.chain.anvil.node_modules_dirs", lambda: [])
    monkeypatch.setenv("PATH", "")
    with pytest.raises(AnvilError, match="anvil is not installed: run `make setup`"):
        Classroom(2, tmp_path, port=None).open()
    assert not (tmp_path / "running").exists()


def test_anvil_dying_mid_session_stops_cleanly_and_keeps_the_results(tmp_path, capsys):
    """Two learners in notebooks, one with `daisee-lab classroom join`; the node dies after
    the first slot is billed."""
    room = Classroom(3, tmp_path, port=None, slots=4, slot_seconds=6)

    def kill_the_node(table):
        os.kill(room.anvil.process.pid, 9)

    with room:
        learners = [join(room.url, seat.code) for seat in room.seats[1:]]
        for learner in learners:
            learner.patience = 1  # then give up on the dead node
            learner.start(auto=True)
        cli = {}
        command = threading.Thread(target=lambda: cli.update(code=main(
            ["classroom", "join", room.url, "--code", room.seats[0].code,
             "--keep", str(tmp_path / "seat.json"), "--patience", "1"])))
        command.start()
        room.on_slot.append(kill_the_node)
        with pytest.raises(ClassroomError, match="anvil stopped .* 1 slots billed are kept in"):
            room.run()
        for learner in learners:
            assert learner.wait(timeout=10)
            learner.stop()
        command.join(timeout=10)
    kept = pd.read_csv(tmp_path / "results.csv")
    assert kept.slot.tolist() == [room.schedule.first_slot] * 3
    assert all(isinstance(one.failure, ClassroomError) and "lost the node" in str(one.failure)
               for one in learners)
    assert not room.anvil.alive() and not (tmp_path / "running").exists()
    printed = capsys.readouterr()
    assert cli["code"] == 1 and "learner-001 lost the node at" in printed.err
    assert f"slot {room.schedule.first_slot}: " in printed.out  # its first order


def test_serial_meter_keeps_each_slots_indexes_from_a_simulated_linky():
    with MeterSimulator(producer=True, seed=4, speed=20) as sim:
        meter = SerialMeter(sim.port)
        try:
            first = meter.wait_for_reading(timeout=20)
            assert first.meter_id == sim.meter_id
            assert meter.forecast(11) == 0  # nothing kept yet
            at_10 = meter.indexes(10)
            wait_until(lambda: (meter.latest.import_wh, meter.latest.export_wh) != at_10,
                       timeout=10, what="the simulated Linky's next Wh")
            at_11 = meter.indexes(11)
            assert meter.indexes(10) == at_10 and at_11 != at_10
            assert at_11[0] >= at_10[0] and at_11[1] >= at_10[1]
            assert meter.forecast(12) == (at_11[0] - at_10[0]) - (at_11[1] - at_10[1])
            with pytest.raises(ClassroomError, match="no reading kept for slot 9"):
                meter.indexes(9)
        finally:
            meter.close()


def test_cli_serves_until_stopped(tmp_path, capsys):
    out = tmp_path / "room"
    assert main(["classroom", "stop", "--out", str(out)]) == 1
    assert "no classroom is running in" in capsys.readouterr().err
    assert main(["classroom", "join", str(tmp_path / "nowhere.json")]) == 1
    assert "cannot read seat file" in capsys.readouterr().err

    def stop_when_running():
        wait_until((out / "running").exists, timeout=300, what="the room served")
        stop(out)

    stopper = threading.Thread(target=stop_when_running)
    stopper.start()
    assert main(["classroom", "serve", "--learners", "2", "--port", "0", "--out", str(out),
                 "--slot-seconds", "5", "--qr"]) == 0
    stopper.join()
    printed = capsys.readouterr().out
    assert "hand out the codes" in printed and "learner-002" in printed
    page, codes = ((out / "joins" / name).read_text() for name in ("index.html", "codes.html"))
    assert "▀" in printed and page.count("<svg") == 1
    assert codes.count("<code>") == 2 and not any(c in page for c in codes.split("<code>")[1:])
    assert f"results: {out / 'results.csv'}" in printed
    assert not (out / "running").exists()
