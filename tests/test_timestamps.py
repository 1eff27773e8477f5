"""The timestamp rules of the contract, as a table."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from feedsvc.store import timestamps

UTC = dt.UTC


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("text", "zone", "expected"), [
    ("2022-06-19T02:17:00+06:00", "UTC", at(2022, 6, 18, 20, 17)),
    ("2022-06-19T02:17:00", "Asia/Dhaka", at(2022, 6, 18, 20, 17)),
    ("2022-06-19T02:17:00Z", "Asia/Dhaka", at(2022, 6, 19, 2, 17)),
    ("2022-06-19t02:17:00z", "UTC", at(2022, 6, 19, 2, 17)),
    ("2022-06-19 02:17:00-05:30", "UTC", at(2022, 6, 19, 7, 47)),
    ("2022-06-19T02:17:00.999999+00:00", "UTC", at(2022, 6, 19, 2, 17)),  # whole seconds
    # New York, fall back: 01:30 happens twice; the first (EDT, -04:00) is taken.
    ("2024-11-03T01:30:00", "America/New_York", at(2024, 11, 3, 5, 30)),
    # New York, spring forward: 02:30 does not exist; it moves forward by the gap (03:30 EDT).
    ("2024-03-10T02:30:00", "America/New_York", at(2024, 3, 10, 7, 30)),
    ("2024-02-29T12:00:00Z", "UTC", at(2024, 2, 29, 12)),
])
def test_parse(text: str, zone: str, expected: dt.datetime) -> None:
    result = timestamps.parse(text, ZoneInfo(zone))
    assert result == expected
    assert result.tzinfo is UTC


@pytest.mark.parametrize("text", [
    "2022-02-30T00:00:00Z", "2023-02-29T00:00:00Z", "yesterday", "", "2022-06-19",
    "2022-06-19T25:00:00Z", "2022-06-19T02:17:00+25:00", "2022-06-19T02:17:00+05:60",
    "2022-06-19T02:17:00+0600", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
    "２０２２-06-19T02:17:00Z", "2022-06-19T02:17:00Z garbage",
])
def test_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        timestamps.parse(text, ZoneInfo("UTC"))


def test_format_is_utc_with_z() -> None:
    when = dt.datetime(2022, 6, 19, 2, 17, tzinfo=ZoneInfo("Asia/Dhaka"))
    assert timestamps.format_utc(when) == "2022-06-18T20:17:00Z"
