"""Double-auction clearing: the numba kernel against the argsort-based reference, in one run.

    python benchmarks/bench_auction.py           # 1,000,000 bids x 1,000,000 asks
    python benchmarks/bench_auction.py --small   # 100,000 x 100,000

One auction of 1,000,000 bids against 1,000,000 asks (``--small``: 100,000 each), prices on
integer µ€/kWh ticks, quantities in Wh. Both implementations get the same orders and must return
the same integers; the script prints the best of ``--repeat`` times for each and their ratio
(target: the kernel at least 3x faster). The kernel is compiled (or loaded from numba's cache)
before timing.
"""

import argparse
import os
import platform
import time

import numba
import numpy as np

from daisee_lab.settlement import auction_kernels, auction_reference

TARGET = 3.0


def orders(n, seed):
    """``n`` bids (5-40 c€/kWh) and ``n`` asks (0-35 c€/kWh) in µ€/kWh ticks, 1-4,999 Wh each."""
    rng = np.random.default_rng(seed)
    bid_prices = rng.integers(50_000, 400_000, n)
    ask_prices = rng.integers(0, 350_000, n)
    return bid_prices, rng.integers(1, 5_000, n), ask_prices, rng.integers(1, 5_000, n)


def best_time(clear, book, rule, repeat):
    """The result of ``clear(*book, rule)`` and its best wall-clock time over ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = clear(*book, rule)
        times.append(time.perf_counter() - start)
    return result, min(times)


def same(a, b):
    """Whether two clearings hold identical integers."""
    return (a.volume == b.volume and a.price == b.price and np.array_equal(a.trades, b.trades)
            and np.array_equal(a.bid_fills, b.bid_fills)
            and np.array_equal(a.ask_fills, b.ask_fills))


def main(argv=None):
    """Time both implementations side by side and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="100,000 orders a side, not 1e6")
    parser.add_argument("--repeat", type=int, default=5, help="runs per implementation")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n = 100_000 if args.small else 1_000_000
    book = orders(n, args.seed)
    auction_kernels.clear_double_auction(*(side[:10] for side in book))  # compile or load
    print(f"double auction, {n:,} bids x {n:,} asks, best of {args.repeat}; numpy "
          f"{np.__version__}, numba {numba.__version__}, {os.cpu_count()} CPUs "
          f"({platform.machine()})")
    print(f"{'rule':<14}{'volume Wh':>16}{'trades':>10}{'reference s':>14}{'kernel s':>10}"
          f"{'ratio':>8}")
    ratios = []
    for rule in ("midpoint", "mcafee", "pay_as_bid"):
        ref, t_ref = best_time(auction_reference.clear_double_auction, book, rule, args.repeat)
        ker, t_ker = best_time(auction_kernels.clear_double_auction, book, rule, args.repeat)
        if not same(ref, ker):
            raise SystemExit(f"{rule}: the kernel and the reference disagree")
        ratios.append(t_ref / t_ker)
        print(f"{rule:<14}{ref.volume:>16,}{len(ref.trades):>10,}{t_ref:>14.3f}{t_ker:>10.3f}"
              f"{ratios[-1]:>7.1f}x")
    verdict = "met" if min(ratios) >= TARGET else "NOT met"
    print(f"kernel / reference speed-up: {min(ratios):.1f}x at worst (target >= {TARGET:.0f}x: "
          f"{verdict})")


if __name__ == "__main__":
    main()
