"""The figures an operator graphs: Prometheus metrics, served on a listen address of their own.

Every metric feedsvc counts is declared once, in ``Metrics``; the wings count into the one
instance of the process (``get()``), built on first use rather than at import, so that no
metric file is opened before ``start`` has made sure of the directory below. README.md lists
them all. Like ``errors``, this module imports nothing of feedsvc.

``feedsvc serve --metrics-port P`` (and ``feedsvc worker``) serve them at ``/metrics`` on
``--metrics-host`` (127.0.0.1), never on the public port.

Several processes on one machine: with ``PROMETHEUS_MULTIPROC_DIR`` set (prometheus_client's
multiprocess mode), each process writes its figures to files of its own in that directory,
and any of them serves the sum over all of them — processes that have stopped included, so
that no counter goes back. The one gauge of a process (the feed cache's bytes) counts only
while the process lives: a process removes its gauge file when it stops, and every scrape
removes those of processes that died without doing so (killed). The processes must share a
PID namespace (one host or container): a file's owner is told by its pid. Start the set with
an empty directory (a tmpfs emptied at boot, such as one under /run), and scrape one of them.
Without the variable each process serves its own figures (and process_* ones), and
Prometheus scrapes each.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import click
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

log = logging.getLogger(__name__)

ROUTES = ("feed", "page", "api", "websub", "health", "other")  # the route label's (accesslog.Routes)
JOB_KINDS = ("change", "verify", "deliver", "publish", "purge")  # the kinds of models.WebSubJob
JOB_STATES = ("due", "waiting")  # due now, or waiting for a retry or a scheduled article


class Metrics:
    """Every metric of feedsvc (names per https://prometheus.io/docs/practices/naming/)."""

    def __init__(self) -> None:
        # registry=None: each exposition builds a registry of its own (``_registry``), so a
        # second exporter in one process (a test's) registers nothing twice.
        self.requests = Counter(
            "feedsvc_http_requests", "HTTP responses by route kind and status code; a 304's "
            "share of route=\"feed\" is the pollers' revalidations.", ("route", "code"), registry=None)
        self.lookups = Counter(
            "feedsvc_feed_cache_lookups", "Feed requests answered from a current document "
            "(hit) or that had to render one (miss).", ("result",), registry=None)
        self.cache_hit, self.cache_miss = self.lookups.labels("hit"), self.lookups.labels("miss")
        self.cache_bytes = Gauge(
            "feedsvc_feed_cache_bytes", "Bytes of feed documents held in memory (FEED_CACHE_BYTES "
            "bounds each process's).", registry=None, multiprocess_mode="livesum")
        self.render_seconds = Histogram(
            "feedsvc_feed_render_seconds", "Seconds to render a feed document (read, build, "
            "serialise), by format; its _count is the renders.", ("format",), registry=None,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
        self.deliveries = Counter(
            "feedsvc_websub_deliveries", "WebSub content deliveries settled, by outcome: done, "
            "retry, give_up, end (the subscriber answered 410).", ("outcome",), registry=None)
        self.delivery_seconds = Histogram(
            "feedsvc_websub_delivery_seconds", "Seconds from a delivery being queued to the "
            "subscriber's 2xx, retries included.", registry=None,
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0))

    def collectors(self) -> tuple[Any, ...]:
        return (self.requests, self.lookups, self.cache_bytes, self.render_seconds,
                self.deliveries, self.delivery_seconds)


_metrics: Metrics | None = None
_metrics_lock = threading.Lock()


def get() -> Metrics:
    """This process's metrics, built on first use (see the module docstring)."""
    global _metrics
    if _metrics is None:
        with _metrics_lock:
            if _metrics is None:
                _metrics = Metrics()
    return _metrics


class Backlog(NamedTuple):
    """The WebSub jobs in the database at one instant: read at each scrape, not counted."""

    jobs: Mapping[tuple[str, str], int]  # (kind, state) -> jobs
    oldest_due: float  # seconds the longest-due job has waited; 0 when none is due


class _BacklogCollector:
    """Reads the backlog when scraped. The database is the same for every process, so it is
    read by the one scraped rather than summed; an unreachable database leaves these out of
    that scrape (the others still answer)."""

    def __init__(self, read: Callable[[], Backlog]) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            backlog = self.read()
        except Exception as exc:  # the database away: the rest of the scrape still answers
            log.warning("metrics: the WebSub backlog could not be read: %s", exc)
            return
        jobs = GaugeMetricFamily("feedsvc_websub_jobs", "WebSub jobs queued in the database, by "
                                 "kind and state (due now, or waiting for a retry or a scheduled "
                                 "article).", labels=("kind", "state"))
        for kind in JOB_KINDS:
            for state in JOB_STATES:
                jobs.add_metric((kind, state), backlog.jobs.get((kind, state), 0))
        yield jobs
        yield GaugeMetricFamily("feedsvc_websub_oldest_due_seconds", "Seconds the longest-due "
                                "WebSub job has waited for a sender (0: none is due).",
                                value=backlog.oldest_due)


_LIVE_GAUGE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: alive
        return True
    return True


def sweep(directory: str) -> None:
    """Remove the gauge files of processes that died without saying so (mark_process_dead)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        match = _LIVE_GAUGE.fullmatch(name)
        if match is not None and not _alive(int(match[1])):
            mark_process_dead(int(match[1]), directory)


class _Machine(MultiProcessCollector):  # type: ignore[misc]
    """Every process's figures from the directory, once the dead processes' gauges are gone."""

    def collect(self) -> Any:
        sweep(self._path)
        return super().collect()


def _registry(backlog: Callable[[], Backlog] | None, directory: str | None) -> CollectorRegistry:
    registry = CollectorRegistry()
    if directory is not None:
        _Machine(registry, directory)
    else:
        for collector in get().collectors():
            registry.register(collector)
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
    if backlog is not None:
        registry.register(_BacklogCollector(backlog))
    return registry


def directory() -> str | None:
    """The multiprocess directory (PROMETHEUS_MULTIPROC_DIR), or None for one process's figures."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Exporter:
    """A long-running command's part in the metrics (``start``); ``close`` when it stops."""

    def __init__(self, directory: str | None, server: Any = None) -> None:
        self.directory, self.server = directory, server

    @property
    def port(self) -> int | None:
        return None if self.server is None else int(self.server.server_address[1])

    def close(self) -> None:
        """Stop serving /metrics, and in multiprocess mode take this process's gauge out."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.directory is not None:
            mark_process_dead(os.getpid(), self.directory)


def start(host: str, port: int | None, backlog: Callable[[], Backlog] | None = None) -> Exporter:
    """Prepare this process's metrics and, with a ``port``, serve /metrics on ``host:port``.

    The multiprocess directory is made if missing (a ClickException if it cannot be), before
    any metric file is opened in it, and swept of dead processes' gauges.
    """
    shared = directory()
    if shared is not None:
        try:
            os.makedirs(shared, exist_ok=True)
        except OSError as exc:
            raise click.ClickException(f"PROMETHEUS_MULTIPROC_DIR: {exc}") from None
        if not os.access(shared, os.W_OK | os.X_OK):
            raise click.ClickException(f"PROMETHEUS_MULTIPROC_DIR: {shared} is not writable")
        sweep(shared)
    # No *_created series: multiprocess mode has none, and a scrape reads the same either way.
    disable_created_metrics()
    get()
    if port is None:
        return Exporter(shared)
    try:
        server, _ = start_http_server(port, host, _registry(backlog, shared))
    except OSError as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise click.ClickException(f"cannot serve metrics on {host}:{port}: {reason}") from None
    exporter = Exporter(shared, server)
    click.echo(f"feedsvc metrics on http://{f'[{host}]' if ':' in host else host}:{exporter.port}/metrics"
               + (f" (every process of {shared})" if shared else ""), err=True)
    return exporter
