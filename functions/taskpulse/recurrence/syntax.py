"""RFC 5545 text to validated values: the DTSTART, RRULE and EXDATE lines.

Parsing is strict where the RFC is (the part/frequency combinations of section 3.3.10,
value ranges) so that a client learns at create time, in words that name the part, why a
rule is refused. Wall times stay naive here; :mod:`taskpulse.recurrence.zones` turns them
into instants.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import IntEnum
from zoneinfo import ZoneInfo

from taskpulse.recurrence.errors import RecurrenceError
from taskpulse.recurrence.zones import UTC, to_utc, validate_timezone

__all__ = ["Freq", "RRuleSpec", "SeriesSpec", "parse_rrule", "parse_series"]


class Freq(IntEnum):
    """FREQ values, numbered as python-dateutil numbers them (coarsest first)."""

    YEARLY = 0
    MONTHLY = 1
    WEEKLY = 2
    DAILY = 3
    HOURLY = 4
    MINUTELY = 5


WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")

_INT_PARTS: dict[str, tuple[int, int, bool]] = {
    # part: (lowest, highest, negative values allowed)
    "BYMINUTE": (0, 59, False),
    "BYHOUR": (0, 23, False),
    "BYMONTHDAY": (1, 31, True),
    "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True),
    "BYMONTH": (1, 12, False),
    "BYSETPOS": (1, 366, True),
}
_KNOWN_PARTS = frozenset({"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "WKST", *_INT_PARTS})
_BY_PARTS = frozenset({"BYDAY", *_INT_PARTS} - {"BYSETPOS"})
_BYDAY_RE = re.compile(r"^([+-]?)(\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
_INT_RE = re.compile(r"^[+-]?\d{1,9}$")
_DATE_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DATETIME_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(Z?)$")
# Days in each month of a leap year: the most any BYMONTHDAY can find there.
_MAX_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MIN_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True, slots=True)
class RRuleSpec:
    """A validated RRULE value. ``byday`` holds ``(weekday, ordinal or None)`` pairs."""

    freq: Freq
    interval: int = 1
    count: int | None = None
    until: date | datetime | None = None
    bysetpos: tuple[int, ...] = ()
    bymonth: tuple[int, ...] = ()
    bymonthday: tuple[int, ...] = ()
    byyearday: tuple[int, ...] = ()
    byweekno: tuple[int, ...] = ()
    byday: tuple[tuple[int, int | None], ...] = ()
    byhour: tuple[int, ...] = ()
    byminute: tuple[int, ...] = ()
    wkst: int = 0


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """A whole rule text: the start as local wall time in ``zone``, the rule, exclusions.

    ``until`` and ``exdates`` are already instants (UTC), because that is how instances
    are compared against them.
    """

    dtstart: datetime
    date_only: bool
    zone: ZoneInfo
    rrule: RRuleSpec
    until: datetime | None
    exdates: frozenset[datetime]


def parse_series(text: str, default_zone: str = "UTC") -> SeriesSpec:
    """Parse a DTSTART line, one RRULE line and optional EXDATE lines."""
    dtstart: tuple[datetime, bool, ZoneInfo] | None = None
    rrule_value: str | None = None
    exdate_lines: list[tuple[dict[str, str], str]] = []
    for line in _unfold(text):
        name, params, value = _split_property(line)
        if name == "DTSTART":
            if dtstart is not None:
                raise RecurrenceError("more than one DTSTART line")
            dtstart = _parse_dtstart(params, value, default_zone)
        elif name == "RRULE":
            if rrule_value is not None:
                raise RecurrenceError("more than one RRULE line")
            rrule_value = value
        elif name == "EXDATE":
            exdate_lines.append((params, value))
        else:
            raise RecurrenceError(f"unsupported property {name!r}: expected DTSTART, RRULE, EXDATE")
    if dtstart is None:
        raise RecurrenceError("missing DTSTART line")
    if rrule_value is None:
        raise RecurrenceError("missing RRULE line")
    start, date_only, zone = dtstart
    rule = parse_rrule(rrule_value)
    if date_only and rule.freq <= Freq.DAILY:
        # RFC 5545 section 3.3.10: with a DATE DTSTART, BYHOUR, BYMINUTE (and BYSECOND)
        # "MUST be ignored"; the instances are dates, at the start of the day. An HOURLY
        # or MINUTELY rule has no dates to give, so there they keep limiting the times.
        rule = replace(rule, byhour=(), byminute=())
    until = None if rule.until is None else _until_instant(rule.until, zone)
    exdates = frozenset(
        instant for params, value in exdate_lines for instant in _parse_exdate(params, value, zone)
    )
    return SeriesSpec(start, date_only, zone, rule, until, exdates)


def parse_rrule(value: str) -> RRuleSpec:
    """Parse and validate an RRULE value such as ``FREQ=WEEKLY;BYDAY=FR``."""
    value = value.strip()
    if value.upper().startswith("RRULE:"):
        value = value[len("RRULE:") :]
    if not value:
        raise RecurrenceError("empty RRULE")
    parts: dict[str, str] = {}
    if not value.strip(" ;"):
        raise RecurrenceError("empty RRULE")
    for item in value.split(";"):
        if not item.strip():
            continue  # a trailing or doubled ";" is common in the wild and harmless
        key, sep, raw = item.partition("=")
        key = key.strip().upper()
        if not sep or not raw.strip():
            raise RecurrenceError(f"malformed RRULE part {item!r}: expected NAME=VALUE")
        if key in ("BYSECOND",):
            raise RecurrenceError("BYSECOND is not supported: the smallest step is one minute")
        if key not in _KNOWN_PARTS:
            raise RecurrenceError(f"unknown RRULE part {key!r}")
        if key in parts:
            raise RecurrenceError(f"{key} given more than once")
        parts[key] = raw.strip().upper()

    if "FREQ" not in parts:
        raise RecurrenceError("RRULE needs FREQ")
    freq_name = parts["FREQ"]
    if freq_name == "SECONDLY":
        raise RecurrenceError("FREQ=SECONDLY is not supported: the smallest step is one minute")
    try:
        freq = Freq[freq_name]
    except KeyError:
        raise RecurrenceError(f"FREQ={freq_name} is not a frequency") from None

    interval = _positive("INTERVAL", parts.get("INTERVAL", "1"))
    count = None if "COUNT" not in parts else _positive("COUNT", parts["COUNT"])
    until = None if "UNTIL" not in parts else _parse_until(parts["UNTIL"])
    if count is not None and until is not None:
        raise RecurrenceError("COUNT and UNTIL cannot both be set (RFC 5545 section 3.3.10)")
    ints = {name: _int_list(name, parts[name]) for name in _INT_PARTS if name in parts}
    byday = _parse_byday(parts["BYDAY"]) if "BYDAY" in parts else ()
    wkst = _weekday("WKST", parts["WKST"]) if "WKST" in parts else 0

    rule = RRuleSpec(
        freq=freq,
        interval=interval,
        count=count,
        until=until,
        bysetpos=ints.get("BYSETPOS", ()),
        bymonth=ints.get("BYMONTH", ()),
        bymonthday=ints.get("BYMONTHDAY", ()),
        byyearday=ints.get("BYYEARDAY", ()),
        byweekno=ints.get("BYWEEKNO", ()),
        byday=byday,
        byhour=ints.get("BYHOUR", ()),
        byminute=ints.get("BYMINUTE", ()),
        wkst=wkst,
    )
    _check_combinations(rule, parts)
    return rule


def _check_combinations(rule: RRuleSpec, parts: dict[str, str]) -> None:
    """The RFC 5545 section 3.3.10 table, and day sets that can never be met."""
    freq = rule.freq
    if rule.byweekno and freq is not Freq.YEARLY:
        raise RecurrenceError("BYWEEKNO needs FREQ=YEARLY")
    if rule.byyearday and freq in (Freq.DAILY, Freq.WEEKLY, Freq.MONTHLY):
        raise RecurrenceError(f"BYYEARDAY cannot be used with FREQ={freq.name}")
    if rule.bymonthday and freq is Freq.WEEKLY:
        raise RecurrenceError("BYMONTHDAY cannot be used with FREQ=WEEKLY")
    ordinals = [f"BYDAY={parts['BYDAY']}"] if any(n for _, n in rule.byday) else []
    if ordinals and freq not in (Freq.MONTHLY, Freq.YEARLY):
        raise RecurrenceError(f"{ordinals[0]}: an ordinal needs FREQ=MONTHLY or FREQ=YEARLY")
    if freq is Freq.MONTHLY and any(n is not None and abs(n) > 5 for _, n in rule.byday):
        raise RecurrenceError(f"{ordinals[0]} out of range: a month has at most 5 of a weekday")
    if ordinals and freq is Freq.YEARLY and rule.byweekno:
        raise RecurrenceError(f"{ordinals[0]}: an ordinal cannot be combined with BYWEEKNO")
    if rule.bysetpos and not any(name in parts for name in _BY_PARTS):
        raise RecurrenceError("BYSETPOS needs another BYxxx part")

    if rule.bymonthday:
        months = rule.bymonth or tuple(range(1, 13))
        if not any(abs(day) <= _MAX_MONTH_DAYS[m - 1] for m in months for day in rule.bymonthday):
            raise RecurrenceError(
                f"BYMONTHDAY={parts['BYMONTHDAY']} never occurs in BYMONTH={parts['BYMONTH']}"
            )
    if rule.byyearday and rule.bymonth:
        possible = {
            _month_of_yearday(day, leap) for day in rule.byyearday for leap in (False, True)
        }
        if not possible & set(rule.bymonth):
            raise RecurrenceError(
                f"BYYEARDAY={parts['BYYEARDAY']} never falls in BYMONTH={parts['BYMONTH']}"
            )


def _month_of_yearday(day: int, leap: bool) -> int | None:
    length = 366 if leap else 365
    index = day - 1 if day > 0 else length + day
    if not 0 <= index < length:
        return None
    return (date(2000 if leap else 2001, 1, 1) + timedelta(days=index)).month


def _positive(name: str, raw: str) -> int:
    if not raw.isdigit():
        raise RecurrenceError(f"{name}={raw} is not a positive integer")
    number = int(raw)
    if number < 1:
        raise RecurrenceError(f"{name}={raw} out of range")
    return number


def _int_list(name: str, raw: str) -> tuple[int, ...]:
    lowest, highest, signed = _INT_PARTS[name]
    values: set[int] = set()
    for item in raw.split(","):
        item = item.strip()
        if not _INT_RE.match(item):
            raise RecurrenceError(f"{name}={item} is not an integer")
        number = int(item)
        magnitude = abs(number) if signed else number
        if not lowest <= magnitude <= highest or (number < 0 and not signed):
            raise RecurrenceError(f"{name}={item} out of range")
        values.add(number)
    return tuple(sorted(values))


def _weekday(name: str, raw: str) -> int:
    try:
        return WEEKDAYS.index(raw)
    except ValueError:
        raise RecurrenceError(f"{name}={raw} is not a weekday (MO..SU)") from None


def _parse_byday(raw: str) -> tuple[tuple[int, int | None], ...]:
    days: set[tuple[int, int | None]] = set()
    for item in raw.split(","):
        item = item.strip()
        match = _BYDAY_RE.match(item)
        if match is None:
            raise RecurrenceError(f"BYDAY={item} is not a weekday such as MO, 2TU or -1FR")
        sign, digits, day = match.groups()
        ordinal: int | None = None
        if digits is not None:
            ordinal = -int(digits) if sign == "-" else int(digits)
            if not 1 <= abs(ordinal) <= 53:
                raise RecurrenceError(f"BYDAY={item} out of range")
        elif sign:
            raise RecurrenceError(f"BYDAY={item} is not a weekday such as MO, 2TU or -1FR")
        days.add((WEEKDAYS.index(day), ordinal))
    return tuple(sorted(days, key=lambda d: (d[0], d[1] or 0)))


def _parse_until(raw: str) -> date | datetime:
    try:
        return _parse_value(raw, allow_utc=True)
    except ValueError:
        raise RecurrenceError(f"UNTIL={raw} is not a DATE or DATE-TIME") from None


def _parse_value(raw: str, *, allow_utc: bool) -> date | datetime:
    """``YYYYMMDD`` to a date, ``YYYYMMDDTHHMMSS[Z]`` to a naive or UTC datetime."""
    if match := _DATE_RE.match(raw):
        return date(*map(int, match.groups()))
    if match := _DATETIME_RE.match(raw):
        year, month, day, hour, minute, second, zulu = match.groups()
        if zulu and not allow_utc:
            raise ValueError(raw)
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
        return moment.replace(tzinfo=UTC) if zulu else moment
    raise ValueError(raw)


def _until_instant(until: date | datetime, zone: ZoneInfo) -> datetime:
    # A date or floating UNTIL is read in the series' zone, like the instances it bounds.
    if isinstance(until, datetime):
        return until if until.tzinfo is not None else to_utc(until, zone)
    return to_utc(datetime(until.year, until.month, until.day), zone)


def _parse_dtstart(
    params: dict[str, str], value: str, default_zone: str
) -> tuple[datetime, bool, ZoneInfo]:
    try:
        parsed = _parse_value(value, allow_utc="TZID" not in params)
    except ValueError:
        raise RecurrenceError(f"DTSTART value {value!r} is not a DATE or DATE-TIME") from None
    _check_value_param("DTSTART", params, parsed)
    if "TZID" in params:
        zone = validate_timezone(params["TZID"])
    elif isinstance(parsed, datetime) and parsed.tzinfo is not None:
        zone = validate_timezone("UTC")
    else:
        zone = validate_timezone(default_zone)
    if isinstance(parsed, datetime):
        return parsed.replace(tzinfo=None), False, zone
    return datetime(parsed.year, parsed.month, parsed.day), True, zone


def _parse_exdate(params: dict[str, str], raw: str, zone: ZoneInfo) -> list[datetime]:
    local_zone = validate_timezone(params["TZID"]) if "TZID" in params else zone
    instants = []
    for item in raw.split(","):
        item = item.strip()
        try:
            parsed = _parse_value(item, allow_utc="TZID" not in params)
        except ValueError:
            raise RecurrenceError(f"EXDATE value {item!r} is not a DATE or DATE-TIME") from None
        _check_value_param("EXDATE", params, parsed)
        if isinstance(parsed, datetime):
            wall = parsed
        else:
            wall = datetime(parsed.year, parsed.month, parsed.day)
        instants.append(wall if wall.tzinfo is not None else to_utc(wall, local_zone))
    return instants


def _check_value_param(name: str, params: dict[str, str], parsed: date | datetime) -> None:
    declared = params.get("VALUE")
    actual = "DATE-TIME" if isinstance(parsed, datetime) else "DATE"
    if declared is not None and declared != actual:
        raise RecurrenceError(f"{name};VALUE={declared} does not match its value")


def _unfold(text: str) -> list[str]:
    """Split on LF or CRLF and join RFC 5545 folded continuation lines."""
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if raw[:1] in (" ", "\t") and lines:
            lines[-1] += raw[1:]
        elif raw.strip():
            lines.append(raw.strip())
    if not lines:
        raise RecurrenceError("empty rule text")
    return lines


def _split_property(line: str) -> tuple[str, dict[str, str], str]:
    head, sep, value = line.partition(":")
    if not sep:
        raise RecurrenceError(f"malformed line {line!r}: expected NAME:VALUE")
    name, *raw_params = head.split(";")
    params: dict[str, str] = {}
    for raw in raw_params:
        key, eq, param_value = raw.partition("=")
        if not eq:
            raise RecurrenceError(f"malformed parameter {raw!r} in {name.upper()}")
        key = key.strip().upper()
        param_value = param_value.strip().strip('"')
        params[key] = param_value if key == "TZID" else param_value.upper()
    name = name.strip().upper()
    # The only values accepted, RRULE values and date-times, are case-insensitive.
    return name, params, value.strip().upper()
