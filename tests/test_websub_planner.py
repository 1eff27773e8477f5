"""The retry plan of WebSub jobs: a pure function, tested as a table."""

from __future__ import annotations

import datetime as dt

import pytest

from feedsvc.websub.planner import Decision, Job, Outcome, Policy, delay, next_attempt

NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
POLICY = Policy(base=10, cap=300, publish_for=dt.timedelta(hours=1))
LEASE = NOW + dt.timedelta(days=1)


def deliver(attempts: int = 0, lease_end: dt.datetime | None = LEASE) -> Job:
    return Job(id=7, kind="deliver", attempts=attempts, created=NOW, lease_end=lease_end)


@pytest.mark.parametrize(("job", "outcome", "action"), [
    (deliver(), Outcome(200), "done"),
    (deliver(), Outcome(204), "done"),
    (deliver(), Outcome(202), "done"),
    (deliver(), Outcome(500), "retry"),
    (deliver(), Outcome(404), "retry"),  # WebSub 7: any failure is retried
    (deliver(), Outcome(301), "retry"),  # a redirect the sender did not follow
    (deliver(), Outcome(None, "connection refused"), "retry"),
    (deliver(), Outcome(200, "the callback did not echo hub.challenge"), "retry"),
    (deliver(), Outcome(410), "end"),
    (Job(1, "verify", 0, NOW), Outcome(200), "done"),
    (Job(1, "verify", 0, NOW), Outcome(404), "give_up"),  # a denial is final
    (Job(1, "verify", 0, NOW), Outcome(None, "timed out"), "give_up"),
    (Job(1, "verify", 0, NOW), Outcome(410), "give_up"),
    (Job(1, "publish", 0, NOW), Outcome(204), "done"),
    (Job(1, "publish", 0, NOW), Outcome(503), "retry"),
    (Job(1, "publish", 0, NOW), Outcome(410), "retry"),  # 410 ends subscriptions, not pings
])
def test_actions(job: Job, outcome: Outcome, action: str) -> None:
    assert next_attempt(job, outcome, NOW, POLICY).action == action


@pytest.mark.parametrize(("attempt", "low", "high"), [
    (1, 5, 10), (2, 10, 20), (3, 20, 40), (4, 40, 80), (5, 80, 160), (6, 150, 300),
    (7, 150, 300), (50, 150, 300), (10_000, 150, 300),
])
def test_exponential_with_jitter_and_cap(attempt: int, low: float, high: float) -> None:
    waits = [delay(job_id, attempt, POLICY) for job_id in range(200)]
    assert all(low <= wait < high for wait in waits)
    assert len(set(waits)) > 150  # jitter spreads jobs that failed together


def test_each_wait_is_longer_than_the_last_until_the_cap() -> None:
    for job_id in range(100):
        waits = [delay(job_id, attempt, POLICY) for attempt in range(1, 6)]
        assert waits == sorted(waits)


def test_the_plan_is_deterministic() -> None:
    one = next_attempt(deliver(2), Outcome(500), NOW, POLICY)
    assert one == next_attempt(deliver(2), Outcome(500), NOW, POLICY)
    assert one.at is not None and NOW + dt.timedelta(seconds=20) <= one.at < NOW + dt.timedelta(seconds=40)
    assert one.reason == "HTTP 500 (attempt 3)"


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    asked = next_attempt(deliver(), Outcome(503, retry_after=120), NOW, POLICY)
    assert asked.at == NOW + dt.timedelta(seconds=120)
    capped = next_attempt(deliver(), Outcome(429, retry_after=10**6), NOW, POLICY)
    assert capped.at == NOW + dt.timedelta(seconds=300)


@pytest.mark.parametrize(("lease_left", "action"), [
    (dt.timedelta(days=1), "retry"),
    (dt.timedelta(seconds=41), "retry"),  # the 4th retry waits 20..40 s: still inside the lease
    (dt.timedelta(seconds=15), "give_up"),
    (dt.timedelta(0), "give_up"),
])
def test_deliveries_stop_when_the_lease_ends(lease_left: dt.timedelta, action: str) -> None:
    decision = next_attempt(deliver(2, NOW + lease_left), Outcome(500), NOW, POLICY)
    assert decision.action == action
    if action == "give_up":
        assert "lease ends" in decision.reason


def test_publish_pings_stop_after_their_window() -> None:
    job = Job(3, "publish", 5, NOW - dt.timedelta(minutes=59))
    decision = next_attempt(job, Outcome(None, "connection refused"), NOW, POLICY)
    assert decision == Decision("give_up", None, decision.reason)
    assert "publish window" in decision.reason


def test_outcome_descriptions() -> None:
    assert Outcome(204).describe() == "delivered (204)"
    assert Outcome(None, "timed out").describe() == "timed out"
    assert Outcome(500).describe() == "HTTP 500"
    assert not Outcome(204, "x").ok and not Outcome(None).ok
