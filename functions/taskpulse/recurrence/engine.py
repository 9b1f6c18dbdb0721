"""The search: the first instance strictly after an instant, without walking from DTSTART.

python-dateutil expands the rule over naive local wall times; each wall time becomes an
instant through :func:`taskpulse.recurrence.zones.to_utc`. Two facts keep a call cheap
whatever the age of the series:

* **Anchor.** dateutil expands period by period (a year, month, week, day, hour or
  minute, every INTERVAL of them from the DTSTART period). Restarting it at the start of a
  later period on that same grid, with every BYxxx part it would have derived from DTSTART
  written out, yields exactly the original instances from that period on. The search
  restarts at the grid period that holds ``after``.
* **Layouts.** A YEARLY or MONTHLY period holds the same instances, relative to its
  start, as every other period of its kind (a year's length and first weekday; a month's
  length, first weekday and, with BYMONTH, the month itself). dateutil expands one period
  of each kind; the others are ``period start + offset``, with no dateutil call at all.
* **Index.** With COUNT, the anchor's index (instances before it) is arithmetic when every
  full period holds the same number of instances (``FREQ=DAILY``, ``WEEKLY;BYDAY=MO,WE``,
  ``MONTHLY;BYMONTHDAY=15``...). Otherwise it is counted once, by walking at most COUNT
  instances, and kept as a checkpoint for later calls on the same rule.

Wall time to UTC is monotonic except at the end of a spring-forward gap, where it steps
back by the gap (wall times in the gap take the earlier offset). The search therefore
starts ``gap`` early when ``after`` is just past a gap and, when the best candidate was a
wall time inside a gap, keeps going until it passes the real wall time of that instant.

Two bounds keep every call finite and cheap:

* a rule is probed once, when compiled, for any instance at all, over one full cycle of
  its pattern (400 Gregorian years times what INTERVAL needs), so a rule that can never
  occur is refused instead of making a search scan the calendar up to year 9999;
* the consecutive instants found last are remembered (``_run``), so asking again about a
  series, or for the instance after the one just found, is a lookup.
"""

from __future__ import annotations

import bisect
import math
from calendar import isleap, monthrange
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from dateutil.rrule import rrule, weekday

from taskpulse.recurrence.errors import RecurrenceError
from taskpulse.recurrence.syntax import Freq, SeriesSpec
from taskpulse.recurrence.zones import max_offset_near, to_utc, to_wall, wall_floor

__all__ = ["CompiledRule"]

_MAX_CHECKPOINTS = 64
_MAX_RUN = 64
_MINUTES_PER_DAY = 24 * 60
_DAYS_PER_400_YEARS = 146_097
_MINUTES_PER_WEEK = 7 * _MINUTES_PER_DAY
_STEP_MINUTES = {Freq.DAILY: _MINUTES_PER_DAY, Freq.HOURLY: 60, Freq.MINUTELY: 1}
# Frequencies whose periods are expanded through layouts (see ``CompiledRule._layout``).
_LAID_OUT = frozenset({Freq.YEARLY, Freq.MONTHLY})
_UNIT = {Freq.DAILY: "days", Freq.HOURLY: "hours", Freq.MINUTELY: "minutes"}
# The parts that limit (rather than expand) the periods of each sub-weekly frequency.
_LIMITS = {Freq.DAILY: "BYDAY", Freq.HOURLY: "BYDAY/BYHOUR", Freq.MINUTELY: "BYDAY/BYHOUR/BYMINUTE"}


class CompiledRule:
    """One parsed rule text, ready to answer queries; safe to cache and reuse."""

    def __init__(self, spec: SeriesSpec) -> None:
        self.spec = spec
        rule = spec.rrule
        self._freq = rule.freq
        self._interval = rule.interval
        self._wkst = rule.wkst
        self._count = rule.count
        self._kwargs = _explicit_parts(spec)
        self._start_period = _period_index(rule.freq, spec.dtstart, rule.wkst)
        self._per_period = _uniform_count(spec, self._kwargs)
        self._first_period: int | None = None
        self._bymonth = bool(rule.bymonth)
        self._second = timedelta(seconds=spec.dtstart.second)
        self._layouts: dict[tuple[int, ...], tuple[timedelta, ...]] = {}
        self._checkpoints: list[tuple[datetime, int]] = [(spec.dtstart, 0)]
        # (t, instants): consecutive occurrences, none of them in (t, instants[0]).
        self._run: tuple[datetime, tuple[datetime, ...]] | None = None
        self._until_wall = None
        if spec.until is not None:
            # A later wall time cannot map to an instant at or before UNTIL.
            offset = max_offset_near(spec.until, spec.zone)
            self._until_wall = spec.until.replace(tzinfo=None) + offset
        self._check_feasible()

    # -- queries -------------------------------------------------------------------

    def next_after(self, after: datetime) -> datetime | None:
        """The earliest instant of the series strictly after ``after`` (aware, UTC)."""
        run = self._run
        if run is not None and run[0] <= after < run[1][-1]:
            found = run[1]
            return found[bisect.bisect_right(found, after)]
        try:
            result = self._search(after)
        except OverflowError:  # the series ran into the end of the calendar (year 9999)
            return None
        if result is not None:
            self._remember(after, result)
        return result

    def _remember(self, after: datetime, result: datetime) -> None:
        """Keep the run of consecutive instants found so far (the series' last anchor).

        A service asks for the next instance right after the previous one, and reminders
        ask again about the same series; both are then a lookup. The run is replaced as a
        whole, so concurrent readers see either the old or the new one.
        """
        run = self._run
        if run is not None and after == run[1][-1]:
            start, found = run
            found = (*found, result)
            if len(found) > _MAX_RUN:
                start, found = found[0], found[1:]
            self._run = (start, found)
        else:
            # No instance lies in (after, result): that is a run of one.
            self._run = (after, (result,))

    def instants_after(self, after: datetime) -> Iterator[datetime]:
        """Instants strictly after ``after``, ascending and distinct."""
        return self._instants_after(after)

    def remaining_after(self, after: datetime) -> int | None:
        """Distinct, non-excluded instants strictly after ``after``; ``None`` without COUNT."""
        if self._count is None:
            return None
        spec = self.spec
        wall_lo = wall_floor(after, spec.zone)
        # COUNT bounds this walk; instances before ``wall_lo`` are all at or before ``after``.
        instants = {to_utc(wall, spec.zone) for wall in self._walls_from(wall_lo)}
        return len(
            {
                instant
                for instant in instants
                if instant > after
                and instant not in spec.exdates
                and (spec.until is None or instant <= spec.until)
            }
        )

    # -- internals -----------------------------------------------------------------

    def _instants_after(self, after: datetime) -> Iterator[datetime]:
        current: datetime | None = after
        while current is not None:
            current = self.next_after(current)
            if current is not None:
                yield current

    def _search(self, after: datetime) -> datetime | None:
        spec = self.spec
        zone = spec.zone
        if spec.until is not None and spec.until <= after:
            return None
        # Year 1 is before any series (and has no day before it): search from DTSTART.
        wall_lo = datetime.min if after.year <= 1 else wall_floor(after, zone)
        best: datetime | None = None
        stop_wall: datetime | None = None
        for wall in self._walls_from(wall_lo):
            if stop_wall is not None and wall > stop_wall:
                break
            if self._until_wall is not None and wall > self._until_wall:
                break
            instant = to_utc(wall, zone)
            if instant <= after or (spec.exdates and instant in spec.exdates):
                continue
            if spec.until is not None and instant > spec.until:
                continue
            if best is None or instant < best:
                best = instant
                # Later wall times map to later instants, except that wall times after a
                # gap map below those inside it: if ``wall`` was in a gap, look on up to
                # the real wall time of ``best``.
                stop_wall = to_wall(best, zone)
                if stop_wall <= wall:
                    break
        return best

    def _walls_from(self, wall_lo: datetime) -> Iterator[datetime]:
        """Wall times of instances (COUNT applied) at or after ``wall_lo``, in order."""
        anchor = self._anchor(wall_lo)
        if anchor is None:
            return iter(())
        if self._count is None:
            return self._expand(anchor, max(anchor, wall_lo))
        left = self._count - self._count_before(anchor)
        return self._counted(self._expand(anchor), left, wall_lo)

    @staticmethod
    def _counted(walls: Iterator[datetime], left: int, wall_lo: datetime) -> Iterator[datetime]:
        """The first ``left`` of ``walls``, those at or after ``wall_lo``."""
        for wall in walls:
            if left <= 0:
                return
            left -= 1
            if wall >= wall_lo:
                yield wall

    def _anchor(self, wall_lo: datetime) -> datetime | None:
        """The grid period start at or before ``wall_lo``'s period, else DTSTART."""
        start = self.spec.dtstart
        periods = _period_index(self._freq, wall_lo, self._wkst) - self._start_period
        steps = periods // self._interval * self._interval
        if steps <= 0:
            return start
        try:
            period_start = _period_start(self._freq, self._start_period + steps, self._wkst)
        except (ValueError, OverflowError):
            return None
        # Every instance has DTSTART's second, so this is at or before all of them.
        return period_start + self._second

    def _count_before(self, anchor: datetime) -> int:
        """How many instances lie before ``anchor`` (capped near COUNT)."""
        if anchor == self.spec.dtstart:
            return 0
        if self._per_period is not None:
            periods = (
                _period_index(self._freq, anchor, self._wkst) - self._start_period
            ) // self._interval
            return self._first_period_count() + (periods - 1) * self._per_period
        return self._walk_count(anchor)

    def _first_period_count(self) -> int:
        if self._first_period is None:
            end = _period_start(self._freq, self._start_period + 1, self._wkst)
            self._first_period = self._walk(self.spec.dtstart, end, 0)
        return self._first_period

    def _walk_count(self, anchor: datetime) -> int:
        position = bisect.bisect_right(self._checkpoints, (anchor, float("inf")))
        start, before = self._checkpoints[position - 1]
        counted = self._walk(start, anchor, before)
        if len(self._checkpoints) < _MAX_CHECKPOINTS:
            bisect.insort(self._checkpoints, (anchor, counted))
        elif anchor > self._checkpoints[-1][0]:
            # Full: a series moves forward, so the latest checkpoint gives way to a later
            # one, and the next walk starts here rather than ever further back.
            self._checkpoints[-1] = (anchor, counted)
        return counted

    def _walk(self, start: datetime, end: datetime, before: int) -> int:
        """``before`` plus the instances in [start, end), stopping once COUNT is reached."""
        limit = self._count if self._count is not None else 2**63
        counted = before
        for wall in self._expand(start):
            if wall >= end or counted >= limit:
                break
            counted += 1
        return counted

    def _expand(self, start: datetime, lowest: datetime | None = None) -> Iterator[datetime]:
        """Wall times of instances from ``start`` (DTSTART or a grid period start) on.

        Only those at or after ``lowest`` (default ``start``) are yielded; COUNT, UNTIL
        and EXDATE are not applied.
        """
        if lowest is None:
            lowest = start
        if self._freq not in _LAID_OUT:
            for wall in rrule(dtstart=self._period_of(start), **self._kwargs):
                if wall >= lowest:
                    yield wall
            return
        freq, interval, wkst = self._freq, self._interval, self._wkst
        index = _period_index(freq, start, wkst)
        while True:
            try:
                period = _period_start(freq, index, wkst)
            except ValueError:  # past year 9999
                return
            for offset in self._layout(period):
                wall = period + offset
                if wall >= lowest:
                    yield wall
            index += interval

    def _period_of(self, start: datetime) -> datetime:
        """Where dateutil must start so that ``start``'s whole period is expanded.

        RFC 5545: "a set of recurrence instances starts at the beginning of the
        interval", so BYSETPOS counts from the period's first candidate even when DTSTART
        lies later in it (candidates before DTSTART are then dropped, not skipped over).
        dateutil counts a WEEKLY set from DTSTART instead (its issue 1398), so its
        expansion starts at the week's WKST day here; for the other frequencies it
        already expands DTSTART's whole period, and starting at the period is the same.
        """
        if self._freq is not Freq.WEEKLY:
            return start
        try:
            period = _period_start(
                self._freq, _period_index(self._freq, start, self._wkst), self._wkst
            )
        except (ValueError, OverflowError):  # DTSTART's week began before year 1
            return start
        return period + self._second

    def _layout(self, period: datetime) -> tuple[timedelta, ...]:
        """The instances of the YEARLY or MONTHLY period starting at ``period``, as offsets.

        Which days of a year a rule picks depends only on the year's calendar: its length
        and the weekday of January 1st, 14 kinds of year. (Even BYWEEKNO's days of last
        year's final week: dateutil numbers them from this year's figures alone, which
        ``test_recurrence_layouts`` checks over a whole 400-year cycle.) A month's depends
        on its length, the weekday of its 1st and, with BYMONTH, which month it is. So
        dateutil expands each kind once per rule, and every later period of that kind is
        additions: a monthly or yearly search costs a few microseconds instead of one
        dateutil expansion of a whole year.
        """
        if self._freq is Freq.YEARLY:
            key = _year_kind(period.year)
        else:
            key = _month_kind(period.year, period.month, self._bymonth)
        layout = self._layouts.get(key)
        if layout is None:
            layout = self._layouts[key] = self._expand_period(period)
        return layout

    def _expand_period(self, period: datetime) -> tuple[timedelta, ...]:
        index = _period_index(self._freq, period, self._wkst)
        try:
            end = _period_start(self._freq, index + 1, self._wkst)
        except ValueError:
            end = datetime.max
        offsets = []
        for wall in rrule(dtstart=period + self._second, **self._kwargs):
            if wall >= end:
                break
            offsets.append(wall - period)
        return tuple(offsets)

    @property
    def first_wall(self) -> datetime:
        """The first instance's wall time, ignoring COUNT, UNTIL and EXDATE."""
        for wall in self._expand(self.spec.dtstart):
            return wall
        raise RecurrenceError("rule can never produce an instance")  # pragma: no cover

    def _check_feasible(self) -> None:
        """Raise unless the rule (without COUNT/UNTIL) produces some instance.

        Done once per rule, with a bounded cost, so that no later search can scan the
        calendar for an instance that never comes. The instances repeat every
        ``_cycle_years``: the Gregorian calendar repeats every 400 years (a whole number
        of weeks), and the INTERVAL grid after a multiple of INTERVAL periods. So the
        rule occurs at all if and only if it occurs within one cycle from DTSTART, and
        that is probed on a copy moved close to year 9999, where dateutil stops on its
        own whether or not anything matched.
        """
        _check_reachable(self.spec, self._kwargs)
        start = self.spec.dtstart
        cycle = self._cycle_years()
        moves = max((datetime.max.year - cycle - start.year) // cycle, 0)
        probe = start.replace(year=start.year + moves * cycle)
        try:
            for _ in rrule(dtstart=probe, **self._kwargs):
                return
        except ValueError as exc:  # dateutil: BYHOUR/BYMINUTE off the INTERVAL grid
            raise RecurrenceError(f"rule can never produce an instance: {exc}") from None
        raise RecurrenceError("rule can never produce an instance")

    def _cycle_years(self) -> int:
        periods_per_400_years = {
            Freq.YEARLY: 400,
            Freq.MONTHLY: 400 * 12,
            Freq.WEEKLY: _DAYS_PER_400_YEARS // 7,
            Freq.DAILY: _DAYS_PER_400_YEARS,
            Freq.HOURLY: _DAYS_PER_400_YEARS * 24,
            Freq.MINUTELY: _DAYS_PER_400_YEARS * _MINUTES_PER_DAY,
        }[self._freq]
        return 400 * (self._interval // math.gcd(self._interval, periods_per_400_years))


@lru_cache(maxsize=4096)
def _year_kind(year: int) -> tuple[int, ...]:
    """What decides a year's layout: its length and the weekday of January 1st."""
    return (isleap(year), date(year, 1, 1).weekday())


@lru_cache(maxsize=4096)
def _month_kind(year: int, month: int, bymonth: bool) -> tuple[int, ...]:
    """What decides a month's layout: its length, its 1st's weekday and, with BYMONTH, itself."""
    first_weekday, days = monthrange(year, month)
    return (month if bymonth else 0, days, first_weekday)


def _explicit_parts(spec: SeriesSpec) -> dict[str, Any]:
    """dateutil keyword arguments with every default it derives from DTSTART written out."""
    rule = spec.rrule
    start = spec.dtstart
    kwargs: dict[str, Any] = {
        "freq": int(rule.freq),
        "interval": rule.interval,
        "wkst": rule.wkst,
        "bysecond": (start.second,),
        "cache": False,
    }
    byday = [weekday(day, n) for day, n in rule.byday]
    if any(n is not None for _, n in rule.byday) and any(n is None for _, n in rule.byday):
        # BYDAY=3MO,WE,FR is the third Monday *or* any Wednesday or Friday; dateutil would
        # demand both. Every occurrence of a plain weekday is one of its ordinals within
        # the month (at most 5) or, at YEARLY without BYMONTH, the year (at most 53).
        most = 53 if rule.freq is Freq.YEARLY and not rule.bymonth else 5
        byday = [
            weekday(day, ordinal)
            for day, n in rule.byday
            for ordinal in ((n,) if n is not None else range(1, most + 1))
        ]
    bymonth = rule.bymonth
    bymonthday = rule.bymonthday
    if not (rule.byweekno or rule.byyearday or rule.bymonthday or rule.byday):
        if rule.freq is Freq.YEARLY:
            bymonth = bymonth or (start.month,)
            bymonthday = (start.day,)
        elif rule.freq is Freq.MONTHLY:
            bymonthday = (start.day,)
        elif rule.freq is Freq.WEEKLY:
            byday = [weekday(start.weekday())]
    elif rule.byweekno and not (rule.byyearday or rule.bymonthday or rule.byday):
        # BYWEEKNO names weeks, not days: the day comes from DTSTART, as BYMONTH's day of
        # the month does in the RFC's own FREQ=YEARLY;BYMONTH=1 example (and as libical
        # reads it). dateutil would take all seven days of each week.
        byday = [weekday(start.weekday())]
    byhour = rule.byhour or ((start.hour,) if rule.freq < Freq.HOURLY else ())
    byminute = rule.byminute or ((start.minute,) if rule.freq < Freq.MINUTELY else ())
    for name, value in (
        ("bysetpos", rule.bysetpos),
        ("bymonth", bymonth),
        ("bymonthday", bymonthday),
        ("byyearday", rule.byyearday),
        ("byweekno", rule.byweekno),
        ("byweekday", byday),
        ("byhour", byhour),
        ("byminute", byminute),
    ):
        if value:
            kwargs[name] = tuple(value)
    return kwargs


def _uniform_count(spec: SeriesSpec, kwargs: dict[str, Any]) -> int | None:
    """Instances in every full period, when that number is the same for all periods."""
    rule = spec.rrule
    if rule.bysetpos or rule.byweekno or rule.byyearday:
        return None
    times = len(kwargs.get("byhour", ())) * len(kwargs.get("byminute", ()))
    days = kwargs.get("bymonthday", ())
    # Days 1..28 (or -28..-1) exist in every month; mixing signs can name one day twice.
    safe_days = all(0 < d <= 28 for d in days) or all(-28 <= d < 0 for d in days)
    freq = rule.freq
    day_filters = rule.byday or rule.bymonth or rule.bymonthday
    if freq is Freq.MINUTELY and not (day_filters or rule.byhour or rule.byminute):
        return 1
    if freq is Freq.HOURLY and not (day_filters or rule.byhour):
        return len(kwargs["byminute"])
    if freq is Freq.DAILY and not (rule.byday or rule.bymonth or rule.bymonthday):
        return times
    if freq is Freq.WEEKLY and not rule.bymonth:
        return len(kwargs["byweekday"]) * times
    if freq is Freq.MONTHLY and not (rule.byday or rule.bymonth) and safe_days:
        return len(days) * times
    if freq is Freq.YEARLY and not rule.byday and safe_days:
        return (len(kwargs.get("bymonth", ())) or 12) * len(days) * times
    return None


def _check_reachable(spec: SeriesSpec, kwargs: dict[str, Any]) -> None:
    """Impossibilities that can be named precisely, before the bounded probe."""
    rule = spec.rrule
    if rule.freq in _STEP_MINUTES and not _grid_meets_week(spec, kwargs):
        raise RecurrenceError(
            f"rule can never produce an instance: a step of INTERVAL={rule.interval} "
            f"{_UNIT[rule.freq]} from DTSTART never meets its {_LIMITS[rule.freq]}"
        )
    if rule.bysetpos:
        days = {Freq.YEARLY: 366, Freq.MONTHLY: 31, Freq.WEEKLY: 7}.get(rule.freq, 1)
        if rule.freq is Freq.WEEKLY:
            days = len(kwargs["byweekday"])
        most = days * len(kwargs.get("byhour", (0,))) * len(kwargs.get("byminute", (0,)))
        if rule.freq is Freq.HOURLY:
            most = len(kwargs["byminute"])
        elif rule.freq is Freq.MINUTELY:
            most = 1
        if all(abs(position) > most for position in rule.bysetpos):
            values = ",".join(map(str, rule.bysetpos))
            raise RecurrenceError(
                f"BYSETPOS={values} out of range: a {rule.freq.name} period holds at most "
                f"{most} instance{'s' if most > 1 else ''}"
            )


def _grid_meets_week(spec: SeriesSpec, kwargs: dict[str, Any]) -> bool:
    """Whether some period of the INTERVAL grid, within a week, passes the limiting parts.

    Only the parts that *limit* at this frequency can starve the grid (RFC 5545 section
    3.3.10, the table of BYxxx parts against FREQ): at DAILY, BYDAY; at HOURLY, BYDAY and
    BYHOUR; at MINUTELY, also BYMINUTE. The finer parts *expand* a period (BYHOUR and
    BYMINUTE of a DAILY rule, BYMINUTE of an HOURLY one) and always find a time in it.
    Grids of days, hours and minutes repeat every week modulo gcd(step, week), so the
    periods of one week decide it exactly.
    """
    rule = spec.rrule
    unit = _STEP_MINUTES[rule.freq]
    step = unit * rule.interval
    modulus = math.gcd(step, _MINUTES_PER_WEEK)
    start = spec.dtstart
    origin = (start.weekday() * 24 + start.hour) * 60 + start.minute
    origin -= origin % unit  # the start of DTSTART's period
    weekdays = {day for day, _ in rule.byday} or set(range(7))
    hours = set(kwargs.get("byhour", range(24))) if rule.freq >= Freq.HOURLY else set(range(24))
    minutes = set(kwargs.get("byminute", range(60))) if rule.freq is Freq.MINUTELY else {0}
    for position in range(origin % modulus, _MINUTES_PER_WEEK, modulus):
        day, rest = divmod(position, _MINUTES_PER_DAY)
        if day in weekdays and rest // 60 in hours and rest % 60 in minutes:
            return True
    return False


def _period_index(freq: Freq, wall: datetime, wkst: int) -> int:
    """A number that grows by one per period of ``freq`` (weeks begin on ``wkst``)."""
    if freq is Freq.YEARLY:
        return wall.year
    if freq is Freq.MONTHLY:
        return wall.year * 12 + wall.month - 1
    day = wall.toordinal()
    if freq is Freq.WEEKLY:
        # Ordinal 1 (0001-01-01) is a Monday, weekday 0.
        return (day - 1 - wkst) // 7
    if freq is Freq.DAILY:
        return day
    if freq is Freq.HOURLY:
        return day * 24 + wall.hour
    return (day * 24 + wall.hour) * 60 + wall.minute


@lru_cache(maxsize=4096)
def _period_start(freq: Freq, index: int, wkst: int) -> datetime:
    """The first wall time of period ``index`` (inverse of :func:`_period_index`).

    Cached: building a datetime costs more than the lookup, and a search asks for the
    same few periods again and again.
    """
    if freq is Freq.YEARLY:
        return datetime(index, 1, 1)
    if freq is Freq.MONTHLY:
        return datetime(index // 12, index % 12 + 1, 1)
    if freq is Freq.WEEKLY:
        return datetime.fromordinal(index * 7 + 1 + wkst)
    if freq is Freq.DAILY:
        return datetime.fromordinal(index)
    if freq is Freq.HOURLY:
        return datetime.fromordinal(index // 24) + timedelta(hours=index % 24)
    return datetime.fromordinal(index // _MINUTES_PER_DAY) + timedelta(
        minutes=index % _MINUTES_PER_DAY
    )
