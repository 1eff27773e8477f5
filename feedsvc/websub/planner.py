"""When a WebSub job is tried again: a pure function of the job, the outcome and the time.

No clock, no database, no randomness from outside: the jitter comes from the job's id and
attempt number, so the same inputs always give the same plan and a table of cases tests it
(tests/test_websub_planner.py). The worker (worker.py) only carries the plan out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Literal

Action = Literal["done", "retry", "give_up", "end"]


@dataclass(frozen=True)
class Policy:
    """How patient the hub is; built from WEBSUB_RETRY_BASE and WEBSUB_RETRY_MAX."""

    base: float = 30.0  # seconds: the longest wait before the first retry
    cap: float = 3600.0  # seconds: no wait is longer
    publish_for: dt.timedelta = dt.timedelta(days=1)  # how long a ping to an outside hub is tried


@dataclass(frozen=True)
class Job:
    id: int
    kind: str  # "verify", "deliver", "publish" or "change" (its purges, CDN_PURGE)
    attempts: int  # attempts already made before the one whose outcome is judged
    created: dt.datetime
    lease_end: dt.datetime | None = None  # a delivery: when its subscription expires


@dataclass(frozen=True)
class Outcome:
    """What one attempt gave: an HTTP status, or an error before or instead of one."""

    status: int | None
    error: str | None = None
    retry_after: float | None = None  # seconds, from Retry-After on a 429 or 503

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        if self.ok:
            return f"delivered ({self.status})"
        if self.error is not None:
            return self.error if self.status is None else f"{self.status}: {self.error}"
        return f"HTTP {self.status}"


@dataclass(frozen=True)
class Decision:
    action: Action  # done: succeeded; retry: again at ``at``; give_up: failed for good;
    #                 end: the subscriber said 410 Gone, its subscription ends
    at: dt.datetime | None = None
    reason: str = ""


def delay(job_id: int, attempt: int, policy: Policy) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1 for the first).

    Exponential, capped, with "equal jitter": between half and all of base * 2^(attempt-1),
    so subscribers that failed together do not come back together, and every wait is still
    longer than the one before until the cap.
    """
    ceiling = min(policy.cap, policy.base * 2.0 ** min(attempt - 1, 60))
    digest = hashlib.sha256(f"{job_id}:{attempt}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return ceiling * (0.5 + 0.5 * fraction)


def next_attempt(job: Job, outcome: Outcome, now: dt.datetime, policy: Policy = Policy()) -> Decision:
    """What to do after an attempt of ``job`` ended with ``outcome`` at ``now``."""
    if outcome.ok:
        return Decision("done", reason=outcome.describe())
    if job.kind == "verify":
        # W3C WebSub 5.3: without the subscriber's confirmation nothing is activated; the
        # subscriber asks again if it still wants the subscription.
        return Decision("give_up", reason=f"verification failed: {outcome.describe()}")
    if job.kind == "deliver" and outcome.status == 410:
        return Decision("end", reason="the callback answered 410 Gone")
    attempt = job.attempts + 1
    wait = delay(job.id, attempt, policy)
    if outcome.retry_after is not None:
        wait = max(wait, min(outcome.retry_after, policy.cap))
    at = now + dt.timedelta(seconds=wait)
    deadline = job.lease_end if job.kind == "deliver" else job.created + policy.publish_for
    if deadline is not None and at >= deadline:
        end = "the lease ends" if job.kind == "deliver" else "the publish window closes"
        return Decision("give_up", reason=f"{outcome.describe()}; gave up after {attempt} "
                                          f"attempt(s): {end} before the next one")
    return Decision("retry", at=at, reason=f"{outcome.describe()} (attempt {attempt})")
