"""Collective self-consumption (ACC): Enedis's keys worked by hand, the kernels against the plain
reference, the exact invariants, and the errors.

The rules come from the Code de l'énergie (L315-2, L315-4; regulatory part, D315-6: the default
key pro rata of consumption, each share capped at the consumer's consumption) and Enedis's four
keys as described by Enogrid ("Les clés de répartition en autoconsommation collective"), all
checked 2026-12-06; see daisee_lab/settlement/allocation_reference.py.
"""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from daisee_lab.errors import DaiseeError
from daisee_lab.settlement import (ACC_METHODS, KEYS, SettlementError, allocate, allocation,
                                   allocation_reference, kernels, reference)
from daisee_lab.settlement.allocation_reference import COEFFICIENT_SCALE, MAX_ACC_WH

IMPLEMENTATIONS = [allocation_reference.allocate, allocation.allocate]
FIELDS = ["allocated_wh", "complement_wh", "surplus_wh", "sold_wh", "producer_surplus_wh",
          "by_producer_wh"]

# Three consumers, three slots: slot 0 produces more than is consumed (1000 Wh for 600),
# slot 1 less (600 for 1000), slot 2 nothing.
CONS = np.array([[300, 600, 200],   # A
                 [100, 300, 100],   # B
                 [200, 100, 300]])  # C
ONE = np.array([1000, 600, 0])
TWO = np.array([[700, 200, 0], [300, 400, 0]])  # the same totals from two producers
SHARES = [0.5, 0.3, 0.2]
PER_SLOT = [[0.5, 0.6, 0.3], [0.3, 0.3, 0.3], [0.2, 0.1, 0.4]]


def assert_same(a, b):
    for name in FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            np.testing.assert_array_equal(x, y, err_msg=name)


def assert_exact(result, cons, prod):
    """The invariants of the allocation, exactly, in every slot."""
    prod = np.atleast_2d(prod)
    np.testing.assert_array_equal(result.allocated_wh.sum(0) + result.surplus_wh, prod.sum(0))
    np.testing.assert_array_equal(result.allocated_wh + result.complement_wh, cons)
    np.testing.assert_array_equal(result.sold_wh.sum(0), result.allocated_wh.sum(0))
    np.testing.assert_array_equal(result.sold_wh + result.producer_surplus_wh, prod)
    assert (result.allocated_wh >= 0).all() and (result.allocated_wh <= cons).all()
    assert (result.sold_wh >= 0).all() and (result.producer_surplus_wh >= 0).all()
    if result.by_producer_wh is not None:
        assert (result.by_producer_wh >= 0).all()
        np.testing.assert_array_equal(result.by_producer_wh.sum(0), result.allocated_wh)
        np.testing.assert_array_equal(result.by_producer_wh.sum(1), result.sold_wh)


# --- hand-worked cases, one per key ---------------------------------------------------------------

@pytest.mark.parametrize("allocate_", IMPLEMENTATIONS)
def test_dynamic_default_by_hand(allocate_):
    """D315-6: pro rata of consumption, capped at consumption. Slot 0: P >= C, everyone is served
    (surplus 400). Slot 1: 600 Wh shared pro rata of 600/300/100 out of 1000: 360, 180, 60."""
    result = allocate_(CONS, ONE)
    assert result.allocated_wh.T.tolist() == [[300, 100, 200], [360, 180, 60], [0, 0, 0]]
    assert result.complement_wh.T.tolist() == [[0, 0, 0], [240, 120, 40], [200, 100, 300]]
    assert result.surplus_wh.tolist() == [400, 0, 0]
    assert result.by_producer_wh is None
    assert_exact(result, CONS, ONE)


@pytest.mark.parametrize("allocate_", IMPLEMENTATIONS)
def test_static_by_hand(allocate_):
    """Static key: min(c_i, k_i·P), what a consumer cannot take is surplus. Slot 1:
    k·P = 300, 180, 120; C consumes only 100, so 20 Wh go to the buyer."""
    result = allocate_(CONS, ONE, "static", SHARES)
    assert result.allocated_wh.T.tolist() == [[300, 100, 200], [300, 180, 100], [0, 0, 0]]
    assert result.surplus_wh.tolist() == [400, 20, 0]
    assert_exact(result, CONS, ONE)


@pytest.mark.parametrize("allocate_", IMPLEMENTATIONS)
def test_dynamic_simple_by_hand(allocate_):
    """Dynamic simple: C's share (120) exceeds its 100 Wh; its 20 Wh are shared again between A and
    B as 0.5 : 0.3, at the level μ = 500/0.8 = 625 Wh per unit of coefficient: A 312.5,
    B 187.5, C 100. Cumulative rounding in order: A floor(312.5) = 312, B 500 - 312 = 188."""
    result = allocate_(CONS, ONE, "dynamic_simple", SHARES)
    assert result.allocated_wh.T.tolist() == [[300, 100, 200], [312, 188, 100], [0, 0, 0]]
    assert result.surplus_wh.tolist() == [400, 0, 0]
    assert_exact(result, CONS, ONE)


@pytest.mark.parametrize("allocate_", IMPLEMENTATIONS)
def test_dynamic_full_by_hand(allocate_):
    """Dynamic full: coefficients per slot, capped at consumption, no re-sharing. Slot 1:
    0.6, 0.3, 0.1 of 600 = 360, 180, 60."""
    result = allocate_(CONS, ONE, "dynamic_full", PER_SLOT)
    assert result.allocated_wh.T.tolist() == [[300, 100, 200], [360, 180, 60], [0, 0, 0]]
    assert result.surplus_wh.tolist() == [400, 0, 0]
    assert_exact(result, CONS, ONE)


@pytest.mark.parametrize("allocate_", IMPLEMENTATIONS)
def test_two_producers_by_hand(allocate_):
    """Two producers, the same totals, dynamic simple. Slot 0: 600 Wh allocated, split 7:3 ->
    producer 1 sells 420, producer 2 180; A's 300 Wh split 210/90 (420:180 left), B's 100
    70/30 (210:90 left), C takes the rest, 140/60. Slot 1: 600 Wh split 2:4 -> 200/400; A's
    312 -> 104/208; B's 188 out of 96:192 left -> floor(62.67) = 62 / 126; C 34/66."""
    result = allocate_(CONS, TWO, "dynamic_simple", SHARES)
    assert result.allocated_wh.T.tolist() == [[300, 100, 200], [312, 188, 100], [0, 0, 0]]
    assert result.sold_wh.tolist() == [[420, 200, 0], [180, 400, 0]]
    assert result.producer_surplus_wh.tolist() == [[280, 0, 0], [120, 0, 0]]
    split = result.by_producer_wh
    assert split[:, :, 0].tolist() == [[210, 70, 140], [90, 30, 60]]
    assert split[:, :, 1].tolist() == [[104, 62, 34], [208, 126, 66]]
    assert not split[:, :, 2].any()
    assert_exact(result, CONS, TWO)


@pytest.mark.parametrize("allocate_", IMPLEMENTATIONS)
@pytest.mark.parametrize("key, coefficients", [("dynamic_default", None), ("static", SHARES),
                                               ("dynamic_full", PER_SLOT)])
def test_two_producers_every_key(allocate_, key, coefficients):
    """Splitting among producers never changes what the consumers get."""
    one, two = allocate_(CONS, ONE, key, coefficients), allocate_(CONS, TWO, key, coefficients)
    np.testing.assert_array_equal(one.allocated_wh, two.allocated_wh)
    assert_exact(two, CONS, TWO)


@pytest.mark.parametrize("allocate_", IMPLEMENTATIONS)
def test_static_keeps_an_unassigned_share_as_surplus(allocate_):
    """Coefficients summing to 0.9: a tenth of the production is nobody's, even under
    dynamic_simple's re-sharing (it shares what consumers cannot take, not what nobody got)."""
    cons = np.array([[1000], [1000]])
    for key in ("static", "dynamic_simple"):
        result = allocate_(cons, np.array([1000]), key, ["0.45", Fraction(45, 100)])
        assert result.allocated_wh[:, 0].tolist() == [450, 450]
        assert result.surplus_wh.tolist() == [100]


@pytest.mark.parametrize("allocate_", IMPLEMENTATIONS)
def test_cumulative_rounding_gives_the_fractions_in_order(allocate_):
    """Three equal consumers share 100 Wh: 33.33 each; floors of the prefix sums 33, 66, 100."""
    result = allocate_(np.full((3, 1), 50), np.array([100]))
    assert result.allocated_wh[:, 0].tolist() == [33, 33, 34]
    assert result.surplus_wh.tolist() == [0]


# --- the kernels against the reference ------------------------------------------------------------

@st.composite
def operations(draw):
    consumers = draw(st.integers(1, 7))
    slots = draw(st.integers(1, 5))
    producers = draw(st.integers(1, 3))
    big = draw(st.booleans())
    top = MAX_ACC_WH if big else 40
    cons = np.array(draw(st.lists(st.integers(0, top), min_size=consumers * slots,
                                  max_size=consumers * slots))).reshape(consumers, slots)
    prod = np.array(draw(st.lists(st.integers(0, (MAX_ACC_WH if big else 60) // producers),
                                  min_size=producers * slots, max_size=producers * slots)))
    key = draw(st.sampled_from(KEYS))
    shape = (consumers, slots) if key == "dynamic_full" else (consumers,)
    weights = np.array(draw(st.lists(st.integers(0, 5), min_size=int(np.prod(shape)),
                                     max_size=int(np.prod(shape))))).reshape(shape)
    scale = draw(st.sampled_from([COEFFICIENT_SCALE, 700_000]))
    total = np.maximum(weights.sum(axis=0), 1)
    shares = weights * scale // total / COEFFICIENT_SCALE
    coefficients = None if key == "dynamic_default" else shares
    return cons, prod.reshape(producers, slots), key, coefficients


@settings(deadline=None, derandomize=True, database=None)
@given(operations(), st.booleans())
def test_kernels_match_reference(operation, chunked):
    cons, prod, key, coefficients = operation
    if chunked:  # several chunks of consumers, as on large inputs
        allocation._PARALLEL_MIN, saved = 0, allocation._PARALLEL_MIN
    try:
        fast = allocation.allocate(cons, prod, key, coefficients)
    finally:
        if chunked:
            allocation._PARALLEL_MIN = saved
    slow = allocation_reference.allocate(cons, prod, key, coefficients)
    assert_same(fast, slow)
    assert_exact(fast, cons, prod)


def test_int32_in_int32_out():
    """Consumption in int32 (half the memory) comes back in int32; production may be int64."""
    result = allocate(CONS.astype(np.int32), ONE)
    assert result.allocated_wh.dtype == result.complement_wh.dtype == np.int32
    assert result.surplus_wh.dtype == np.int64


# --- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("allocate_", IMPLEMENTATIONS)
@pytest.mark.parametrize("args, message", [
    ((CONS.astype(float) * np.nan, ONE), "NaN"),
    ((-CONS, ONE), "consumption_wh must hold Wh"),
    ((CONS, -ONE), "production_wh must hold Wh"),
    ((CONS, np.array([1, 2])), "production_wh must be"),
    ((CONS[0], ONE), "consumption_wh must be 2-D"),
    ((CONS, np.array([[MAX_ACC_WH, 0, 0], [1, 0, 0]])), "produces 9000001 Wh in slot 0"),
    ((CONS, ONE, "dynamic"), "key must be one of"),
    ((CONS, ONE, "static"), "needs coefficients"),
    ((CONS, ONE, "dynamic_default", SHARES), "takes no coefficients"),
    ((CONS, ONE, "static", [0.5, 0.3]), "must have shape (3,)"),
    ((CONS, ONE, "dynamic_full", SHARES), "must have shape (3, 3)"),
    ((CONS, ONE, "static", [0.5, 0.5, 0.2]), "sum to at most 1, got 6/5"),
    ((CONS, ONE, "dynamic_full", [[0.5] * 3] * 3), "sum to at most 1, got 3/2 in slot 0"),
    ((CONS, ONE, "static", [0.5, -0.1, 0.2]), "fractions in [0, 1], got -0.1 at (1,)"),
    ((CONS, ONE, "static", [0.5, 0.1234567, 0.2]), "at most 6 decimals"),
    ((CONS, ONE, "static", [Fraction(1, 3)] * 3), "at most 6 decimals"),
    ((CONS, ONE, "static", [0.5, float("nan"), 0.2]), "NaN"),
    ((CONS, ONE, "static", ["half", 0.1, 0.2]), "must be numbers"),
    ((CONS, ONE, "static", np.array([0.5, 0.3, 0.2], np.float32)), "float64"),
])
def test_bad_input_names_the_problem(allocate_, args, message):
    with pytest.raises(SettlementError) as caught:
        allocate_(*args)
    assert message in str(caught.value)
    assert isinstance(caught.value, DaiseeError) and isinstance(caught.value, ValueError)


# --- the keys as settlement methods -------------------------------------------------------------

@pytest.mark.parametrize("method", ACC_METHODS)
def test_acc_methods_kernels_match_reference_and_balance(method):
    rng = np.random.default_rng(7)
    cons = rng.integers(0, 800, (6, 96))
    prod = rng.integers(0, 1500, (6, 96)) * (rng.random((6, 1)) < 0.5)
    slow = reference.settle(cons, prod, 194_000, 40_001, method)
    fast = kernels.settle(cons, prod, 194_000, 40_001, method)
    for name in vars(slow):
        np.testing.assert_array_equal(getattr(slow, name), getattr(fast, name), err_msg=name)
    np.testing.assert_array_equal(fast.payments.sum(0), fast.grid_bill + fast.rounding)
    assert (fast.rounding >= 0).all() and (fast.rounding <= 6 + 2).all()


def test_acc_dynamic_default_settles_by_hand():
    """One slot: A draws 3000 Wh, B 1000, C injects 2000 (2500 made, 500 used). Pro rata:
    A gets 1500, B 500 at the mid price (200000+60000)/2 = 130000 µ€/kWh, the rest at 200000:
    A pays 1.5·130000 + 1.5·200000 = 495000, B 65000 + 100000 = 165000, C gets 260000 -- the
    same as MMR here, since all the local energy is used either way."""
    cons, prod = np.array([[3000], [1000], [500]]), np.array([[0], [0], [2500]])
    for settle in (reference.settle, kernels.settle):
        result = settle(cons, prod, 200_000, 60_000, "acc_dynamic_default")
        assert result.payments[:, 0].tolist() == [495_000, 165_000, -260_000]
        assert (result.grid_import_wh[0], result.grid_bill[0], result.rounding[0]) == \
            (2000, 400_000, 0)


@pytest.mark.parametrize("chunked", [False, True])
def test_dynamic_simple_many_rounds_match_reference(chunked):
    """Geometric consumption (10, 20, 40, ... Wh) and equal coefficients: each re-sharing round
    serves about one more consumer, so slots take from one round to a dozen and leave the
    pending set at different rounds; a slot where nearly everyone is served in full, one where
    all are; 90 slots, several blocks of pending slots. The kernel gives the reference's
    integers."""
    cons = (10 * 2 ** np.arange(12))[:, None] * np.ones((1, 90), np.int64)
    prod = np.tile([5, 130, 700, 3_000, 9_000, 20_000, 40_000, 40_950, 41_000], 10)  # blocks
    shares = np.full(12, 83_333 / COEFFICIENT_SCALE)
    saved = allocation._PARALLEL_MIN
    allocation._PARALLEL_MIN = 0 if chunked else saved
    try:
        fast = allocation.allocate(cons, prod, "dynamic_simple", shares)
    finally:
        allocation._PARALLEL_MIN = saved
    slow = allocation_reference.allocate(cons, prod, "dynamic_simple", shares)
    assert_same(fast, slow)
    assert_exact(fast, cons, prod)
    assert fast.complement_wh[:, -2].astype(bool).sum() == 1  # only the largest not served


@pytest.mark.parametrize("allocate_", IMPLEMENTATIONS)
@pytest.mark.parametrize("key, coefficients", [
    ("static", [0.5, 0.5, 0.0]), ("dynamic_default", None), ("dynamic_simple", [0.5, 0.5, 0.0]),
    ("dynamic_full", [[0.5] * 3, [0.5] * 3, [0.0] * 3])])
def test_a_consumption_above_the_bound_is_named_under_every_key(allocate_, key, coefficients):
    """The kernel checks the consumption's range in its first pass (even a consumer with no
    coefficient, which that pass otherwise skips), with the reference's message."""
    cons = CONS.copy()
    cons[2, 1] = MAX_ACC_WH + 1
    with pytest.raises(SettlementError, match=rf"consumption_wh must hold Wh in "
                                               rf"\[0, {MAX_ACC_WH}\], got {MAX_ACC_WH + 1} "
                                               rf"at \[2, 1\]"):
        allocate_(cons, ONE, key, coefficients)
