"""Collective self-consumption allocation, the numba kernels: the integers of
:mod:`.allocation_reference`, fast. The keys, the rounding rule, the bounds and the sources are
there; this module only computes them.

Every key gives, in each slot t, exact shares with one common denominator D_t: a_i* = n_i/D_t
(static and dynamic_full: D = 10**6 and n_i = min(c_i·10**6, k_i·P); dynamic_default: D = C and
n_i = c_i·P when P < C, else D = 1 and n_i = c_i; dynamic_simple: D = 10**6·K_u and
n_i = c_i·D for the consumers served in full, k_i·N for the others, where N/D is the level μ).
Cumulative rounding is then a carry per slot: x = carry + n_i, a_i = x // D, carry = x % D.

The passes, each over chunks of consumers in parallel (pass 2: blocks of slots), rows read
contiguously:

1. sums per chunk and slot: consumption (and, for the static keys, the numerators); for
   dynamic_simple, the consumption of consumers with a coefficient and the first re-sharing
   round (below), whose level μ = P/10**6 needs no sums, four rows at a time (each slot's
   three sums are loaded and stored once for four consumers: half the time of one row at a
   time);
2. dynamic_simple only: the level μ per slot, by the re-sharing rounds themselves: from
   μ = P/10**6, each round counts the consumers served in full at μ, gives what they leave to
   the others (μ = (K·P/10**6 - their consumption)/(their coefficients' complement)), and stops
   when nobody new is served in full. Each round is Newton's step on a concave piecewise-linear
   function from below, so μ rises to the exact level in a few rounds (nine on a year of the
   benchmark). Only the slots still pending after pass 1's round are read again, once: their
   columns are copied a block of slots at a time into a (slots, consumers) block that stays in
   cache, where each slot runs its own rounds (that copy, a few bytes from each of 10,000 rows
   far apart in memory, is most of this pass's time);
3. each chunk's starting carry, from the chunks before it (128-bit products where needed);
4. the allocation, one streaming pass writing allocated and complement.

Each slot's allocated total needs no pass: cumulative rounding telescopes, so it is
floor(sum of n_i / D_t) (``_allocated_totals``).

Divisions use the float-then-correct trick of :mod:`.intmath` (``div_via_float``): x < 2**63 and
x/D < 2**50 hold because every a_i <= ``MAX_ACC_WH``.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from daisee_lab.settlement import allocation_reference as ref
from daisee_lab.settlement.allocation_reference import (COEFFICIENT_SCALE, KEYS, MAX_ACC_WH,
                                                        Allocation)
from daisee_lab.settlement.intmath import div_via_float, divmod128, mul128

_STATIC, _DEFAULT, _SIMPLE, _FULL = range(4)
_KEY_CODES = dict(zip(KEYS, range(4)))
_S = COEFFICIENT_SCALE
_PARALLEL_MIN = 1 << 20  # consumer-slots below which one thread beats waking the pool
_BLOCK = 16  # dynamic_simple's rounds: pending slots per block (16 x 10,000 int32 fit in L2)
_ONE_ROW = np.array([1, 0, 0, 0], np.int64)  # a lone row's coefficients in _first_round_4
# per-slot modes of dynamic_simple
_NOTHING, _ALL_SERVED, _LEVEL = 0, 1, 2

__all__ = ["KEYS", "Allocation", "allocate"]


def allocate(consumption_wh, production_wh, key="dynamic_default", coefficients=None,
             by_producer=True, parallel=True):
    """Allocate each slot's production among the consumers, as Enedis does.

    ``consumption_wh``: integer Wh (consumers, slots); ``production_wh``: (producers, slots) or
    (slots,); ``key``: ``"static"``, ``"dynamic_default"``, ``"dynamic_simple"`` or
    ``"dynamic_full"``; ``coefficients``: fractions (at most 6 decimals, summing to at most 1)
    per consumer, or per consumer and slot for ``"dynamic_full"``. Returns an
    :class:`~daisee_lab.settlement.allocation_reference.Allocation`, the same integers as
    :func:`.allocation_reference.allocate`; ``by_producer=False`` skips the
    (producers, consumers, slots) split; ``parallel=False`` stays on the calling thread (Dask
    workers). Raises :class:`~daisee_lab.errors.SettlementError`
    naming the problem. Rules, rounding and sources: :mod:`.allocation_reference`.
    """
    cons, prod = ref.check_energies(consumption_wh, production_wh, scan_consumption=False)
    ppm = ref.check_coefficients(key, coefficients, cons.shape)
    code = _KEY_CODES[key]
    consumers, slots = cons.shape
    total = prod.sum(axis=0)
    parallel = parallel and cons.size >= _PARALLEL_MIN
    chunks = max(1, min(consumers, 4 * numba.get_num_threads())) if parallel else 1
    k1 = ppm if ppm is not None and ppm.ndim == 1 else np.zeros(1, np.int64)
    k2 = ppm if ppm is not None and ppm.ndim == 2 else np.zeros((1, 1), np.int32)
    c_sums = np.zeros((chunks, slots), np.int64)
    n_sums = np.zeros((chunks, slots), np.int64)
    r_sums = np.zeros((chunks, slots if code == _SIMPLE else 0), np.int64)
    extremes = np.zeros((chunks, 2), np.int64)  # per chunk: the least and largest consumption
    (_sums_parallel if parallel else _sums_serial)(cons, total, code, k1, k2, c_sums, n_sums,
                                                   r_sums, extremes)
    if extremes[:, 0].min() < 0 or extremes[:, 1].max() > MAX_ACC_WH:
        raise ref.range_error("consumption_wh", cons)
    consumption = c_sums.sum(axis=0)  # simple: of the consumers with a coefficient only
    if code == _SIMPLE:
        num, den, open_sums = _simple_levels(cons, total, k1, consumption, n_sums, r_sums,
                                             parallel)
        carry = _start_carries(code, num, den, open_sums)
    else:
        num, den = _plain_fractions(code, total, consumption)
        carry = _start_carries(code, num, den, n_sums if code != _DEFAULT else c_sums)
    allocated = np.empty_like(cons)
    complement = np.empty_like(cons)
    (_allocate_parallel if parallel else _allocate_serial)(
        cons, total, code, k1, k2, num, den, 1.0 / den, carry, allocated, complement)
    given = _allocated_totals(code, total, consumption, n_sums.sum(axis=0), int(k1.sum()))
    sold = _share_among(prod, given)
    split = None
    if by_producer and prod.shape[0] > 1:
        split = np.zeros((prod.shape[0], consumers, slots), np.int64)
        _split_by_producer(allocated, sold, split)
    return Allocation(allocated, complement, total - given, sold, prod - sold, split)


# --- per-slot fractions -------------------------------------------------------------------------

def _plain_fractions(code, production, consumption):
    """(num, den) per slot for static, dynamic_full (num = P) and dynamic_default (num = P or 1)."""
    if code == _DEFAULT:
        short = production < consumption  # the production is shared pro rata
        return np.where(short, production, 1), np.where(short, consumption, 1)
    return production.copy(), np.full(production.shape, _S, np.int64)


def _allocated_totals(code, production, consumption, numerators, weight):
    """Each slot's allocated Wh, floor(sum of n_i / D) (every consumer's a_i with the carry
    telescopes to it): static and dynamic_full, the numerators' sum over 10**6; dynamic_default,
    P when it is shared (P < C), else C; dynamic_simple, the pool floor(K·P/10**6) at a level
    (num/den = (K·P - 10**6·served)/(10**6·left), so served + floor(left·num/den) is that
    floor), all the consumption of consumers with a coefficient when it is below the pool
    (``consumption``: theirs only), nothing without production."""
    if code in (_STATIC, _FULL):
        return numerators // _S
    if code == _DEFAULT:
        return np.minimum(production, consumption)
    return np.minimum(consumption, weight * production // _S)


def _simple_levels(cons, production, k, served_total, full, rest, parallel):
    """dynamic_simple: per slot the level μ = num/den (Wh per millionth; all-served slots
    MAX_ACC_WH/1, empty slots 0/1, see ``_allocate_task``), and per chunk the coefficients of
    the consumers not served in full at that level (``rest``, updated in place).

    ``served_total``: per slot the consumption of consumers with a coefficient; ``full`` and
    ``rest``: per chunk the first round's sums from pass 1, at μ = P/10**6."""
    weight = int(k.sum())
    pool_floor = weight * production // _S
    mode = np.where(weight * production == 0, _NOTHING,
                    np.where(served_total <= pool_floor, _ALL_SERVED, _LEVEL))
    num = np.where(mode == _LEVEL, weight * production, 1).astype(np.int64)
    den = np.where(mode == _LEVEL, _S * weight, 1).astype(np.int64)
    left = rest.sum(axis=0)
    pending = np.flatnonzero((mode == _LEVEL) & (left != weight))  # a new level after round 1
    (_levels_parallel if parallel else _levels_serial)(
        cons, k, weight, production, pending, full.sum(axis=0)[pending], left[pending], num, den,
        rest)
    num = np.where(mode == _ALL_SERVED, MAX_ACC_WH, np.where(mode == _NOTHING, 0, num))
    return num, den, rest


def _start_carries(code, num, den, sums):
    """(chunks, slots): the carry each chunk starts from, (sum of numerators before it) % den.

    ``sums`` per chunk: static/full, the numerators themselves (their total is <= 10**6·P);
    default, the consumption (numerators P·c); simple, the open coefficients (numerators k·N,
    plus c·den for those served in full, which is 0 modulo den)."""
    chunks, slots = sums.shape
    carry = np.zeros((chunks, slots), np.int64)
    before = np.cumsum(sums, axis=0)[:-1]
    if code in (_STATIC, _FULL):
        carry[1:] = before % den
    elif chunks > 1:
        _carries_128(num, den, before, carry[1:])
    return carry


@njit(cache=True)
def _carries_128(num, den, before, carry):
    """carry = (num·before) % den with a 128-bit product (slots with den = 1 stay 0)."""
    for j in range(carry.shape[0]):
        for t in range(carry.shape[1]):
            if den[t] > 1:
                hi, lo = mul128(num[t], before[j, t])
                carry[j, t] = divmod128(hi, lo, den[t])[1]


def _share_among(prod, given):
    """Each producer's sold Wh: the allocated total pro rata of injections, cumulatively
    rounded over producers (so sold <= injection and the columns add up to ``given``)."""
    total = prod.sum(axis=0)
    sold = np.zeros(prod.shape, np.int64)
    if prod.shape[0] == 1:
        sold[0] = given
        return sold
    _cumulative_split(prod, given, total, sold)
    return sold


@njit(cache=True)
def _cumulative_split(weights, amount, total, out):
    for t in range(weights.shape[1]):
        carry = 0
        if total[t] == 0:
            continue
        for p in range(weights.shape[0]):
            x = carry + amount[t] * weights[p, t]
            out[p, t] = x // total[t]
            carry = x % total[t]


@njit(cache=True)
def _split_by_producer(allocated, sold, split):
    """(producers, consumers, slots): each consumer's share in proportion to what each producer
    still has to sell, consumers in order, cumulatively rounded over producers."""
    producers, slots = sold.shape
    left = sold.copy()
    remaining = np.zeros(slots, np.int64)
    for p in range(producers):
        remaining += left[p]
    for i in range(allocated.shape[0]):
        for t in range(slots):
            a = np.int64(allocated[i, t])
            if a == 0:
                continue
            carry = 0
            r = remaining[t]
            for p in range(producers):
                x = carry + a * left[p, t]
                part = x // r
                carry = x % r
                split[p, i, t] = part
                left[p, t] -= part
            remaining[t] -= a


# --- pass 1: sums ------------------------------------------------------------------------------

@njit(parallel=True, cache=True, nogil=True)
def _sums_parallel(cons, production, code, k1, k2, c_sums, n_sums, r_sums, extremes):
    for j in prange(c_sums.shape[0]):
        _sums_task(cons, production, code, k1, k2, j, c_sums, n_sums, r_sums, extremes)


@njit(cache=True, nogil=True)
def _sums_serial(cons, production, code, k1, k2, c_sums, n_sums, r_sums, extremes):
    for j in range(c_sums.shape[0]):
        _sums_task(cons, production, code, k1, k2, j, c_sums, n_sums, r_sums, extremes)


@njit(cache=True, nogil=True)
def _sums_task(cons, production, code, k1, k2, j, c_sums, n_sums, r_sums, extremes):
    """Chunk ``j``: consumption per slot; static/full: numerators min(c·S, k·P); simple: the
    consumption of consumers with a coefficient (in ``c_sums``, not the others') and the first
    round at μ = P/10**6 (``_first_round_4``). One branch-free loop per key. ``extremes[j]``: the
    chunk's least and largest consumption, from each row while it is still in cache."""
    i0, i1 = _chunk(cons.shape[0], c_sums.shape[0], j)
    cs, ns = c_sums[j], n_sums[j]
    low, high = np.int64(0), np.int64(0)
    if code == _SIMPLE:  # four rows at a time: each slot's sums loaded once for four consumers
        i = i0
        while i + 4 <= i1:
            low, high = _first_round_4(cons[i], cons[i + 1], cons[i + 2], cons[i + 3],
                                       k1[i:i + 4], production, cs, ns, r_sums[j], low, high)
            i += 4
        for lone in range(i, i1):
            row = cons[lone]
            low, high = _first_round_4(row, row, row, row, _ONE_ROW * k1[lone], production, cs,
                                       ns, r_sums[j], low, high)
    else:
        for i in range(i0, i1):
            row = cons[i]
            if row.shape[0]:
                low, high = min(low, np.int64(row.min())), max(high, np.int64(row.max()))
            if code == _STATIC:
                _sum_capped(row, k1[i], production, cs, ns)
            elif code == _FULL:
                _sum_full(row, k2[i], production, cs, ns)
            else:
                _sum_plain(row, cs)
    extremes[j, 0], extremes[j, 1] = low, high


@njit(cache=True, nogil=True)
def _sum_plain(row, cs):
    for t in range(row.shape[0]):
        cs[t] += np.int64(row[t])


@njit(cache=True, nogil=True, inline="always")
def _first_round(c, k, p, cs, full, rest):
    """One consumer at μ = P/10**6: served in full when c·10**6 <= k·P; ``cs`` sums the
    consumption of consumers with a coefficient whatever the level (k = 0 is served only when
    c = 0, so it adds to neither ``full`` nor ``rest``)."""
    c = np.int64(c)
    served = c * _S <= k * p
    return cs + (c if k > 0 else 0), full + (c if served else 0), rest + (0 if served else k)


@njit(cache=True, nogil=True)
def _first_round_4(r0, r1, r2, r3, k, production, cs, full, rest, low, high):
    """dynamic_simple's first round for four consumers' rows (``k``: their four coefficients;
    a lone row passes itself four times with coefficients (k, 0, 0, 0)); returns the least and
    largest consumption seen, from ``low`` and ``high``."""
    k0, k1, k2, k3 = k[0], k[1], k[2], k[3]
    for t in range(r0.shape[0]):
        p = production[t]
        c0, c1, c2, c3 = np.int64(r0[t]), np.int64(r1[t]), np.int64(r2[t]), np.int64(r3[t])
        low = min(low, min(min(c0, c1), min(c2, c3)))
        high = max(high, max(max(c0, c1), max(c2, c3)))
        a, b, c = _first_round(c0, k0, p, cs[t], full[t], rest[t])
        a, b, c = _first_round(c1, k1, p, a, b, c)
        a, b, c = _first_round(c2, k2, p, a, b, c)
        cs[t], full[t], rest[t] = _first_round(c3, k3, p, a, b, c)
    return low, high


@njit(cache=True, nogil=True)
def _sum_capped(row, k, production, cs, ns):
    for t in range(row.shape[0]):
        c = np.int64(row[t])
        cs[t] += c
        ns[t] += min(c * _S, k * production[t])


@njit(cache=True, nogil=True)
def _sum_full(row, k, production, cs, ns):
    for t in range(row.shape[0]):
        c = np.int64(row[t])
        cs[t] += c
        ns[t] += min(c * _S, np.int64(k[t]) * production[t])


@njit(cache=True, nogil=True)
def _chunk(items, chunks, k):
    size = (items + chunks - 1) // chunks
    return min(items, k * size), min(items, (k + 1) * size)


# --- pass 2: dynamic_simple's rounds ------------------------------------------------------------

@njit(parallel=True, cache=True, nogil=True)
def _levels_parallel(cons, k, weight, production, slots, served, left, num, den, rest):
    for b in prange((slots.shape[0] + _BLOCK - 1) // _BLOCK):
        p = slice(b * _BLOCK, (b + 1) * _BLOCK)
        _levels_block(cons, k, weight, production, slots[p], served[p], left[p], num, den, rest)


@njit(cache=True, nogil=True)
def _levels_serial(cons, k, weight, production, slots, served, left, num, den, rest):
    for b in range((slots.shape[0] + _BLOCK - 1) // _BLOCK):
        p = slice(b * _BLOCK, (b + 1) * _BLOCK)
        _levels_block(cons, k, weight, production, slots[p], served[p], left[p], num, den, rest)


@njit(cache=True, nogil=True)
def _levels_block(cons, k, weight, production, slots, served, left, num, den, rest):
    """The rounds after the first for a block of pending ``slots`` (``served``/``left``: their
    first round's sums): their columns are copied once into a (slots, consumers) block that
    stays in cache, then each slot runs its own rounds on its contiguous column until nobody
    new is served in full. Sets num/den and, per chunk, ``rest`` at the final level."""
    consumers, chunks = cons.shape[0], rest.shape[0]
    block = np.empty((slots.shape[0], consumers), cons.dtype)
    for i in range(consumers):
        row = cons[i]
        for p in range(slots.shape[0]):
            block[p, i] = row[slots[p]]
    for p in range(slots.shape[0]):
        t = slots[p]
        open_weight, served_p, left_p = weight, served[p], left[p]
        while left_p != open_weight:  # someone new is served in full: a new level
            num[t] = weight * production[t] - _S * served_p
            den[t] = _S * left_p
            open_weight, served_p, left_p = left_p, 0, 0
            for j in range(chunks):
                i0, i1 = _chunk(consumers, chunks, j)
                f, r = _round_column(block[p, i0:i1], k[i0:i1], num[t], den[t])
                rest[j, t] = r
                served_p += f
                left_p += r


@njit(cache=True, nogil=True)
def _round_column(column, k, num, den):
    """Consumers at level num/den: the consumption of those served in full (c·den <= k·num)
    and the coefficients of the others (k = 0 counts in neither: c·den <= 0 only if c = 0)."""
    served, left = np.int64(0), np.int64(0)
    for i in range(column.shape[0]):
        c = np.int64(column[i])
        full = c * den <= k[i] * num
        served += c if full else 0
        left += 0 if full else k[i]
    return served, left


# --- pass 4: allocation -------------------------------------------------------------------------

@njit(parallel=True, cache=True, nogil=True)
def _allocate_parallel(cons, production, code, k1, k2, num, den, inv, carry, out, comp):
    for j in prange(carry.shape[0]):
        _allocate_task(cons, production, code, k1, k2, num, den, inv, carry, j, out, comp)


@njit(cache=True, nogil=True)
def _allocate_serial(cons, production, code, k1, k2, num, den, inv, carry, out, comp):
    for j in range(carry.shape[0]):
        _allocate_task(cons, production, code, k1, k2, num, den, inv, carry, j, out, comp)


@njit(cache=True, nogil=True, error_model="numpy")
def _allocate_task(cons, production, code, k1, k2, num, den, inv, carry, j, out, comp):
    """Chunk ``j``: x = carry + n_i, a_i = x // den, carry = x % den, per slot, rows in order.

    Static and simple share one formula, n = min(c·den, k·num): static has den = 10**6 and
    num = P; simple at a level has its level's num/den, all-served slots den = 1 and
    num = MAX_ACC_WH (so n = c when k > 0), empty slots num = 0."""
    i0, i1 = _chunk(cons.shape[0], carry.shape[0], j)
    r = carry[j]
    for i in range(i0, i1):
        if code == _DEFAULT:
            _rows_default(cons[i], num, den, inv, r, out[i], comp[i])
        elif code == _FULL:
            _rows_full(cons[i], k2[i], production, den, inv, r, out[i], comp[i])
        else:
            _rows_capped(cons[i], k1[i], num, den, inv, r, out[i], comp[i])


@njit(cache=True, nogil=True, error_model="numpy")
def _rows_default(row, num, den, inv, r, o_row, c_row):
    for t in range(row.shape[0]):
        c = np.int64(row[t])
        a, rem = div_via_float(r[t] + c * num[t], den[t], inv[t])
        r[t] = rem
        o_row[t] = a
        c_row[t] = c - a


@njit(cache=True, nogil=True, error_model="numpy")
def _rows_capped(row, k, num, den, inv, r, o_row, c_row):
    for t in range(row.shape[0]):
        c = np.int64(row[t])
        a, rem = div_via_float(r[t] + min(c * den[t], k * num[t]), den[t], inv[t])
        r[t] = rem
        o_row[t] = a
        c_row[t] = c - a


@njit(cache=True, nogil=True, error_model="numpy")
def _rows_full(row, k, production, den, inv, r, o_row, c_row):
    for t in range(row.shape[0]):
        c = np.int64(row[t])
        n = min(c * den[t], np.int64(k[t]) * production[t])
        a, rem = div_via_float(r[t] + n, den[t], inv[t])
        r[t] = rem
        o_row[t] = a
        c_row[t] = c - a
