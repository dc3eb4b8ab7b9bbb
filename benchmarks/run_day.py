"""The main job, a community day from the meters' bytes to on-chain settlement: each stage's share.

    python benchmarks/run_day.py                   # the default day: 8 households, 96 slots, mmr
    python benchmarks/run_day.py --households 50   # the largest community
    python benchmarks/run_day.py --small           # 3 households, 8 slots
    python benchmarks/run_day.py --json            # the figures as one JSON object

One :func:`daisee_lab.run.run_day` on eth-tester, in a temporary folder: what it does before
the first stage (``start``: checking the arguments, starting the in-process chain), then each
stage, as ``daisee-lab run`` prints them (the command also spends a second or two importing).
The script prints each stage's seconds and its share of the whole, how much faster than real
time the meters' day was read (meter time over the meters stage's seconds), the frames decoded
per second, and the whole against the target for the default day: 20 s on this 2-core machine,
with the meters no longer the largest stage.
"""

import argparse
import json
import os
import platform
import time
from tempfile import TemporaryDirectory

from daisee_lab.run import LEAD, run_day
from daisee_lab.units import SLOT_SECONDS

TARGET = 20.0  # seconds for the default day, once set up (issue 13)


def main(argv=None):
    """Run one day and print each stage's seconds and share."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=8, help="1 to 50 (default 8)")
    parser.add_argument("--small", action="store_true", help="3 households, 8 slots")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    households, slots = (3, 8) if args.small else (args.households, None)
    with TemporaryDirectory() as out:
        began = time.perf_counter()
        report = run_day(households=households, slots=slots, out=f"{out}/day", progress=False)
        whole = time.perf_counter() - began
    stages = {"start": round(whole - sum(report.timings.values()), 2), **report.timings}
    meter_seconds = len(report.slots) * SLOT_SECONDS + LEAD.total_seconds()
    figures = {
        "households": households, "slots": len(report.slots), "method": report.method,
        "seconds": round(whole, 2), "stages_s": stages,
        "shares": {name: round(seconds / whole, 3) for name, seconds in stages.items()},
        "meter_time_over_real_time": round(meter_seconds / report.timings["meters"]),
        "frames": report.figures["frames"],
        "frames_per_s": round(report.figures["frames"] / report.timings["meters"]),
        "simulators_cpu_s": report.figures["simulators_cpu_s"],
        "readers_cpu_s": report.figures["readers_cpu_s"],
        "target_s": TARGET, "cpus": os.cpu_count(), "load_average": os.getloadavg()[0],
        "python": platform.python_version(),
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{households} households, {len(report.slots)} slots, {report.method} on eth-tester; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, Python "
          f"{platform.python_version()}")
    for name, seconds in stages.items():
        print(f"  {name:<9} {seconds:6.2f} s  {seconds / whole:6.1%}")
    print(f"  {'whole':<9} {whole:6.2f} s")
    largest = max(report.timings, key=report.timings.get)
    print(f"meters: {report.figures['frames']:,} frames decoded and recorded, "
          f"{figures['frames_per_s']:,} a second; the meters' time read "
          f"x{figures['meter_time_over_real_time']:,} real time; CPU: simulators "
          f"{report.figures['simulators_cpu_s']} s, readers and recorder "
          f"{report.figures['readers_cpu_s']} s")
    print(f"largest stage: {largest}")
    if households == 8 and slots is None:
        met = "met" if whole <= TARGET and largest != "meters" else "missed"
        print(f"target: the default day in {TARGET:g} s at most, the meters not the largest "
              f"stage: {met}")


if __name__ == "__main__":
    main()
