"""Bench: the recurrence engine against ``rrulestr(rule).after(after)``, side by side.

Run ``python tools/bench/bench_recurrence.py``. For each rule (New York, DTSTART at 09:00
local) and each series age (started ten years ago, started today) it prints the median
per call of:

* ``cold``: the engine from the text, parse cache cleared before every call (what a
  freshly started function pays);
* ``search``: the rule compiled, queried at distinct instants spread over the next ten
  years in shuffled order, so nearly every call is a real search;
* ``repeat``: the rule compiled, queried at distinct instants within the next day (what a
  running function pays when it asks about a series again: a query between instances it
  already found is a lookup, see ``CompiledRule.next_after``);
* ``chain``: the rule compiled, each call asking for the occurrence after the previous
  answer, starting now: exactly how compute-next-occurrence advances a series (its anchor
  is the last occurrence), and what the issue's "keep an anchor" describes;
* ``naive``: ``rrulestr(rule).after(after)``, which walks every instance from DTSTART.

Goals (exit code 1 if one is missed): the engine's median stays under 1 ms for every rule
(cold, search, repeat and chain), and on every ten-year-old series the engine's search is
at least 100 times faster than the naive call (``ratio``; ``chain ratio`` is printed too).
Every answer is also checked against the naive one.

A bound worth knowing: the naive call computes every instance since DTSTART, N of them
(a ten-year-old MONTHLY series has N = 120, a YEARLY one N = 10). An engine that expands
even one period per call with dateutil cannot beat about N times the naive call, which is
why the engine lays out each kind of year or month once per rule and shifts that layout
onto the period it searches (``CompiledRule._layout``). A search then does no calendar
expansion, but it is still a search: the ``search`` queries are distinct instants over ten
years, and for each the engine finds the grid period, builds its wall times, converts them
in the zone and compares; only the layout of that kind of year or month is looked up.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from taskpulse.recurrence import compile_rule, next_occurrence

ZONE = "America/New_York"
RULES = (
    "FREQ=MINUTELY;INTERVAL=15",
    "FREQ=HOURLY",
    "FREQ=DAILY",
    "FREQ=WEEKLY;BYDAY=MO,WE,FR",
    "FREQ=MONTHLY;BYDAY=-1FR",
    "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2",
    "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO",
)
ENGINE_CALLS = 200
NAIVE_BUDGET_S = 4.0  # per rule and age; at least 3 calls are always made
MAX_ENGINE_S = 0.001
MIN_RATIO = 100.0


def median_seconds(call: Callable[[int], object], calls: int) -> float:
    samples = []
    for index in range(calls):
        began = time.perf_counter()
        call(index)
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def naive_median(rule: str, after: datetime) -> tuple[float, datetime | None]:
    samples: list[float] = []
    result = None
    spent = 0.0
    while len(samples) < 3 or (spent < NAIVE_BUDGET_S and len(samples) < 25):
        began = time.perf_counter()
        result = rrulestr(rule).after(after)
        samples.append(time.perf_counter() - began)
        spent += samples[-1]
    return statistics.median(samples), None if result is None else result.astimezone(UTC)


def main() -> int:
    now = datetime.now(UTC).replace(microsecond=0)
    local_today = now.astimezone(ZoneInfo(ZONE)).date()
    starts = {
        "10 years": local_today.replace(year=local_today.year - 10),
        "today": local_today,
    }
    # Distinct query instants, in a shuffled but fixed order.
    day = [now + timedelta(seconds=(i * 7919) % 86_400) for i in range(ENGINE_CALLS)]
    decade = [now + timedelta(minutes=(i * 7919 * 97) % 5_259_600) for i in range(ENGINE_CALLS)]

    header = (
        f"{'rule':46} {'age':>8} {'cold':>9} {'search':>9} {'repeat':>9} {'chain':>9} "
        f"{'naive':>11} {'ratio':>8} {'chain ratio':>12}  verdict"
    )
    print(header)
    print("-" * len(header))
    failures = 0
    for value in RULES:
        for age, start in starts.items():
            rule = f"DTSTART;TZID={ZONE}:{start:%Y%m%d}T090000\nRRULE:{value}"

            def cold(_: int, rule: str = rule) -> object:
                compile_rule.cache_clear()
                return next_occurrence(rule, now)

            def search(index: int, rule: str = rule) -> object:
                return next_occurrence(rule, decade[index])

            def repeat(index: int, rule: str = rule) -> object:
                return next_occurrence(rule, day[index])

            anchor = [now]

            def chain(_: int, rule: str = rule, anchor: list[datetime] = anchor) -> object:
                found = next_occurrence(rule, anchor[0])
                anchor[0] = found if found is not None else now
                return found

            cold_s = median_seconds(cold, ENGINE_CALLS // 2)
            next_occurrence(rule, now)
            search_s = median_seconds(search, ENGINE_CALLS)
            repeat_s = median_seconds(repeat, ENGINE_CALLS)
            chain_s = median_seconds(chain, ENGINE_CALLS)
            naive_s, naive_result = naive_median(rule, now)
            ratio, chain_ratio = naive_s / search_s, naive_s / chain_s

            problems = []
            if next_occurrence(rule, now) != naive_result:
                problems.append(f"differs from naive ({naive_result})")
            if max(cold_s, search_s, repeat_s, chain_s) >= MAX_ENGINE_S:
                problems.append("engine >= 1 ms")
            if age == "10 years" and ratio < MIN_RATIO:
                problems.append(f"ratio < {MIN_RATIO:.0f}")
            failures += bool(problems)
            verdict = "ok" if not problems else "MISSED: " + "; ".join(problems)
            print(
                f"{value:46} {age:>8} {cold_s * 1e3:7.3f}ms {search_s * 1e3:7.3f}ms "
                f"{repeat_s * 1e3:7.3f}ms {chain_s * 1e3:7.3f}ms {naive_s * 1e3:9.3f}ms "
                f"{ratio:7.0f}x {chain_ratio:11.0f}x  {verdict}",
                flush=True,
            )
    print()
    print("cold: parse + search; search: compiled, instants over ten years; repeat: compiled,")
    print("instants within a day; chain: compiled, each call after the previous answer (how")
    print("a series advances). ratio = naive / search; chain ratio = naive / chain.")
    print("Goals: engine < 1 ms everywhere; ratio >= 100 on every ten-year-old series.")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
