"""Community pricing: the reference against numbers computed by hand, the kernels against it."""

from dataclasses import fields

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from daisee_lab.settlement import intmath, kernels, reference
from daisee_lab.settlement.reference import MAX_PRICE, MAX_WH, METHODS, Settlement

IMPLEMENTATIONS = [reference.settle, kernels.settle]
FIELDS = [f.name for f in fields(Settlement)]
LB, LS = 200_000, 60_000  # 0.20 €/kWh import, 0.06 €/kWh feed-in


def assert_same(a, b):
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def assert_balanced(result, households, window=1):
    """The invariant, exactly in every slot, and the rounding account's bounds."""
    np.testing.assert_array_equal(result.payments.sum(axis=0), result.grid_bill + result.rounding)
    assert (result.rounding >= 0).all()
    assert (result.rounding <= (2 * households + 2 if window > 1 else households + 2)).all()


# --- hand-computed examples ---------------------------------------------------------------------
# One slot, three households: A draws 3000 Wh, B 1000 Wh, C produces 2500 Wh and uses 500 Wh.
# D = 4000 Wh, G = 2000 Wh, the community imports 2000 Wh: grid bill 2000·200000/1000 = 400000 µ€.
CONS = np.array([[3000], [1000], [500]])
PROD = np.array([[0], [0], [2500]])


@pytest.mark.parametrize("settle", IMPLEMENTATIONS)
def test_mmr_by_hand(settle):
    # Pmid = 130000; G < D: buyers pay (130000·2000 + 200000·2000)/4000 = 165000 µ€/kWh
    result = settle(CONS, PROD, LB, LS, "mmr")
    assert result.payments[:, 0].tolist() == [495_000, 165_000, -260_000]
    assert (result.buy_price[0], result.sell_price[0]) == (165_000, 130_000)
    assert (result.grid_import_wh[0], result.grid_export_wh[0]) == (2000, 0)
    assert (result.grid_bill[0], result.rounding[0]) == (400_000, 0)


@pytest.mark.parametrize("settle", IMPLEMENTATIONS)
def test_sdr_by_hand(settle):
    # SDR = 1/2: Psell = 200000·60000/(140000/2 + 60000) = 1200000/13 = 92307.69 µ€/kWh,
    # Pbuy = Psell/2 + 200000/2 = 1900000/13 = 146153.85 µ€/kWh.
    # A pays ceil(3·1900000/13) = ceil(438461.54), B ceil(146153.85), C gets floor(2·1200000/13)
    result = settle(CONS, PROD, LB, LS, "sdr")
    assert result.payments[:, 0].tolist() == [438_462, 146_154, -184_615]
    assert (result.buy_price[0], result.sell_price[0]) == (146_153, 92_307)
    # 438462 + 146154 - 184615 = 400001: one µ€ more than the grid bill, kept by the community
    assert (result.grid_bill[0], result.rounding[0]) == (400_000, 1)


@pytest.mark.parametrize("settle", IMPLEMENTATIONS)
def test_bill_sharing_by_hand_per_slot_and_daily(settle):
    # slot 0 as above; slot 1: nobody consumes, B and C each export 2000 Wh (revenue 240000 µ€)
    cons = np.array([[3000, 0], [1000, 0], [500, 0]])
    prod = np.array([[0, 0], [0, 2000], [2500, 2000]])
    per_slot = settle(cons, prod, LB, LS, "bill_sharing")
    # slot 0: import cost 400000 µ€ over D = 4000 Wh, 100000 µ€/kWh; C's surplus earns nothing
    assert per_slot.payments.tolist() == [[300_000, 0], [100_000, -120_000], [0, -120_000]]
    assert per_slot.sell_price.tolist() == [0, LS]
    billed = settle(cons, prod, LB, LS, "bill_sharing", window=2)
    # one bill for both slots: revenue 240000 µ€ over 6000 Wh of surplus, 40000 µ€/kWh, so C's
    # 4000 Wh earn 160000 µ€ and B's 2000 Wh 80000 µ€, netted with B's 100000 µ€ of demand
    assert billed.payments.tolist() == [[0, 300_000], [0, 20_000], [0, -160_000]]
    assert billed.buy_price.tolist() == [100_000, 100_000]
    assert billed.sell_price.tolist() == [40_000, 40_000]
    assert billed.grid_bill.tolist() == [0, 400_000 - 240_000]
    assert billed.grid_import_wh.tolist() == [2000, 0]  # physical flows stay per slot
    assert billed.payments.sum() == per_slot.payments.sum()  # same money, shared differently


@pytest.mark.parametrize("settle", IMPLEMENTATIONS)
def test_none_is_everyone_trading_with_the_grid(settle):
    result = settle(CONS, PROD, LB, LS, "none")
    # A: 3000 Wh at 0.20 €/kWh; C sells 2000 Wh at 0.06 €/kWh
    assert result.payments[:, 0].tolist() == [600_000, 200_000, -120_000]
    assert (result.grid_import_wh[0], result.grid_export_wh[0]) == (4000, 2000)
    assert (result.grid_bill[0], result.rounding[0]) == (680_000, 0)


@pytest.mark.parametrize("settle", IMPLEMENTATIONS)
def test_rounding_goes_up_in_and_down_out(settle):
    # 1 Wh at 200000 µ€/kWh is 200 µ€ exactly; 1 Wh at 333 µ€/kWh is 0.333 µ€: pay 1, receive 0
    result = settle(np.array([[1], [0]]), np.array([[0], [1]]), 333, 333, "none")
    assert result.payments[:, 0].tolist() == [1, 0]


# --- edge cases -----------------------------------------------------------------------------------

def random_community(seed, households=6, slots=40):
    rng = np.random.default_rng(seed)
    cons = rng.integers(0, 3000, (households, slots))
    prod = rng.integers(0, 6000, (households, slots)) * (rng.random((households, slots)) < 0.4)
    return cons, prod


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("side", ["no sellers", "no buyers"])
def test_one_sided_community_trades_with_the_grid(method, side):
    cons, prod = random_community(1)
    if side == "no sellers":
        cons, prod = cons + 1, np.zeros_like(prod)
    else:
        cons, prod = np.zeros_like(cons), cons + 1
    baseline = reference.settle(cons, prod, LB, LS, "none")
    for settle in IMPLEMENTATIONS:
        result = settle(cons, prod, LB, LS, method)
        np.testing.assert_array_equal(result.payments, baseline.payments)
        if side == "no sellers":
            np.testing.assert_array_equal(result.buy_price, LB)
        else:
            np.testing.assert_array_equal(result.sell_price, LS)
        assert_balanced(result, 6)


@pytest.mark.parametrize("settle", IMPLEMENTATIONS)
def test_balanced_slot(settle):
    # G = D = 2000 Wh: nothing crosses the grid
    cons, prod = np.array([[2000], [0]]), np.array([[0], [2000]])
    mmr = settle(cons, prod, LB, LS, "mmr")
    assert mmr.payments[:, 0].tolist() == [260_000, -260_000]  # both at Pmid = 130000
    assert (mmr.grid_import_wh[0], mmr.grid_export_wh[0], mmr.grid_bill[0]) == (0, 0, 0)
    sdr = settle(cons, prod, LB, LS, "sdr")  # SDR = 1: both at λs
    assert sdr.payments[:, 0].tolist() == [120_000, -120_000]
    shared = settle(cons, prod, LB, LS, "bill_sharing")  # no bill to share: energy is free
    assert shared.payments[:, 0].tolist() == [0, 0]


@pytest.mark.parametrize("method", METHODS)
def test_zero_prices_cost_nothing(method):
    cons, prod = random_community(2)
    for settle in IMPLEMENTATIONS:
        result = settle(cons, prod, 0, 0, method)
        for name in ("payments", "buy_price", "sell_price", "grid_bill", "rounding"):
            assert not getattr(result, name).any(), name


@pytest.mark.parametrize("method", METHODS)
def test_single_household_is_its_own_community(method):
    cons, prod = random_community(3, households=1)
    baseline = reference.settle(cons, prod, LB, LS, "none")
    for settle in IMPLEMENTATIONS:
        result = settle(cons, prod, LB, LS, method)
        np.testing.assert_array_equal(result.payments, baseline.payments)
        assert_balanced(result, 1)


@pytest.mark.parametrize("method", ["mmr", "sdr"])
def test_equal_prices_mean_one_price(method):
    cons, prod = random_community(4)
    baseline = reference.settle(cons, prod, 150_000, 150_000, "none")
    for settle in IMPLEMENTATIONS:
        result = settle(cons, prod, 150_000, 150_000, method)
        np.testing.assert_array_equal(result.payments, baseline.payments)
        np.testing.assert_array_equal(result.buy_price, 150_000)
        np.testing.assert_array_equal(result.sell_price, 150_000)


def test_bill_sharing_with_equal_prices_gives_sellers_only_the_export():
    cons, prod = random_community(5)
    result = kernels.settle(cons, prod, 150_000, 150_000, "bill_sharing")
    importing = result.grid_import_wh > 0
    assert importing.any()
    np.testing.assert_array_equal(result.sell_price[importing], 0)
    assert_same(result, reference.settle(cons, prod, 150_000, 150_000, "bill_sharing"))


def test_per_slot_prices_and_int32_inputs():
    cons, prod = random_community(6, slots=96)
    buy = np.where(np.arange(96) % 96 < 24, 150_000, 250_000)  # off-peak nights
    sell = np.full(96, 60_000)
    expected = reference.settle(cons, prod, buy, sell, "sdr")
    assert len(set(expected.buy_price.tolist())) > 2
    assert_same(kernels.settle(cons.astype(np.int32), prod.astype(np.uint16), buy, sell, "sdr"),
                expected)


@pytest.mark.parametrize("method,window", [(m, None) for m in METHODS]
                         + [("bill_sharing", 96), ("bill_sharing", 250)])
def test_kernel_matches_reference_across_tiles_and_chunks(method, window):
    # more slots than one kernel tile, more households than one chunk, and one slot so large
    # that it leaves the float fast path for the exact one
    cons, prod = random_community(7, households=23, slots=2500)
    cons[5, 1700] = MAX_WH // 4
    buy = np.random.default_rng(7).integers(100_000, 300_000, 2500)
    expected = reference.settle(cons, prod, buy, buy // 4, method, window)
    assert_same(kernels.settle(cons, prod, buy, buy // 4, method, window), expected)
    assert_balanced(expected, 23, window or 1)


# --- random inputs: the kernels give the reference's integers ---------------------------------

@st.composite
def markets(draw):
    households = draw(st.integers(1, 5))
    slots = draw(st.integers(1, 8))
    # small meters, or values big enough to leave the kernels' float fast path and use 128 bits
    top = draw(st.sampled_from([5, 3000, MAX_WH // (2 * households * slots)]))
    energy = arrays(np.int64, (households, slots), elements=st.integers(0, top))
    cons, prod = draw(energy), draw(energy)
    prod = prod * draw(arrays(np.bool_, (households, slots)))
    cap = draw(st.sampled_from([3, MAX_PRICE]))
    a = draw(arrays(np.int64, slots, elements=st.integers(0, cap)))
    b = draw(st.one_of(st.just(a), arrays(np.int64, slots, elements=st.integers(0, MAX_PRICE))))
    buy, sell = np.maximum(a, b), np.minimum(a, b)
    if draw(st.booleans()):
        buy, sell = int(buy.max()), int(sell.min())
    method = draw(st.sampled_from(METHODS))
    window = draw(st.sampled_from([None, 1, 2, 3])) if method == "bill_sharing" else None
    return cons, prod, buy, sell, method, window


@settings(deadline=None)
@given(markets())
def test_kernels_give_the_reference_integers(market):
    cons, prod, buy, sell, method, window = market
    expected = reference.settle(cons, prod, buy, sell, method, window)
    assert_same(kernels.settle(cons, prod, buy, sell, method, window), expected)
    assert_balanced(expected, cons.shape[0], window or 1)


@settings(deadline=None)
@given(st.integers(0, 2**63 - 1), st.integers(0, 2**63 - 1), st.integers(1, 2**63 - 1))
def test_128_bit_helpers(a, b, d):
    high, low = intmath.mul128(a, b)
    assert (int(high) << 64) + int(low) == a * b
    if (a * b) // d < 2**63:
        assert intmath.divmod128(np.uint64(high), np.uint64(low), d) == divmod(a * b, d)
    c = (a + b) // 2
    assert intmath.compare_products(a, b, c, d) == (a * b > c * d) - (a * b < c * d)


@settings(deadline=None)
@given(st.integers(0, 2**63 - 1), st.integers(1, 2**63 - 1))
def test_division_via_float_is_exact_within_its_bounds(x, b):
    """x // b and x % b from a float estimate, for every x < 2**63 whose quotient is < 2**50
    (the bound the kernels keep), near multiples of b included."""
    for y in (x, x - x % b, x - x % b - 1, x // b * b + b - 1):
        if 0 <= y < 2**63 and y // b < 2**50:
            assert intmath.div_via_float(y, b, 1.0 / b) == divmod(y, b)


# --- bad input ------------------------------------------------------------------------------------

GOOD = np.array([[100, 0], [0, 100]])


@pytest.mark.parametrize("settle", IMPLEMENTATIONS)
@pytest.mark.parametrize("kwargs,argument", [
    ({"consumption_wh": np.array([[100, -1], [0, 100]])}, "consumption_wh"),
    ({"production_wh": np.array([[100, 0], [0, MAX_WH + 1]])}, "production_wh"),
    ({"consumption_wh": np.array([[100.0, np.nan], [0.0, 100.0]])}, "NaN"),
    ({"production_wh": GOOD.astype(float)}, "production_wh"),
    ({"production_wh": GOOD[:, :1]}, "production_wh"),
    ({"consumption_wh": GOOD[0]}, "consumption_wh"),
    ({"grid_sell": LB + 1}, "grid_sell"),
    ({"grid_buy": np.array([LB, LB, LB])}, "grid_buy"),
    ({"grid_buy": -5, "grid_sell": -6}, "grid_buy"),
    ({"grid_buy": MAX_PRICE + 1}, "grid_buy"),
    ({"grid_buy": 0.2}, "grid_buy"),
    ({"method": "pay_as_bid"}, "method"),
    ({"window": 96}, "window"),
    ({"method": "bill_sharing", "window": 0}, "window"),
    ({"consumption_wh": np.full((2, 2), MAX_WH)}, "above the bound"),
])
def test_bad_input_names_the_argument(settle, kwargs, argument):
    args = {"consumption_wh": GOOD, "production_wh": GOOD[::-1], "grid_buy": LB,
            "grid_sell": LS, "method": "mmr"} | kwargs
    with pytest.raises(ValueError, match=argument):
        settle(**args)


# --- KPIs ---------------------------------------------------------------------------------------

def test_kpis_by_hand():
    # here the meters see the nets: A and B draw 3000 and 1000 Wh, C injects 2000 of its 2500
    meter_in, meter_out = np.maximum(CONS - PROD, 0), np.maximum(PROD - CONS, 0)
    table = reference.kpis(meter_in, meter_out, LB, LS, "mmr", consumption_wh=CONS,
                           production_wh=PROD)
    assert list(table.index) == [0, 1, 2, "community"]
    c = table.loc["community"]
    assert (c.consumption_wh, c.production_wh, c.import_wh, c.export_wh) == (4500, 2500, 2000, 0)
    assert c.self_sufficiency == pytest.approx(1 - 2000 / 4500)
    assert c.self_consumption == 1.0
    # MMR against "none": A saves 600000 - 495000, C gets 260000 instead of 120000
    assert table.savings_ueur.tolist() == [105_000, 35_000, 140_000, 680_000 - 400_000]
    assert table.loc[2, "self_consumption"] == pytest.approx(500 / 2500)
    assert table.loc[2, "self_sufficiency"] == 1.0
    assert np.isnan(table.loc[0, "self_consumption"])  # A has no production
    # G/D = 1/2: half of what A and B draw comes from C, none of what C draws (nothing)
    assert table.local_share.tolist()[:2] == [0.5, 0.5] and np.isnan(table.loc[2, "local_share"])
    assert c.local_share == pytest.approx(2000 / 4000)


def test_kpis_from_meter_data_alone_leaves_out_what_meters_cannot_see():
    """A battery house: its load and PV are not its meter's import and export. From meter data
    alone kpis reports what meters can tell (flows, local share, money), and no self-sufficiency
    (the bug was a 0.000 for every household: import taken for consumption)."""
    meter_in = np.array([[300, 0], [500, 100]])
    meter_out = np.array([[0, 400], [0, 0]])
    table = kernels.kpis(meter_in, meter_out, LB, LS, "mmr")
    assert "self_sufficiency" not in table and "consumption_wh" not in table
    assert table.import_wh.tolist() == [300, 600, 800] and table.export_wh.tolist() == [400, 0, 300]
    # slot 1: D = 100, G = 400, so B's 100 Wh all came from A; slot 0 nobody injected
    assert table.local_share.tolist()[:2] == [0.0, pytest.approx(100 / 600)]
    assert table.loc["community", "local_share"] == pytest.approx(100 / 900)
    # what the houses used and made (a simulation knows it): A's battery covered part of its use
    used, made = np.array([[900, 200], [500, 100]]), np.array([[600, 700], [0, 0]])
    full = kernels.kpis(meter_in, meter_out, LB, LS, "mmr", consumption_wh=used,
                        production_wh=made)
    assert full.loc[0, "self_sufficiency"] == pytest.approx(1 - 300 / 1100)
    assert full.loc[1, "self_sufficiency"] == 0.0
    pd.testing.assert_frame_equal(full[table.columns], table)
    with pytest.raises(ValueError, match="both consumption_wh and production_wh"):
        kernels.kpis(meter_in, meter_out, LB, LS, consumption_wh=used)
    with pytest.raises(ValueError, match="must match"):
        kernels.kpis(meter_in, meter_out, LB, LS, consumption_wh=used[:1], production_wh=made[:1])


def test_kpis_kernels_match_reference():
    cons, prod = random_community(8)
    expected = reference.kpis(cons, prod, LB, LS, "bill_sharing", 10, consumption_wh=cons,
                              production_wh=prod)
    pd.testing.assert_frame_equal(kernels.kpis(cons, prod, LB, LS, "bill_sharing", 10,
                                               consumption_wh=cons, production_wh=prod), expected)
    community = expected.loc["community"]
    # the community saves what its households save, plus what its rounding account keeps
    rounding = reference.settle(cons, prod, LB, LS, "bill_sharing", 10).rounding.sum()
    assert community.savings_ueur == expected.savings_ueur.iloc[:-1].sum() + rounding


@pytest.mark.parametrize("method,window", [("mmr", None), ("sdr", None), ("bill_sharing", 5)])
def test_parallel_passes_match_the_reference(monkeypatch, method, window):
    # small inputs run on one thread; lower the thresholds so that every pass runs in parallel
    monkeypatch.setattr(kernels, "_PARALLEL_MIN", 0)
    monkeypatch.setattr(kernels, "_PARALLEL_MIN_WINDOWS", 0)
    cons, prod = random_community(9, households=11, slots=300)
    assert_same(kernels.settle(cons, prod, LB, LS, method, window),
                reference.settle(cons, prod, LB, LS, method, window))
