"""Collective self-consumption (autoconsommation collective, ACC) the French way: the plain
reference, obviously right and slow. The numba kernels (:mod:`.allocation`) must match it.

The rules, with their sources (all checked 2026-12-06; full references in the documentation's
bibliography, page "Collective self-consumption"):

- Code de l'énergie, art. L315-2: producers and final consumers bound together in one legal
  entity, the *personne morale organisatrice* (PMO). Art. L315-4: the PMO tells the distribution
  system operator (Enedis on 95 % of France) how the self-consumed production is split among the
  consumers; each consumer's supplier then bills only the complement.
- Code de l'énergie, regulatory part, Livre III, Titre Ier, Chapitre V, Section 1 (decree
  n° 2017-676 of 28 April 2017; text in force on 15 August 2022 on Légifrance): the metering
  step is the one used to settle imbalances (art. L321-15); at each step the self-consumed total
  exceeds neither the production nor the consumption; each consumer's share is the production
  times a *coefficient de répartition*, and never more than its measured consumption.
- Art. D315-6: the PMO sends the coefficients (or their method of calculation) for every
  metering step; failing that, the production is split at each step *pro rata of consumption,
  within each consumer's consumption*: the default key.
- The imbalance-settlement step, hence the ACC step, went from 30 to 15 minutes on
  1 January 2025 (EU 2017/2195 "EBGL"; France's derogation ended then). One slot of this library
  is one step.
- The four keys Enedis offers (Enogrid, "Les clés de répartition en autoconsommation
  collective"; part-energie.fr): *statique* (fixed coefficients), *dynamique par défaut*
  (pro rata of consumption), *dynamique simple* (coefficients from the PMO, the production first
  pooled), *full dynamique* (coefficients per step).

What the sources did NOT give, said plainly: Enedis's own note on the coefficients' precision,
its algorithm for re-sharing what a consumer cannot take under the *dynamique simple* key, and
its rounding of the allocated energy. The rules below for those three points are this library's,
stated exactly so that anyone can check them; change them here if Enedis's documents say
otherwise.

Keys (``KEYS``), per slot t, with production P = the sum of the producers' injections, each
consumer's consumption c_i, coefficients k_i (fractions, sum <= 1):

``"static"``
    a_i = min(c_i, k_i·P). What a consumer cannot take is surplus (sold to the producers' buyer).
``"dynamic_default"``
    a_i = c_i·min(P, C)/C, C = sum of c_i (0 if C = 0): everyone gets the same share of its
    consumption, and the whole production is used while there is demand for it.
``"dynamic_simple"``
    The PMO's coefficients, with re-sharing: each gets k_i·P, capped at c_i; what capped consumers
    cannot take is shared again among the others in proportion to their coefficients, round after
    round, until nothing is left or everyone with a coefficient is served. The limit of these
    rounds is exact: a_i = min(c_i, μ·k_i), with μ the level at which the a_i add up to
    min(K·P, sum of c_i over k_i > 0), K = sum of k_i. A share nobody was given ((1-K)·P) and
    consumers with k_i = 0 get nothing: that energy is surplus.
``"dynamic_full"``
    coefficients per consumer and slot, shape (consumers, slots), each slot's sum <= 1;
    a_i = min(c_i, k_i,t·P), no re-sharing (the PMO computed them knowing the consumption).
    Enedis's *full dynamique* key gives one coefficient per producer and consumer; here one
    coefficient per consumer applies to the pooled production.

Coefficients: fractions in [0, 1], given as float64, Fraction, Decimal or str, with at most
``COEFFICIENT_DECIMALS`` (6) decimals: internally integers in millionths (ppm), so that the
arithmetic is exact. A public tool writing Enedis key files rounds them to 0.1 % (one decimal
of a percent); 6 decimals covers that. Enedis's accepted precision was not found (see above).

The rounding rule, exact, the same for every key: in each slot the exact shares a_i* (rationals)
are rounded by *cumulative rounding* over the consumers in their order: consumer i gets
floor(a_1* + ... + a_i*) - floor(a_1* + ... + a_(i-1)*) Wh. So each consumer gets floor(a_i*)
or ceil(a_i*) (never more than its consumption, an integer), the total allocated is
floor(sum of a_i*) <= P, and the surplus is P minus the allocated total, exactly. It is one
streaming pass over the consumers; which consumer gets a fractional Wh depends on the order.

Several producers: the allocated total A is split among producers pro rata of their injection
(cumulative rounding over producers, so producer p sells A_p <= its injection, and
sum A_p = A); then each consumer's a_i is split among the producers in proportion to what each
still has to sell, consumers in order (cumulative rounding over producers): every row adds up to
a_i, every column to A_p, nothing negative. Each producer's surplus is its injection minus A_p.

Bounds, so that every product fits int64: every energy value, and each slot's total production,
at most ``units.MAX_ACC_WH`` (9 MWh in a 15-minute step is 36 MW: seven times the 5 MW cap of an
extended operation, arrêté of 21 February 2025). Inputs outside raise :class:`SettlementError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np

from daisee_lab.errors import SettlementError
from daisee_lab.settlement.reference import energy_error
from daisee_lab.units import MAX_ACC_WH

KEYS = ("static", "dynamic_default", "dynamic_simple", "dynamic_full")
COEFFICIENT_DECIMALS = 6
COEFFICIENT_SCALE = 10**COEFFICIENT_DECIMALS  # one coefficient unit: a millionth (ppm)


@dataclass(frozen=True, eq=False)
class Allocation:
    """What Enedis computes for one operation: per consumer and slot, integer Wh.

    ``allocated_wh`` (consumers, slots): energy each consumer received from the operation.
    ``complement_wh`` (consumers, slots): consumption minus allocated, what its supplier delivers.
    ``surplus_wh`` (slots,): production nobody took, sold to the producers' buyer.
    ``sold_wh`` (producers, slots): each producer's energy allocated to consumers;
    ``producer_surplus_wh`` (producers, slots): its injection nobody took, sold to its buyer.
    ``by_producer_wh`` (producers, consumers, slots): who sold to whom, with several producers
    (``None`` with one producer, or when not asked for).
    Exactly: ``allocated_wh.sum(0) + surplus_wh == production``, ``sold_wh.sum(0) ==
    allocated_wh.sum(0)``, ``allocated_wh + complement_wh == consumption``.
    """

    allocated_wh: np.ndarray
    complement_wh: np.ndarray
    surplus_wh: np.ndarray
    sold_wh: np.ndarray
    producer_surplus_wh: np.ndarray
    by_producer_wh: np.ndarray | None = None


def allocate(consumption_wh, production_wh, key="dynamic_default", coefficients=None,
             by_producer=True):
    """Allocate each slot's production among the consumers, as Enedis does (the plain oracle).

    ``consumption_wh``: integer Wh (consumers, slots); ``production_wh``: (producers, slots) or
    (slots,); ``key``: one of :data:`KEYS`; ``coefficients``: fractions per consumer (static,
    dynamic_simple) or per consumer and slot (dynamic_full), none for dynamic_default.
    ``by_producer=False`` skips the (producers, consumers, slots) split. Raises
    :class:`SettlementError` naming the problem.
    """
    cons, prod = check_energies(consumption_wh, production_wh)
    ppm = check_coefficients(key, coefficients, cons.shape)
    consumers, slots = cons.shape
    allocated = np.zeros(cons.shape, cons.dtype)
    sold = np.zeros(prod.shape, np.int64)
    split = np.zeros((prod.shape[0], consumers, slots), np.int64) \
        if by_producer and prod.shape[0] > 1 else None
    for t in range(slots):
        c = [int(x) for x in cons[:, t]]
        p = [int(x) for x in prod[:, t]]
        k = None if ppm is None else [int(x) for x in (ppm[:, t] if ppm.ndim == 2 else ppm)]
        shares = cumulative_round(exact_shares(key, c, sum(p), k))
        allocated[:, t] = shares
        sold[:, t] = cumulative_round([Fraction(sum(shares) * x, sum(p)) if sum(p) else 0
                                       for x in p])
        if split is not None:
            split[:, :, t] = split_by_producer(shares, sold[:, t].tolist())
    surplus = prod.sum(axis=0, dtype=np.int64) - allocated.sum(axis=0, dtype=np.int64)
    return Allocation(allocated, cons - allocated, surplus, sold, prod - sold, split)


def exact_shares(key, c, production, k):
    """One slot's exact shares a_i* (Fractions) under ``key``, straight from the rules."""
    if key in ("static", "dynamic_full"):
        return [min(Fraction(ci), Fraction(ki * production, COEFFICIENT_SCALE))
                for ci, ki in zip(c, k)]
    if key == "dynamic_default":
        total = sum(c)
        return [Fraction(ci * min(production, total), total) if total else Fraction(0)
                for ci in c]
    pool = Fraction(sum(k) * production, COEFFICIENT_SCALE)
    served = [i for i, ki in enumerate(k) if ki > 0]
    shares = [Fraction(0)] * len(c)
    if sum(c[i] for i in served) <= pool:
        for i in served:
            shares[i] = Fraction(c[i])
        return shares
    remaining, weight = pool, sum(k)
    for i in sorted(served, key=lambda i: Fraction(c[i], k[i])):  # who saturates first
        if c[i] * weight > remaining * k[i]:
            break  # i is not served fully at this level, nor is anyone after it
        shares[i] = Fraction(c[i])
        remaining -= c[i]
        weight -= k[i]
    for i in served:
        if shares[i] == 0 and c[i] > 0:
            shares[i] = remaining * k[i] / weight
    return shares


def cumulative_round(exact):
    """Integers whose prefix sums are the floors of the exact prefix sums (see module doc)."""
    out, before, total = [], 0, Fraction(0)
    for value in exact:
        total += value
        now = math.floor(total)
        out.append(now - before)
        before = now
    return out


def split_by_producer(shares, sold):
    """(producers, consumers) Wh: each consumer's share split in proportion to what each
    producer still has to sell, consumers in order (see module doc)."""
    left = list(sold)
    out = np.zeros((len(sold), len(shares)), np.int64)
    for i, a in enumerate(shares):
        remaining = sum(left)
        part = cumulative_round([Fraction(a * x, remaining) if remaining else 0 for x in left])
        for p, x in enumerate(part):
            out[p, i] = x
            left[p] -= x
    return out


# --- validation, shared with the kernels --------------------------------------------------------

def range_error(name, array):
    """The SettlementError naming the first value of `array` outside [0, MAX_ACC_WH]."""
    index = np.argwhere((array < 0) | (array > MAX_ACC_WH))[0]
    return energy_error(name, array, index, MAX_ACC_WH)


def check_energies(consumption_wh, production_wh, scan_consumption=True):
    """Consumption as a C-contiguous int32/int64 (consumers, slots) array, production as int64
    (producers, slots); every value in [0, MAX_ACC_WH], each slot's production too.
    ``scan_consumption=False`` leaves the consumption's range to the caller (the numba kernel
    checks it in the pass that already reads every value, then raises :func:`range_error`)."""
    cons = _integer_array("consumption_wh", consumption_wh)
    prod = _integer_array("production_wh", production_wh)
    if cons.ndim != 2:
        raise SettlementError(f"consumption_wh must be 2-D (consumers, slots), got shape "
                              f"{cons.shape}")
    if prod.ndim == 1:
        prod = prod[None]
    if prod.ndim != 2 or prod.shape[1] != cons.shape[1]:
        raise SettlementError(f"production_wh must be (producers, slots) or (slots,) with "
                              f"{cons.shape[1]} slots like consumption_wh, got shape "
                              f"{np.shape(production_wh)}")
    if prod.shape[0] == 0:
        raise SettlementError("production_wh has no producer: an operation needs at least one")
    scanned = [("consumption_wh", cons)] if scan_consumption else []
    for name, array in scanned + [("production_wh", prod)]:
        if array.size and (array.min() < 0 or array.max() > MAX_ACC_WH):
            raise range_error(name, array)
    totals = prod.sum(axis=0, dtype=np.int64)
    if totals.size and totals.max() > MAX_ACC_WH:
        t = int(totals.argmax())
        raise SettlementError(f"production_wh: the operation produces {totals[t]} Wh in slot "
                              f"{t}, above {MAX_ACC_WH} Wh (36 MW for 15 minutes; the legal cap "
                              f"is 5 MW)")
    small = cons.dtype.itemsize < 4 or cons.dtype == np.int32
    cons = np.ascontiguousarray(cons, np.int32 if small else np.int64)
    return cons, np.ascontiguousarray(prod, np.int64)


def _integer_array(name, value):
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        hint = " (NaN is not an energy: fill or drop missing readings first)" \
            if array.dtype.kind == "f" and np.isnan(array).any() else ""
        raise SettlementError(f"{name} must be an integer array of Wh, got dtype "
                              f"{array.dtype}{hint}")
    if array.dtype == np.uint64 and array.size and array.max() > MAX_ACC_WH:
        raise energy_error(name, array, np.unravel_index(array.argmax(), array.shape), MAX_ACC_WH)
    return array.astype(np.int64) if array.dtype.kind == "u" else array


def check_coefficients(key, coefficients, shape):
    """The coefficients in millionths (int64; int32 for dynamic_full), or None for the default
    key; raises SettlementError naming what is wrong."""
    if key not in KEYS:
        raise SettlementError(f"key must be one of {KEYS}, got {key!r}")
    if key == "dynamic_default":
        if coefficients is not None:
            raise SettlementError("key='dynamic_default' shares pro rata of consumption: it "
                                  "takes no coefficients")
        return None
    if coefficients is None:
        raise SettlementError(f"key={key!r} needs coefficients (fractions summing to at most 1)")
    consumers, slots = shape
    want = (consumers, slots) if key == "dynamic_full" else (consumers,)
    ppm = to_ppm(coefficients)
    if ppm.shape != want:
        raise SettlementError(f"coefficients for key={key!r} must have shape {want} "
                              f"({'consumers, slots' if key == 'dynamic_full' else 'consumers'})"
                              f", got {ppm.shape}")
    sums = ppm.sum(axis=0) if key == "dynamic_full" else ppm.sum(keepdims=True)
    if sums.size and sums.max() > COEFFICIENT_SCALE:
        t = int(sums.argmax())
        where = f" in slot {t}" if key == "dynamic_full" else ""
        raise SettlementError(f"coefficients must sum to at most 1, got "
                              f"{Fraction(int(sums[t]), COEFFICIENT_SCALE)}{where}")
    return np.ascontiguousarray(ppm, np.int32 if key == "dynamic_full" else np.int64)


def to_ppm(coefficients):
    """Fractions in [0, 1] with at most 6 decimals -> int64 millionths, exactly."""
    array = np.asarray(coefficients)
    if array.dtype == object or array.dtype.kind in "US":
        flat = [_exact(x) for x in array.ravel()]
        for i, x in enumerate(flat):
            if x is None:
                raise SettlementError(f"coefficients must be numbers, got "
                                      f"{array.ravel()[i]!r} at flat index {i}")
        _check_range(array.shape, np.array([0 <= x <= 1 for x in flat], bool), flat)
        scaled = [x * COEFFICIENT_SCALE for x in flat]
        bad = [i for i, x in enumerate(scaled) if x.denominator != 1]
        if bad:
            raise _precision_error(array.ravel()[bad[0]], np.unravel_index(bad[0], array.shape))
        return np.array([int(x) for x in scaled], np.int64).reshape(array.shape)
    if array.dtype.kind not in "iuf" or array.dtype.kind == "f" and array.dtype != np.float64:
        raise SettlementError(f"coefficients must be float64 fractions (or Fraction, Decimal, "
                              f"str), got dtype {array.dtype}")
    if array.dtype.kind == "f" and np.isnan(array).any():
        index = np.argwhere(np.isnan(array))[0]
        raise SettlementError(f"coefficients hold NaN at {tuple(int(i) for i in index)}")
    _check_range(array.shape, ((array >= 0) & (array <= 1)).ravel(), array.ravel())
    scaled = array.astype(np.float64) * COEFFICIENT_SCALE
    rounded = np.rint(scaled)
    off = np.abs(scaled - rounded) > 1e-4
    if off.any():
        index = np.argwhere(off)[0]
        raise _precision_error(array[tuple(index)], index)
    return rounded.astype(np.int64)


def _exact(value):
    if isinstance(value, (Fraction, int, np.integer)) and not isinstance(value, bool):
        return Fraction(int(value)) if isinstance(value, np.integer) else Fraction(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else Fraction(str(float(value)))
    try:
        return Fraction(Decimal(str(value)))
    except (ArithmeticError, ValueError):
        return None


def _check_range(shape, inside, values):
    if not inside.all():
        i = int(np.argmin(inside))
        raise SettlementError(f"coefficients must be fractions in [0, 1], got {values[i]} at "
                              f"{tuple(int(j) for j in np.unravel_index(i, shape))}")


def _precision_error(value, index):
    return SettlementError(f"coefficients have at most {COEFFICIENT_DECIMALS} decimals (a "
                           f"millionth), got {value} at {tuple(int(i) for i in index)}: round "
                           f"them first")
