"""How busy and how fast the machine is while a benchmark runs, printed beside its figures.

The load average says how many processes wanted a CPU. On a virtual machine it does not show a
host that gives the guest less CPU: the reference loop below took 0.24 s and, minutes later
with the machine otherwise idle, 0.31 s (2026-11-24); another machine of the same kind took
0.19-0.21 s all day (2026-11-25). Every timing of a run moves with
it, so a benchmark prints the loop's time first and last; figures from runs whose loop times
differ by more than a few per cent are not comparable as absolute times (ratios measured in the
same run still are).
"""

from __future__ import annotations

import os
import statistics
import time

REFERENCE_LOOP = 20_000_000


def reference_seconds(rounds: int = 3) -> float:
    """Median seconds of ``sum(range(REFERENCE_LOOP))``: a fixed amount of pure-Python work."""
    times = []
    for _round in range(rounds):
        started = time.perf_counter()
        sum(range(REFERENCE_LOOP))
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def conditions() -> str:
    one, five, fifteen = os.getloadavg()
    return (
        f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs; "
        f"reference loop {reference_seconds():.3f} s"
    )
