"""The exception hierarchy every wing raises; web.problems maps it to RFC 9457 problem details.

It imports nothing of feedsvc, so the store, the feeds and WebSub raise an HTTP status without
knowing the web wing.
"""

from __future__ import annotations

import re


class ConfigError(Exception):
    """A configuration value that feedsvc cannot run with.

    The message never shows a password a value holds (``//user:***@``, ``password=***``): it
    goes to terminals and logs.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"configuration {key}: {redact(message)}")
        self.key = key


_USERINFO = re.compile(r"(//[^/@\s:'\"]*):[^@/\s'\"]*@")
_PASSWORD = re.compile(r"(password=)[^&\s'\"]*", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return _PASSWORD.sub(r"\1***", _USERINFO.sub(r"\1:***@", text))


class FeedsvcError(Exception):
    """A request feedsvc refuses; ``status`` and ``title`` become the problem document."""

    status = 400
    title = "Bad Request"

    def __init__(self, detail: str, errors: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}


class BadRequest(FeedsvcError):
    status, title = 400, "Bad Request"


class Unauthorized(FeedsvcError):
    status, title = 401, "Unauthorized"


class NotFound(FeedsvcError):
    status, title = 404, "Not Found"


class Gone(FeedsvcError):
    status, title = 410, "Gone"


class Conflict(FeedsvcError):
    status, title = 409, "Conflict"


class PreconditionFailed(FeedsvcError):
    status, title = 412, "Precondition Failed"


class TooLarge(FeedsvcError):
    status, title = 413, "Content Too Large"


class UnsupportedMediaType(FeedsvcError):
    status, title = 415, "Unsupported Media Type"


class TooManyRequests(FeedsvcError):
    status, title = 429, "Too Many Requests"


class Invalid(FeedsvcError):
    """One or more fields are wrong; ``errors`` names each with a JSON pointer."""

    status, title = 422, "Unprocessable Content"
