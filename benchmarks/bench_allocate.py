"""Collective self-consumption allocation: the numba kernel against a memory pass and the reference.

    python benchmarks/bench_allocate.py           # 10,000 consumers x 35,040 slots (a year)
    python benchmarks/bench_allocate.py --small   # 1,000 consumers x 3,504 slots

Measured side by side in one run and printed as ratios; the figures in docs/performance.md come
from this script. Consumption is int32 Wh (1.4 GB at full size), the outputs (allocated and
complement) int32 too. One producer: the operation's production per slot, shaped like a few
large roofs (at most 2.5 MWh a slot: 10 MW, the public-body cap). The memory floor is one
parallel numba pass that allocates both outputs, reads the consumption and the production once
and writes both outputs once (allocated = consumption, complement = consumption >> 1): no
allocation can touch less.
``dynamic_full`` needs a coefficient per consumer and slot (another 2.8 GB of float64 to
validate), so it runs at the small size only. The reference (Python Fractions) is checked for
identical integers on a 300 x 96 corner of the data.
"""

import argparse
import sys
import time
from pathlib import Path

import numba
import numpy as np
from numba import njit, prange

sys.path.insert(0, str(Path(__file__).parent))
from bench_settlement import best, machine

from daisee_lab.settlement import allocation, allocation_reference

FIELDS = ("allocated_wh", "complement_wh", "surplus_wh", "sold_wh")


def operation(seed, consumers, slots):
    """Seeded consumption (evening-peaked, 160 to 480 W on average) and one production curve
    (sunny hours, seasons, clouds) covering about half of the daytime demand."""
    rng = np.random.default_rng(seed)
    hour = np.arange(slots) % 96 / 4
    day = np.arange(slots) // 96
    evening = 1 + 1.5 * np.exp(-((hour - 19.5) / 1.5) ** 2)
    season = 0.6 + 0.4 * np.cos(2 * np.pi * (day - 172) / 365)
    sun = np.clip(np.sin((hour - 6) / 12 * np.pi), 0, None) * season
    cons = np.empty((consumers, slots), np.int32)
    for start in range(0, consumers, 1000):  # a block at a time: float32 temporaries stay small
        rows = min(1000, consumers - start)
        base = rng.integers(40, 120, (rows, 1)).astype(np.float32)
        cons[start:start + rows] = base * evening * rng.random((rows, slots), np.float32) * 2
    peak = min(2_500_000, 300 * consumers)  # Wh per slot at noon in June
    prod = (peak * sun * (0.3 + 0.7 * rng.random(slots))).astype(np.int64)
    return cons, prod


def memory_floor(cons, prod):
    """Read the inputs once, write both (new) outputs once."""
    out, comp = np.empty_like(cons), np.empty_like(cons)
    _floor(cons, prod, out, comp)
    return out, comp


@njit(parallel=True, cache=True)
def _floor(cons, prod, out, comp):
    for i in prange(cons.shape[0]):
        for t in range(cons.shape[1]):
            c = cons[i, t] + (prod[t] > 0)
            out[i, t] = c
            comp[i, t] = c >> 1


def coefficients(key, consumers, slots, rng):
    if key == "dynamic_default":
        return None
    if key == "dynamic_full":
        weights = rng.random((consumers, slots))
        return np.floor(weights / weights.sum(axis=0) * 10**6) / 10**6
    return np.full(consumers, (10**6 // consumers) / 10**6)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="1,000 consumers x 3,504 slots")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, the best kept")
    args = parser.parse_args()
    consumers, slots = (1_000, 3_504) if args.small else (10_000, 35_040)
    print(f"allocation benchmark: {consumers:,} consumers x {slots:,} slots, int32 Wh")
    start = time.perf_counter()
    cons, prod = operation(7, consumers, slots)
    print(f"data generated in {time.perf_counter() - start:.1f} s; production covers "
          f"{min(prod.sum(), cons.sum()) / cons.sum():.0%} of the consumption at most")
    rng = np.random.default_rng(8)
    memory_floor(cons[:1, :8], prod[:8])  # compile
    print(f"machine: {machine()}")
    keys = allocation_reference.KEYS if args.small else allocation_reference.KEYS[:3]
    for key in keys:
        coef = coefficients(key, consumers, slots, rng)
        allocation.allocate(cons[:2, :4], prod[:4], key, None if coef is None else
                            (coef[:2] if coef.ndim == 1 else coef[:2, :4]))  # compile
        (kernel_s, floor_s), (result, _) = best(
            args.repeat, lambda key=key, coef=coef: allocation.allocate(cons, prod, key, coef),
            lambda: memory_floor(cons, prod))
        corner_cons, corner_prod = cons[:300, :96], prod[:96]
        small = coefficients(key, 300, 96, rng) if coef is None or coef.ndim == 1 \
            else coef[:300, :96]
        fast = allocation.allocate(corner_cons, corner_prod, key, small)
        slow = allocation_reference.allocate(corner_cons, corner_prod, key, small)
        same = all(np.array_equal(getattr(fast, f), getattr(slow, f)) for f in FIELDS)
        share = result.allocated_wh.sum(dtype=np.int64) / max(1, prod.sum())
        print(f"{key:16s} kernel {kernel_s:7.3f} s   floor {floor_s:7.3f} s   kernel / floor "
              f"{kernel_s / floor_s:5.2f}x   production used {share:.0%}   "
              f"corner identical to the reference: {same}")
        del result
    print(f"numba threads: {numba.get_num_threads()}")


if __name__ == "__main__":
    main()
