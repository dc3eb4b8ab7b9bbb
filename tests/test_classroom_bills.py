"""A slot's bills (daisee_lab.classroom.bills) on small cases worked out by hand."""

import pandas as pd

from daisee_lab.classroom.bills import COLUMNS, auction_flows, format_slot, leaderboard, slot_bills

PRICE = 150_001  # µ€/kWh, the clearing price: 333 Wh at it is 49,950.333 µ€
GRID_BUY, GRID_SELL = 200_000, 100_001  # µ€/kWh
A, B, C = "0xA", "0xB", "0xC"
SEALED, OPENED = b"\x01" * 32, bytes(32)  # a commitment's hash: still sealed, or opened


def book():
    """A bought 333 Wh; B sold 333 Wh and showed 300 delivered (33 Wh short, charged 33 Wh at
    the grid's 200,000 µ€/kWh: 6,600 µ€ out of its bond); A left an order of 500 µ€ sealed,
    B opened its own; C placed no order."""
    bids = pd.DataFrame({"trader": [A], "filled": [333]})
    asks = pd.DataFrame({"trader": [B], "filled": [333]})
    deliveries = pd.DataFrame({"seller": [B], "delivered_wh": [300], "charge": [6_600]})
    commitments = [(A, 500, SEALED), (B, 700, OPENED)]
    return bids, asks, deliveries, commitments


def test_auction_flows_round_the_buyer_up_and_the_seller_down():
    bids, asks, deliveries, commitments = book()
    # A: ceil(49,950.333) = 49,951 for its bid, plus its sealed order's 500 forfeited
    assert auction_flows(A, bids, asks, PRICE, deliveries, commitments) == {
        "bought_wh": 333, "sold_wh": 0, "delivered_wh": 0, "auction_ueur": 50_451}
    # B: -floor(49,950.333) = -49,950 for its sale, plus the 6,600 charged for the shortfall
    assert auction_flows(B, bids, asks, PRICE, deliveries, commitments) == {
        "bought_wh": 0, "sold_wh": 333, "delivered_wh": 300, "auction_ueur": -43_350}
    assert auction_flows(C, bids, asks, PRICE, deliveries, commitments) == {
        "bought_wh": 0, "sold_wh": 0, "delivered_wh": 0, "auction_ueur": 0}


def test_slot_bills_price_the_rest_at_the_grid_and_compare_with_the_grid_alone():
    bids, asks, deliveries, commitments = book()
    flows = [auction_flows(t, bids, asks, PRICE, deliveries, commitments) for t in (A, B, C)]
    energy = [(1000, 0), (20, 500), (250, 0)]  # (import, export) Wh per learner
    table = slot_bills(7, ["a", "b", "c"], energy, flows, PRICE, 333, GRID_BUY, GRID_SELL)
    assert list(table.columns) == COLUMNS
    rows = table.set_index("learner")
    # a: rest 1000 - 333 = 667 Wh from the grid, 667 x 200 = 133,400; alone 1000 x 200
    # b: rest -480 + 300 delivered = -180 Wh to the grid, -floor(180 x 100.001) = -18,000;
    #    alone -floor(480 x 100.001) = -floor(48,000.48) = -48,000
    # c: no order, 250 x 200 = 50,000 either way
    expected = {  # auction, grid, bill, baseline, savings (µ€), traded (Wh)
        "a": (50_451, 133_400, 183_851, 200_000, 16_149, 333),
        "b": (-43_350, -18_000, -61_350, -48_000, 13_350, 333),
        "c": (0, 50_000, 50_000, 50_000, 0, 0)}
    for name, values in expected.items():
        row = rows.loc[name]
        assert (row.auction_ueur, row.grid_ueur, row.bill_ueur, row.baseline_ueur,
                row.savings_ueur, row.traded_wh) == values, name
    assert rows.loc["b", ["import_wh", "export_wh", "sold_wh", "delivered_wh"]].tolist() == [
        20, 500, 333, 300]
    assert (table.slot == 7).all() and (table.price == PRICE).all()
    assert (table.volume_wh == 333).all()


def test_leaderboard_ranks_by_savings_then_energy_traded():
    results = pd.DataFrame({
        "learner": ["a", "b", "c", "a", "b", "c"],
        "bill_ueur": [10, 20, 30, 10, 20, 30], "baseline_ueur": [15, 20, 35, 15, 25, 30],
        "savings_ueur": [5, 0, 5, 5, 5, 0], "traded_wh": [1, 0, 4, 1, 3, 0]})
    board = leaderboard(results)
    # savings: a 10, b 5, c 5; b and c tie, c traded 4 Wh and b 3: c first
    assert board.learner.tolist() == ["a", "c", "b"]
    assert board.index.tolist() == [1, 2, 3] and board.index.name == "rank"
    assert board.loc[1].tolist() == ["a", 20, 30, 10, 2]
    assert leaderboard(results.iloc[:0]).empty


def test_format_slot_shows_the_price_in_euros_and_the_rooms_savings():
    bids, asks, deliveries, commitments = book()
    flows = [auction_flows(t, bids, asks, PRICE, deliveries, commitments) for t in (A, B)]
    table = slot_bills(7, ["a", "b"], [(1000, 0), (20, 500)], flows, PRICE, 333, GRID_BUY,
                       GRID_SELL)
    text = format_slot(table, table)
    # savings 16,149 + 13,350 = 29,499 µ€
    assert text.startswith("slot 7: 333 Wh traded, 0.1500 €/kWh; room saved +0.0295 €\n")
    quiet = slot_bills(8, ["a"], [(5, 0)], [auction_flows(A, bids.iloc[:0], asks.iloc[:0], 0,
                                                          deliveries.iloc[:0], [])],
                       0, 0, GRID_BUY, GRID_SELL)
    assert format_slot(quiet, quiet).startswith("slot 8: 0 Wh traded, no trade; room saved")
