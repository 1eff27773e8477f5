"""RFC 3339 timestamps in, aware UTC out; offset-less times read in the site's zone."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

# RFC 3339 section 5.6, with the offset optional (then the site's TIMEZONE applies) and a space
# allowed for the "T" as the RFC's note permits.
_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}:\d{2})(?P<frac>\.\d{1,9})?"
    r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})?"
)
# Every instant feedsvc stores or accepts lies in [EARLIEST, LATEST): far from datetime's own
# ends (years 1 and 9999), where moving a wall time to UTC overflows (issue 12).
EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)
RANGE = "must lie between the years 1900 and 9000"


def in_range(when: dt.datetime) -> bool:
    """Whether ``when`` is aware and in [EARLIEST, LATEST), decided without any overflow."""
    if when.utcoffset() is None or not EARLIEST.year - 1 <= when.year <= LATEST.year:
        return False  # the year alone decides, before a comparison converts to UTC
    return EARLIEST <= when < LATEST


def parse(text: str, zone: ZoneInfo) -> dt.datetime:
    """Read an RFC 3339 timestamp as an aware UTC datetime, whole seconds.

    Without an offset the wall time is read in ``zone``. At a DST change a repeated wall time is
    read as its first occurrence (``fold=0``), and a skipped one is moved forward by the gap
    (02:30 on a spring-forward night becomes 03:30): the rule of RFC 9557 / ``zoneinfo``.
    Fractions of a second are dropped so that every format shows the instant that is stored.
    Raises ValueError with a reason a client can act on.
    """
    m = _RFC3339.fullmatch(text.strip()) if isinstance(text, str) else None
    if not m:
        raise ValueError("must be an RFC 3339 date-time such as 2022-06-19T02:17:00+06:00")
    try:
        naive = dt.datetime.fromisoformat(f"{m['date']}T{m['time']}")
    except ValueError:
        raise ValueError(f"{m['date']}T{m['time']} is not a real date and time") from None
    if not EARLIEST.year - 1 <= naive.year <= LATEST.year:
        raise ValueError(RANGE)  # before any offset moves it: 9999-12-31T23:00-05:00 overflowed
    offset = m["offset"]
    if offset is None:
        local = naive.replace(tzinfo=zone, fold=0)
        # A wall time in a spring-forward gap does not exist; round-tripping through UTC
        # moves it past the gap instead of silently using the pre-change offset.
        result = local.astimezone(dt.UTC)
    else:
        if offset in ("Z", "z"):
            delta = dt.timedelta(0)
        else:
            hours, minutes = int(offset[1:3]), int(offset[4:6])
            if hours > 23 or minutes > 59:
                raise ValueError(f"{offset} is not a valid UTC offset")
            delta = dt.timedelta(hours=hours, minutes=minutes) * (-1 if offset[0] == "-" else 1)
        result = naive.replace(tzinfo=dt.timezone(delta)).astimezone(dt.UTC)
    if not in_range(result):
        raise ValueError(RANGE)
    return result


def is_rfc3339(text: str) -> bool:
    """Whether ``text`` has the shape ``parse`` reads (it may still be no real date)."""
    return isinstance(text, str) and _RFC3339.fullmatch(text.strip()) is not None


def lacks_offset(text: str) -> bool:
    """Whether ``text`` is an RFC 3339 timestamp without an offset (read in a zone by ``parse``)."""
    m = _RFC3339.fullmatch(text.strip()) if isinstance(text, str) else None
    return m is not None and m["offset"] is None


def format_utc(value: dt.datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, as every API response gives it."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
