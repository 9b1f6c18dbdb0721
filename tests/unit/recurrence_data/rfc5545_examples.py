"""The examples of RFC 5545 section 3.8.5.3, as data.

Each example: the DTSTART (local time in America/New_York, as the RFC writes it), the
RRULE value, EXDATEs, the instances the RFC lists (local wall times), and whether that
list is the whole series (COUNT or UNTIL) or only its beginning ("forever").

One deliberate correction: the RFC lists 09:00, 12:00 and 15:00 for
``FREQ=HOURLY;INTERVAL=3;UNTIL=19970902T170000Z``, but 17:00Z is 13:00 EDT, so 15:00 is
past UNTIL and only two instances are correct.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

ZONE = "America/New_York"


@dataclass(frozen=True)
class Example:
    name: str
    dtstart: str
    rrule: str
    expected: tuple[datetime, ...]
    complete: bool
    exdates: tuple[str, ...] = ()


def at(day: str, time: str = "09:00") -> datetime:
    return datetime.strptime(f"{day} {time}", "%Y-%m-%d %H:%M")


def days(year: int, month: int, *numbers: int, time: str = "09:00") -> list[datetime]:
    return [at(f"{year:04d}-{month:02d}-{n:02d}", time) for n in numbers]


def day_range(first: str, last: str, step: int = 1) -> list[datetime]:
    current, end, found = at(first), at(last), []
    while current <= end:
        found.append(current)
        current += timedelta(days=step)
    return found


def times(day: str, *clock: str) -> list[datetime]:
    return [at(day, c) for c in clock]


def _twenty_minutes(day: str) -> list[datetime]:
    return [at(day, f"{h:02d}:{m:02d}") for h in range(9, 17) for m in (0, 20, 40)]


def ex(
    name: str,
    dtstart: str,
    rrule: str,
    expected: list[datetime],
    *,
    complete: bool,
    exdates: tuple[str, ...] = (),
) -> Example:
    return Example(name, dtstart, rrule, tuple(expected), complete, exdates)


_TUESDAYS_TO_DEC_23 = day_range("1997-09-02", "1997-12-23", 7)
_JANUARIES = [d for y in (1998, 1999, 2000) for d in day_range(f"{y}-01-01", f"{y}-01-31")]
_TU_TH_FIVE_WEEKS = days(1997, 9, 2, 4, 9, 11, 16, 18, 23, 25, 30) + days(1997, 10, 2)
_THURSDAYS_SUMMER = (
    days(1997, 6, 5, 12, 19, 26)
    + days(1997, 7, 3, 10, 17, 24, 31)
    + days(1997, 8, 7, 14, 21, 28)
    + days(1998, 6, 4, 11, 18, 25)
    + days(1998, 7, 2, 9, 16, 23, 30)
    + days(1998, 8, 6, 13, 20, 27)
    + days(1999, 6, 3, 10, 17, 24)
    + days(1999, 7, 1, 8, 15, 22, 29)
    + days(1999, 8, 5, 12, 19, 26)
)
_EVERY_20_MINUTES = _twenty_minutes("1997-09-02") + _twenty_minutes("1997-09-03")

EXAMPLES: tuple[Example, ...] = (
    ex(
        "daily for 10 occurrences",
        "19970902T090000",
        "FREQ=DAILY;COUNT=10",
        day_range("1997-09-02", "1997-09-11"),
        complete=True,
    ),
    ex(
        "daily until December 24, 1997",
        "19970902T090000",
        "FREQ=DAILY;UNTIL=19971224T000000Z",
        day_range("1997-09-02", "1997-12-23"),
        complete=True,
    ),
    ex(
        "every other day, forever",
        "19970902T090000",
        "FREQ=DAILY;INTERVAL=2",
        day_range("1997-09-02", "1997-12-31", 2),
        complete=False,
    ),
    ex(
        "every 10 days, 5 occurrences",
        "19970902T090000",
        "FREQ=DAILY;INTERVAL=10;COUNT=5",
        days(1997, 9, 2, 12, 22) + days(1997, 10, 2, 12),
        complete=True,
    ),
    ex(
        "every day in January, for 3 years (yearly form)",
        "19980101T090000",
        "FREQ=YEARLY;UNTIL=20000131T140000Z;BYMONTH=1;BYDAY=SU,MO,TU,WE,TH,FR,SA",
        _JANUARIES,
        complete=True,
    ),
    ex(
        "every day in January, for 3 years (daily form)",
        "19980101T090000",
        "FREQ=DAILY;UNTIL=20000131T140000Z;BYMONTH=1",
        _JANUARIES,
        complete=True,
    ),
    ex(
        "weekly for 10 occurrences",
        "19970902T090000",
        "FREQ=WEEKLY;COUNT=10",
        day_range("1997-09-02", "1997-11-04", 7),
        complete=True,
    ),
    ex(
        "weekly until December 24, 1997",
        "19970902T090000",
        "FREQ=WEEKLY;UNTIL=19971224T000000Z",
        _TUESDAYS_TO_DEC_23,
        complete=True,
    ),
    ex(
        "every other week, forever",
        "19970902T090000",
        "FREQ=WEEKLY;INTERVAL=2;WKST=SU",
        day_range("1997-09-02", "1998-02-17", 14),
        complete=False,
    ),
    ex(
        "weekly on Tuesday and Thursday for five weeks (UNTIL)",
        "19970902T090000",
        "FREQ=WEEKLY;UNTIL=19971007T000000Z;WKST=SU;BYDAY=TU,TH",
        _TU_TH_FIVE_WEEKS,
        complete=True,
    ),
    ex(
        "weekly on Tuesday and Thursday for five weeks (COUNT)",
        "19970902T090000",
        "FREQ=WEEKLY;COUNT=10;WKST=SU;BYDAY=TU,TH",
        _TU_TH_FIVE_WEEKS,
        complete=True,
    ),
    ex(
        "every other week on Monday, Wednesday and Friday until December 24, 1997",
        "19970901T090000",
        "FREQ=WEEKLY;INTERVAL=2;UNTIL=19971224T000000Z;WKST=SU;BYDAY=MO,WE,FR",
        days(1997, 9, 1, 3, 5, 15, 17, 19, 29)
        + days(1997, 10, 1, 3, 13, 15, 17, 27, 29, 31)
        + days(1997, 11, 10, 12, 14, 24, 26, 28)
        + days(1997, 12, 8, 10, 12, 22),
        complete=True,
    ),
    ex(
        "every other week on Tuesday and Thursday, for 8 occurrences",
        "19970902T090000",
        "FREQ=WEEKLY;INTERVAL=2;COUNT=8;WKST=SU;BYDAY=TU,TH",
        days(1997, 9, 2, 4, 16, 18, 30) + days(1997, 10, 2, 14, 16),
        complete=True,
    ),
    ex(
        "monthly on the first Friday for 10 occurrences",
        "19970905T090000",
        "FREQ=MONTHLY;COUNT=10;BYDAY=1FR",
        days(1997, 9, 5)
        + days(1997, 10, 3)
        + days(1997, 11, 7)
        + days(1997, 12, 5)
        + days(1998, 1, 2)
        + days(1998, 2, 6)
        + days(1998, 3, 6)
        + days(1998, 4, 3)
        + days(1998, 5, 1)
        + days(1998, 6, 5),
        complete=True,
    ),
    ex(
        "monthly on the first Friday until December 24, 1997",
        "19970905T090000",
        "FREQ=MONTHLY;UNTIL=19971224T000000Z;BYDAY=1FR",
        days(1997, 9, 5) + days(1997, 10, 3) + days(1997, 11, 7) + days(1997, 12, 5),
        complete=True,
    ),
    ex(
        "every other month on the first and last Sunday for 10 occurrences",
        "19970907T090000",
        "FREQ=MONTHLY;INTERVAL=2;COUNT=10;BYDAY=1SU,-1SU",
        days(1997, 9, 7, 28)
        + days(1997, 11, 2, 30)
        + days(1998, 1, 4, 25)
        + days(1998, 3, 1, 29)
        + days(1998, 5, 3, 31),
        complete=True,
    ),
    ex(
        "monthly on the second-to-last Monday for 6 months",
        "19970922T090000",
        "FREQ=MONTHLY;COUNT=6;BYDAY=-2MO",
        days(1997, 9, 22)
        + days(1997, 10, 20)
        + days(1997, 11, 17)
        + days(1997, 12, 22)
        + days(1998, 1, 19)
        + days(1998, 2, 16),
        complete=True,
    ),
    ex(
        "monthly on the third-to-the-last day, forever",
        "19970928T090000",
        "FREQ=MONTHLY;BYMONTHDAY=-3",
        days(1997, 9, 28)
        + days(1997, 10, 29)
        + days(1997, 11, 28)
        + days(1997, 12, 29)
        + days(1998, 1, 29)
        + days(1998, 2, 26),
        complete=False,
    ),
    ex(
        "monthly on the 2nd and 15th for 10 occurrences",
        "19970902T090000",
        "FREQ=MONTHLY;COUNT=10;BYMONTHDAY=2,15",
        days(1997, 9, 2, 15)
        + days(1997, 10, 2, 15)
        + days(1997, 11, 2, 15)
        + days(1997, 12, 2, 15)
        + days(1998, 1, 2, 15),
        complete=True,
    ),
    ex(
        "monthly on the first and last day for 10 occurrences",
        "19970930T090000",
        "FREQ=MONTHLY;COUNT=10;BYMONTHDAY=1,-1",
        days(1997, 9, 30)
        + days(1997, 10, 1, 31)
        + days(1997, 11, 1, 30)
        + days(1997, 12, 1, 31)
        + days(1998, 1, 1, 31)
        + days(1998, 2, 1),
        complete=True,
    ),
    ex(
        "every 18 months on the 10th thru 15th for 10 occurrences",
        "19970910T090000",
        "FREQ=MONTHLY;INTERVAL=18;COUNT=10;BYMONTHDAY=10,11,12,13,14,15",
        days(1997, 9, 10, 11, 12, 13, 14, 15) + days(1999, 3, 10, 11, 12, 13),
        complete=True,
    ),
    ex(
        "every Tuesday, every other month",
        "19970902T090000",
        "FREQ=MONTHLY;INTERVAL=2;BYDAY=TU",
        days(1997, 9, 2, 9, 16, 23, 30)
        + days(1997, 11, 4, 11, 18, 25)
        + days(1998, 1, 6, 13, 20, 27)
        + days(1998, 3, 3, 10, 17, 24, 31),
        complete=False,
    ),
    ex(
        "yearly in June and July for 10 occurrences",
        "19970610T090000",
        "FREQ=YEARLY;COUNT=10;BYMONTH=6,7",
        [d for y in range(1997, 2002) for d in days(y, 6, 10) + days(y, 7, 10)],
        complete=True,
    ),
    ex(
        "every other year on January, February and March for 10 occurrences",
        "19970310T090000",
        "FREQ=YEARLY;INTERVAL=2;COUNT=10;BYMONTH=1,2,3",
        days(1997, 3, 10)
        + [d for y in (1999, 2001, 2003) for m in (1, 2, 3) for d in days(y, m, 10)],
        complete=True,
    ),
    ex(
        "every third year on the 1st, 100th and 200th day for 10 occurrences",
        "19970101T090000",
        "FREQ=YEARLY;INTERVAL=3;COUNT=10;BYYEARDAY=1,100,200",
        days(1997, 1, 1)
        + days(1997, 4, 10)
        + days(1997, 7, 19)
        + days(2000, 1, 1)
        + days(2000, 4, 9)
        + days(2000, 7, 18)
        + days(2003, 1, 1)
        + days(2003, 4, 10)
        + days(2003, 7, 19)
        + days(2006, 1, 1),
        complete=True,
    ),
    ex(
        "every 20th Monday of the year, forever",
        "19970519T090000",
        "FREQ=YEARLY;BYDAY=20MO",
        days(1997, 5, 19) + days(1998, 5, 18) + days(1999, 5, 17),
        complete=False,
    ),
    ex(
        "Monday of week number 20, forever",
        "19970512T090000",
        "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO",
        days(1997, 5, 12) + days(1998, 5, 11) + days(1999, 5, 17),
        complete=False,
    ),
    ex(
        "every Thursday in March, forever",
        "19970313T090000",
        "FREQ=YEARLY;BYMONTH=3;BYDAY=TH",
        days(1997, 3, 13, 20, 27) + days(1998, 3, 5, 12, 19, 26) + days(1999, 3, 4, 11, 18, 25),
        complete=False,
    ),
    ex(
        "every Thursday, but only during June, July and August, forever",
        "19970605T090000",
        "FREQ=YEARLY;BYDAY=TH;BYMONTH=6,7,8",
        _THURSDAYS_SUMMER,
        complete=False,
    ),
    ex(
        "every Friday the 13th, forever",
        "19970902T090000",
        "FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13",
        days(1998, 2, 13)
        + days(1998, 3, 13)
        + days(1998, 11, 13)
        + days(1999, 8, 13)
        + days(2000, 10, 13),
        complete=False,
        exdates=("EXDATE;TZID=America/New_York:19970902T090000",),
    ),
    ex(
        "the first Saturday that follows the first Sunday of the month, forever",
        "19970913T090000",
        "FREQ=MONTHLY;BYDAY=SA;BYMONTHDAY=7,8,9,10,11,12,13",
        days(1997, 9, 13)
        + days(1997, 10, 11)
        + days(1997, 11, 8)
        + days(1997, 12, 13)
        + days(1998, 1, 10)
        + days(1998, 2, 7)
        + days(1998, 3, 7)
        + days(1998, 4, 11)
        + days(1998, 5, 9)
        + days(1998, 6, 13),
        complete=False,
    ),
    ex(
        "U.S. Presidential Election day: every 4 years, first Tuesday after a Monday in November",
        "19961105T090000",
        "FREQ=YEARLY;INTERVAL=4;BYMONTH=11;BYDAY=TU;BYMONTHDAY=2,3,4,5,6,7,8",
        days(1996, 11, 5) + days(2000, 11, 7) + days(2004, 11, 2),
        complete=False,
    ),
    ex(
        "the third instance of Tuesday, Wednesday or Thursday, for the next 3 months",
        "19970904T090000",
        "FREQ=MONTHLY;COUNT=3;BYDAY=TU,WE,TH;BYSETPOS=3",
        days(1997, 9, 4) + days(1997, 10, 7) + days(1997, 11, 6),
        complete=True,
    ),
    ex(
        "the second-to-last weekday of the month",
        "19970929T090000",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2",
        days(1997, 9, 29)
        + days(1997, 10, 30)
        + days(1997, 11, 27)
        + days(1997, 12, 30)
        + days(1998, 1, 29)
        + days(1998, 2, 26)
        + days(1998, 3, 30),
        complete=False,
    ),
    ex(
        "every 3 hours from 9:00 AM to 5:00 PM on a specific day (17:00Z is 13:00 EDT)",
        "19970902T090000",
        "FREQ=HOURLY;INTERVAL=3;UNTIL=19970902T170000Z",
        times("1997-09-02", "09:00", "12:00"),
        complete=True,
    ),
    ex(
        "every 15 minutes for 6 occurrences",
        "19970902T090000",
        "FREQ=MINUTELY;INTERVAL=15;COUNT=6",
        times("1997-09-02", "09:00", "09:15", "09:30", "09:45", "10:00", "10:15"),
        complete=True,
    ),
    ex(
        "every hour and a half for 4 occurrences",
        "19970902T090000",
        "FREQ=MINUTELY;INTERVAL=90;COUNT=4",
        times("1997-09-02", "09:00", "10:30", "12:00", "13:30"),
        complete=True,
    ),
    ex(
        "every 20 minutes from 9:00 AM to 4:40 PM every day (daily form)",
        "19970902T090000",
        "FREQ=DAILY;BYHOUR=9,10,11,12,13,14,15,16;BYMINUTE=0,20,40",
        _EVERY_20_MINUTES,
        complete=False,
    ),
    ex(
        "every 20 minutes from 9:00 AM to 4:40 PM every day (minutely form)",
        "19970902T090000",
        "FREQ=MINUTELY;INTERVAL=20;BYHOUR=9,10,11,12,13,14,15,16",
        _EVERY_20_MINUTES,
        complete=False,
    ),
    ex(
        "WKST=MO changes the instances of a weekly rule",
        "19970805T090000",
        "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO",
        days(1997, 8, 5, 10, 19, 24),
        complete=True,
    ),
    ex(
        "WKST=SU changes the instances of a weekly rule",
        "19970805T090000",
        "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU",
        days(1997, 8, 5, 17, 19, 31),
        complete=True,
    ),
    ex(
        "an invalid date (February 30) is skipped, not moved",
        "20070115T090000",
        "FREQ=MONTHLY;BYMONTHDAY=15,30;COUNT=5",
        days(2007, 1, 15, 30) + days(2007, 2, 15) + days(2007, 3, 15, 30),
        complete=True,
    ),
)
