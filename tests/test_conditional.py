"""The RFC 9110 table for conditional GET, as a pure function."""

from __future__ import annotations

import datetime as dt

import pytest

from feedsvc.web.conditional import http_date, not_modified, parse_http_date

MODIFIED = dt.datetime(2026, 11, 1, 12, 0, 0, tzinfo=dt.UTC)
TAGS = ['"abc"', '"abc-gzip"']
AT = http_date(MODIFIED)
BEFORE = http_date(MODIFIED - dt.timedelta(seconds=1))
AFTER = http_date(MODIFIED + dt.timedelta(hours=1))


@pytest.mark.parametrize(("inm", "ims", "expected"), [
    (None, None, False),
    ('"abc"', None, True),                      # matching
    ('"abc-gzip"', None, True),                 # the other encoding's tag
    ('W/"abc"', None, True),                    # weak comparison
    ('"old"', None, False),                     # stale
    ('"old", "abc"', None, True),               # list
    ('"old" , W/"abc-gzip"', None, True),
    ("*", None, True),
    ('"old"', AT, False),                       # INM decides alone, IMS ignored
    ('"abc"', BEFORE, True),
    ("", AT, False),                            # empty INM: present, matches nothing
    ("garbage", None, False),                   # malformed INM matches nothing
    (None, AT, True),                           # not modified since
    (None, AFTER, True),
    (None, BEFORE, False),                      # modified since
    (None, "yesterday", False),                 # malformed IMS ignored
    (None, "Sun, 06 Nov 1994 08:49:37 GMT", False),
    (None, "Sunday, 06-Nov-94 08:49:37 GMT", False),  # obsolete RFC 850 form still parsed
])
def test_table(inm: str | None, ims: str | None, expected: bool) -> None:
    assert not_modified(inm, ims, TAGS, MODIFIED) is expected


def test_http_date_round_trip() -> None:
    assert AT == "Sun, 01 Nov 2026 12:00:00 GMT"
    assert parse_http_date(AT) == MODIFIED
    assert parse_http_date("Sun Nov  1 12:00:00 2026") == MODIFIED  # asctime form
    assert parse_http_date("not a date") is None
