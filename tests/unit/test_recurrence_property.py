"""The engine against an exhaustive oracle, over generated rules, zones and instants.

The oracle is the obvious, slow, independent reading of the contract: dateutil's
``rrulestr`` parses the RRULE value itself and expands it from DTSTART as naive local wall
times; every wall time gets the zone with ``fold=0`` (gap: shifted forward, fold: first of
the pair) and becomes UTC; the answer is the smallest such instant after ``after`` that
is not excluded and not past UNTIL. Nothing of the engine (its parser, its explicit
defaults, its anchor) is used.

Where dateutil departs from RFC 5545, the oracle reads the RFC itself (``oracle_walls``),
from the RFC's text rather than from the engine:

* a DATE DTSTART ignores BYHOUR and BYMINUTE (section 3.3.10: they "MUST be ignored"),
  at DAILY and coarser (an HOURLY or MINUTELY rule has no dates to give);
* YEARLY with BYWEEKNO and no day part takes DTSTART's weekday (information the rule does
  not give comes from DTSTART); dateutil would take all seven days;
* a WEEKLY set with BYSETPOS starts at the week's WKST day ("a set of recurrence instances
  starts at the beginning of the interval"); dateutil starts DTSTART's week at DTSTART
  (python-dateutil issue 1398), so the oracle expands from the week's start and drops
  what lies before DTSTART, counting COUNT itself.

Instants are drawn near the zone's real transitions half of the time, and start times are
biased to the small hours, so gaps and folds are hit often. How many cases run is the
hypothesis profile's (``tests/conftest.py``): a quick one by default, ``thorough`` for a
deep search.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import islice
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from taskpulse.recurrence import RecurrenceError, compile_rule, next_occurrence, remaining

ZONES = (
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Pacific/Apia",
    "Europe/Dublin",
    "America/Santiago",
    "America/St_Johns",
    "Asia/Tehran",
    "Pacific/Chatham",
    "Asia/Kolkata",
)
FREQS = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# How far before ``after`` DTSTART may lie, per period of INTERVAL: keeps the exhaustive
# oracle to a few thousand instances.
SPAN = {
    "YEARLY": timedelta(days=366 * 30),
    "MONTHLY": timedelta(days=31 * 60),
    "WEEKLY": timedelta(weeks=100),
    "DAILY": timedelta(days=300),
    "HOURLY": timedelta(days=10),
    "MINUTELY": timedelta(hours=20),
}
# How far the oracle looks for an instance of a rule the engine refused as impossible.
REFUSAL_WINDOW = {
    "YEARLY": timedelta(days=366 * 400),
    "MONTHLY": timedelta(days=366 * 400),
    "WEEKLY": timedelta(weeks=52 * 30),
    "DAILY": timedelta(days=366 * 10),
    "HOURLY": timedelta(days=366),
    "MINUTELY": timedelta(days=14),
}
# The oracle gives up this far past ``after`` and answers BEYOND: the engine's answer must
# then be later still (sparse rules such as the Mondays that are January 1st).
HORIZON = timedelta(days=366 * 60)
BEYOND = datetime.max.replace(tzinfo=UTC)


@cache
def transitions(zone_name: str) -> tuple[datetime, ...]:
    """UTC instants, 2005-2030, at which the zone's offset changes (to the minute)."""
    zone = ZoneInfo(zone_name)
    found = []
    moment = datetime(2005, 1, 1, tzinfo=UTC)
    offset = moment.astimezone(zone).utcoffset()
    while moment.year < 2030:
        step = moment + timedelta(hours=12)
        new = step.astimezone(zone).utcoffset()
        if new != offset:
            low, high = moment, step
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == offset:
                    low = middle
                else:
                    high = middle
            found.append(high.replace(second=0, microsecond=0))
            offset = new
        moment = step
    return tuple(found)


@dataclass
class Case:
    zone: str
    start: datetime  # naive local wall time
    start_form: str  # "tzid", "utc", "floating", "date"
    parts: dict[str, str]
    after: datetime
    exdates: list[datetime] = field(default_factory=list)

    @property
    def zone_info(self) -> ZoneInfo:
        return ZoneInfo("UTC" if self.start_form == "utc" else self.zone)

    def text(self) -> str:
        if self.start_form == "tzid":
            head = f"DTSTART;TZID={self.zone}:{self.start:%Y%m%dT%H%M%S}"
        elif self.start_form == "utc":
            head = f"DTSTART:{self.start:%Y%m%dT%H%M%S}Z"
        elif self.start_form == "floating":
            head = f"DTSTART:{self.start:%Y%m%dT%H%M%S}"
        else:
            head = f"DTSTART;VALUE=DATE:{self.start:%Y%m%d}"
        value = ";".join(f"{k}={v}" for k, v in self.parts.items())
        lines = [head, f"RRULE:{value}"]
        lines += [f"EXDATE:{x:%Y%m%dT%H%M%S}Z" for x in self.exdates]
        return "\r\n".join(lines) if len(self.exdates) % 2 else "\n".join(lines)

    def until(self) -> datetime | None:
        raw = self.parts.get("UNTIL")
        if raw is None:
            return None
        if raw.endswith("Z"):
            return datetime.strptime(raw, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        wall = datetime.strptime(raw, "%Y%m%dT%H%M%S")
        return wall.replace(tzinfo=self.zone_info).astimezone(UTC)


def oracle_walls(case: Case, until: datetime | None = None) -> Iterator[datetime]:
    """The series' wall times from DTSTART, COUNT applied, UNTIL not: dateutil, read as the RFC.

    ``until`` (a wall time) stops the expansion, for rules that may never occur.
    """
    parts = {k: v for k, v in case.parts.items() if k not in ("UNTIL", "COUNT")}
    if until is not None:
        parts["UNTIL"] = f"{until:%Y%m%dT%H%M%S}"
    start = begin = case.start
    if case.start_form == "date" and parts["FREQ"] not in ("HOURLY", "MINUTELY"):
        parts.pop("BYHOUR", None)
        parts.pop("BYMINUTE", None)
    if "BYWEEKNO" in parts and not {"BYDAY", "BYYEARDAY", "BYMONTHDAY"} & parts.keys():
        parts["BYDAY"] = WEEKDAYS[start.weekday()]
    if parts["FREQ"] == "WEEKLY" and "BYSETPOS" in parts:
        parts.setdefault("BYDAY", WEEKDAYS[start.weekday()])
        wkst = WEEKDAYS.index(parts.get("WKST", "MO"))
        begin = start - timedelta(days=(start.weekday() - wkst) % 7)
    value = ";".join(f"{k}={v}" for k, v in parts.items())
    walls = (wall for wall in rrulestr(f"RRULE:{value}", dtstart=begin) if wall >= start)
    count = case.parts.get("COUNT")
    return walls if count is None else islice(walls, int(count))


def _first_wall(case: Case, until: datetime) -> datetime | None:
    try:
        return next(oracle_walls(case, until=until), None)
    except ValueError:  # dateutil, too, sees that BYHOUR/BYMINUTE miss the grid
        return None


def first_wall_soon(case: Case, *, until: datetime) -> datetime | None:
    """The oracle's first wall time up to ``until``, if it finds one within two seconds.

    For a rule that truly never occurs, dateutil does not stop at UNTIL: it checks UNTIL
    only against instances, so it walks every period to year 9999 (hours, minute by
    minute). It runs in a child process that is ended after the wait; a wrong refusal
    (a rule that occurs every day) is answered in microseconds.
    """
    with multiprocessing.get_context("fork").Pool(1) as pool:
        pending = pool.apply_async(_first_wall, (case, until))
        try:
            found: datetime | None = pending.get(timeout=2)
        except multiprocessing.TimeoutError:
            found = None
    return found


def oracle(case: Case) -> datetime | None:
    zone = case.zone_info
    walls = oracle_walls(case)
    until = case.until()
    excluded = set(case.exdates)
    best: datetime | None = None
    stop: datetime | None = None
    limit = case.after.replace(tzinfo=None) + HORIZON
    for wall in walls:
        if until is not None and wall > until.replace(tzinfo=None) + timedelta(days=2):
            break
        if wall > limit and best is None:
            return BEYOND
        if stop is not None and wall > stop:
            break
        instant = wall.replace(tzinfo=zone).astimezone(UTC)
        if instant <= case.after or instant in excluded:
            continue
        if until is not None and instant > until:
            continue
        if best is None or instant < best:
            best = instant
            stop = best.astimezone(zone).replace(tzinfo=None) + timedelta(days=2)
    return best


def oracle_remaining(case: Case) -> int:
    """Distinct, non-excluded instants after ``after`` of a COUNT rule (all of them)."""
    zone = case.zone_info
    instants = {wall.replace(tzinfo=zone).astimezone(UTC) for wall in oracle_walls(case)}
    return len({i for i in instants if i > case.after and i not in set(case.exdates)})


def _subset(values: list[int] | range, most: int) -> st.SearchStrategy[list[int]]:
    return st.lists(st.sampled_from(list(values)), min_size=1, max_size=most, unique=True)


def _join(values: list[int]) -> str:
    return ",".join(str(v) for v in values)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    zone = draw(st.sampled_from(ZONES))
    if draw(st.booleans()) and transitions(zone):
        pivot = draw(st.sampled_from(transitions(zone)))
        after = pivot + timedelta(minutes=draw(st.integers(-3 * 1440, 3 * 1440)))
    else:
        after = datetime(2005, 1, 1, tzinfo=UTC) + timedelta(
            minutes=draw(st.integers(0, 25 * 366 * 1440))
        )
    if draw(st.integers(0, 9)) == 0:
        after = after.replace(second=draw(st.integers(0, 59)))
    freq = draw(st.sampled_from(FREQS))
    interval = draw(st.one_of(st.integers(1, 3), st.integers(1, 12)))
    parts: dict[str, str] = {"FREQ": freq}
    if interval > 1 or draw(st.booleans()):
        parts["INTERVAL"] = str(interval)

    # DTSTART: usually before ``after`` (an old series), sometimes after it.
    span = SPAN[freq] * interval
    offset = draw(st.floats(-0.2, 1.0)) * span.total_seconds()
    local_after = after.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    day = (local_after - timedelta(seconds=offset)).date()
    hour = draw(st.one_of(st.sampled_from([0, 1, 2, 3]), st.integers(0, 23)))
    minute = draw(st.one_of(st.sampled_from([0, 15, 30, 45]), st.integers(0, 59)))
    start = datetime(day.year, day.month, day.day, hour, minute)
    form = draw(st.sampled_from(["tzid", "tzid", "tzid", "utc", "floating", "date"]))
    if form == "date":
        start = start.replace(hour=0, minute=0)

    coarse = freq in ("YEARLY", "MONTHLY")
    if draw(st.integers(0, 3)) == 0:
        parts["BYMONTH"] = _join(draw(_subset(range(1, 13), 6)))
    if freq != "WEEKLY" and draw(st.integers(0, 3)) == 0:
        days = list(range(1, 32)) + list(range(-31, 0))
        parts["BYMONTHDAY"] = _join(draw(_subset(days, 3)))
    if freq in ("YEARLY", "HOURLY", "MINUTELY") and draw(st.integers(0, 7)) == 0:
        yeardays = list(range(1, 367)) + list(range(-366, 0))
        parts["BYYEARDAY"] = _join(draw(_subset(yeardays, 3)))
    if freq == "YEARLY" and "BYYEARDAY" not in parts and draw(st.integers(0, 4)) == 0:
        weeks = list(range(1, 54)) + list(range(-53, 0))
        parts["BYWEEKNO"] = _join(draw(_subset(weeks, 3)))
    if draw(st.integers(0, 2)) == 0:
        names = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=4, unique=True))
        if coarse and "BYWEEKNO" not in parts and draw(st.booleans()):
            most = 5 if freq == "MONTHLY" or "BYMONTH" in parts else 53
            ordinals = draw(
                st.lists(
                    st.integers(-most, most).filter(bool), min_size=len(names), max_size=len(names)
                )
            )
            names = [f"{n}{d}" for n, d in zip(ordinals, names, strict=True)]
        parts["BYDAY"] = ",".join(names)
    if freq != "MINUTELY" and draw(st.integers(0, 3)) == 0:
        hours = draw(
            st.lists(
                st.one_of(st.sampled_from([0, 1, 2, 3]), st.integers(0, 23)),
                min_size=1,
                max_size=3,
                unique=True,
            )
        )
        parts["BYHOUR"] = _join(hours)
    if draw(st.integers(0, 3)) == 0:
        minutes = draw(
            st.lists(
                st.one_of(st.sampled_from([0, 15, 30, 45]), st.integers(0, 59)),
                min_size=1,
                max_size=3,
                unique=True,
            )
        )
        parts["BYMINUTE"] = _join(minutes)
    if freq in ("MINUTELY", "HOURLY") and "BYHOUR" not in parts and draw(st.integers(0, 3)) == 0:
        parts["BYHOUR"] = _join(draw(_subset(range(24), 3)))
    has_by = any(k.startswith("BY") for k in parts)
    if has_by and draw(st.integers(0, 4)) == 0:
        parts["BYSETPOS"] = _join(draw(_subset([1, 2, 3, -1, -2, -3], 2)))
    if draw(st.integers(0, 4)) == 0:
        parts["WKST"] = draw(st.sampled_from(WEEKDAYS))

    limit = draw(st.integers(0, 4))
    if limit == 0:
        parts["COUNT"] = str(draw(st.integers(1, 40)))
    elif limit == 1:
        until = after + timedelta(minutes=draw(st.integers(-2 * 1440, 40 * 1440)))
        if form == "tzid" and draw(st.booleans()):
            wall = until.astimezone(ZoneInfo(zone))
            parts["UNTIL"] = f"{wall:%Y%m%dT%H%M%S}"
        elif form != "date":
            parts["UNTIL"] = f"{until:%Y%m%dT%H%M%S}Z"
    return Case(zone, start, form, parts, after)


def _engine(case: Case) -> datetime | None:
    found = next_occurrence(case.text(), case.after, tz=case.zone)
    if found is not None and found > case.after + HORIZON:
        return BEYOND
    return found


@settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(case=cases(), data=st.data())
def test_engine_matches_exhaustive_oracle(case: Case, data: st.DataObject) -> None:
    try:
        compile_rule(case.text(), case.zone)
    except RecurrenceError as exc:
        # Only rules that truly cannot occur may be refused. The oracle would spin to year
        # 9999 on them, so it looks over a window of many periods: finding an instance
        # there proves the refusal wrong (rules whose BYHOUR expands were refused so).
        assume("never" in str(exc))
        found = first_wall_soon(case, until=case.start + REFUSAL_WINDOW[case.parts["FREQ"]])
        assert found is None, (str(exc), case.text(), found)
        return
    expected = oracle(case)
    assert _engine(case) == expected, case.text()
    if "COUNT" in case.parts:
        assert remaining(case.text(), case.after, tz=case.zone) == oracle_remaining(case)

    if expected not in (None, BEYOND) and data.draw(st.booleans()):
        # Excluding the answer must reveal the one after it.
        case.exdates.append(expected)
        assert _engine(case) == oracle(case), case.text()


@pytest.mark.parametrize("zone", ["America/New_York", "Australia/Lord_Howe", "Pacific/Apia"])
def test_transition_table_is_not_empty(zone: str) -> None:
    # Guards the generator: without transitions it would never aim at a gap or a fold.
    assert transitions(zone)
