"""Community settlement: the numba kernel against the reference, the memory floor and Dask.

    python benchmarks/bench_settlement.py           # 10,000 households x 35,040 slots (a year)
    python benchmarks/bench_settlement.py --small   # 1,000 households x 3,504 slots

Everything is measured side by side in one run and printed as ratios; the figures in
docs/performance.md come from this script. Energies are int32 Wh (a 15-minute slot of a home
never needs more), so the full size holds 1.4 GB per input array and 2.8 GB per int64 output.
"""

import argparse
import os
import platform
import time

import numba
import numpy as np

from daisee_lab.settlement import kernels, reference, scale

BUY, SELL = 250_000, 60_000  # µ€/kWh: a French retail price and a feed-in tariff
PER_COMMUNITY = 100  # households per community in the many-community and Dask runs
BLOCK = 1_000  # households generated together (10 communities): one Dask chunk


def households(seed, block, slots):
    """``BLOCK`` synthetic households as int32 Wh (communities, PER_COMMUNITY, slots):
    evening-peaked loads, and rooftop PV on a third of the roofs. Same seed, same numbers."""
    rng = np.random.default_rng([seed, block])
    hour = np.arange(slots) % 96 / 4
    day = np.arange(slots) // 96
    evening = 1 + 1.5 * np.exp(-((hour - 19.5) / 1.5) ** 2)
    season = 0.6 + 0.4 * np.cos(2 * np.pi * (day - 172) / 365)  # longest day: June 21
    sun = np.clip(np.sin((hour - 6) / 12 * np.pi), 0, None) * season
    base = rng.integers(40, 120, (BLOCK, 1))  # Wh per 15 min: 160 to 480 W
    cons = base * evening * rng.random((BLOCK, slots), dtype=np.float32) * 2
    peak = rng.integers(750, 2250, (BLOCK, 1)) * (rng.random((BLOCK, 1)) < 1 / 3)  # 3-9 kWp
    prod = peak * sun * (0.3 + 0.7 * rng.random((BLOCK, slots), dtype=np.float32))
    shape = (BLOCK // PER_COMMUNITY, PER_COMMUNITY, slots)
    return cons.astype(np.int32).reshape(shape), prod.astype(np.int32).reshape(shape)


def best(repeat, *functions):
    """The fastest of ``repeat`` runs of each function, in seconds, the runs taken in turns so
    that a busy moment of the machine hits all of them; and the last results."""
    times = [[] for _ in functions]
    results = [None] * len(functions)
    for _ in range(repeat):
        for i, function in enumerate(functions):
            start = time.perf_counter()
            results[i] = function()
            times[i].append(time.perf_counter() - start)
    return [min(t) for t in times], results


def machine():
    """One line describing where the numbers were measured."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{cpu}, {os.cpu_count()} cores, {memory:.1f} GiB; numba {numba.__version__} "
            f"({numba.threading_layer()} layer, {numba.get_num_threads()} threads), "
            f"numpy {np.__version__}")


def bench_dask(seed, count, slots, cons, prod, repeat):
    """Dask on a 2-worker LocalCluster against the single-process kernel, on the same data."""
    import dask
    import dask.array as da
    from dask.distributed import Client, LocalCluster, wait

    (kernel_s,), (local,) = best(repeat, lambda: scale.settle_many(cons, prod, BUY, SELL))
    local_sums = local.payments.sum(axis=(1, 2)), local.rounding
    del local
    shape = (BLOCK // PER_COMMUNITY, PER_COMMUNITY, slots)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        blocks = [dask.delayed(households)(seed, b, slots) for b in range(count // BLOCK)]
        inputs = [da.concatenate([da.from_delayed(block[i], shape, np.int32) for block in blocks])
                  for i in (0, 1)]
        inputs = client.persist(inputs)  # generated on the workers, not shipped: not timed
        wait(inputs)
        scale.compute(scale.settle_dask(*(x[:1, :, :96] for x in inputs), BUY, SELL))  # warm-up
        times, first = [], None
        for run in range(repeat):  # a new price each run: new task keys, so Dask recomputes
            start = time.perf_counter()
            result = scale.settle_dask(*inputs, BUY + run, SELL)
            kept = client.persist([result.payments, result.rounding])  # results stay on workers
            wait(kept)
            times.append(time.perf_counter() - start)
            first = first or kept
        payments, rounding = first
        same = (np.array_equal(payments.sum(axis=(1, 2)).compute(), local_sums[0])
                and np.array_equal(rounding.compute(), local_sums[1]))
        dask_s = min(times)
    return kernel_s, dask_s, same


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="1,000 households x 3,504 slots")
    args = parser.parse_args()
    count, slots, repeat = (1_000, 3_504, 7) if args.small else (10_000, 35_040, 5)
    seed = 2016

    print(f"settlement benchmark: {count:,} households x {slots:,} slots, int32 Wh, "
          f"method 'mmr' unless said")
    start = time.perf_counter()
    cons3 = np.empty((count // PER_COMMUNITY, PER_COMMUNITY, slots), np.int32)
    prod3 = np.empty_like(cons3)
    per_block = BLOCK // PER_COMMUNITY
    for b in range(count // BLOCK):
        cons3[b * per_block:(b + 1) * per_block], prod3[b * per_block:(b + 1) * per_block] = \
            households(seed, b, slots)
    cons, prod = cons3.reshape(count, slots), prod3.reshape(count, slots)  # one community
    print(f"data generated in {time.perf_counter() - start:.1f} s")

    # compile (or load the cache), on 2 million household-slots so that the parallel path runs
    kernels.settle(cons[:1_000, :2_000], prod[:1_000, :2_000], BUY, SELL)
    scale.settle_many(cons3[:10, :, :2_000], prod3[:10, :, :2_000], BUY, SELL)
    print(f"machine: {machine()}")
    floor = lambda: np.subtract(cons, prod, out=np.empty(cons.shape, np.int64))  # noqa: E731
    (kernel_s, floor_s), (fast, _) = best(
        repeat, lambda: kernels.settle(cons, prod, BUY, SELL), floor)
    (reference_s,), (slow,) = best(1, lambda: reference.settle(cons, prod, BUY, SELL))
    same = all(np.array_equal(getattr(fast, name), getattr(slow, name)) for name in vars(fast))
    del fast, slow
    print(f"kernel (numba)            {kernel_s:9.3f} s   identical to the reference: {same}")
    print(f"reference (NumPy/Python)  {reference_s:9.3f} s   kernel is "
          f"{reference_s / kernel_s:7.1f}x faster      (target >= 4x)")
    print(f"memory floor (np.subtract){floor_s:9.3f} s   kernel takes "
          f"{kernel_s / floor_s:7.2f}x the floor   (target <= 2x)")

    ratios = []
    for method, window in (("none", None), ("mmr", None), ("bill_sharing", None),
                           ("bill_sharing", 96), ("sdr", None)):
        (seconds, floor_s), _ = best(
            repeat, lambda m=method, w=window: kernels.settle(cons, prod, BUY, SELL, m, w), floor)
        ratios.append(f"{method}{' daily' if window else ''} {seconds / floor_s:.2f}x")
    print("kernel / floor by method: " + ", ".join(ratios))

    kernel3_s, dask_s, same = bench_dask(seed, count, slots, cons3, prod3, repeat)
    print(f"{count // PER_COMMUNITY} communities of {PER_COMMUNITY}: single-process kernel "
          f"{kernel3_s:.3f} s, Dask 2-worker LocalCluster {dask_s:.3f} s "
          f"({dask_s / kernel3_s:.2f}x the kernel), same results: {same}")

    rate = count * slots / kernel_s
    day = 35_000_000 * 96
    print(f"throughput: {rate / 1e6:,.0f} million household-slots/s; 35 million meters x 96 "
          f"slots = one French day in {day / rate:.1f} s on this machine")


if __name__ == "__main__":
    main()
