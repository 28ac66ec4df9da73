"""Prometheus metrics for the service, read from the store at scrape time.

Every gunicorn worker answers ``/metrics`` with the same numbers, because ``StoreCollector``
reads the shared store (and zones/) when scraped instead of counting in process memory. The
one per-process series is ``zonesync_http_requests_total`` (each worker counts what it
served; Prometheus sums them). Names follow external-dns's (``…_last_sync_timestamp_seconds``).

    zonesync_jobs{state}                                  jobs in the store by state
    zonesync_last_sync_timestamp_seconds{domain}          end of the last sync of the domain
    zonesync_last_successful_sync_timestamp_seconds{domain}
    zonesync_sync_duration_seconds (summary)              recent finished sync jobs
    zonesync_sync_last_duration_seconds                   the newest finished sync job
    zonesync_verify_ok{domain}                            1 when the last verification passed
    zonesync_drifted_rrsets{domain,provider}              the latest drift check
    zonesync_drift_state{domain,provider,state}           1 for the latest check's state
    zonesync_lint_findings{severity}                      findings of zones/ now
    zonesync_provider_errors_total{provider}              failed applies in recent failed jobs
    zonesync_store_up                                     0 when the store could not be read
"""

from __future__ import annotations

import logging
from typing import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, disable_created_metrics
from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily,
                                    SummaryMetricFamily)
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

RECENT_JOBS = 200        # the window of finished jobs durations and provider errors come from
DRIFT_STATES = ("clean", "pending", "drift", "error")


class StoreCollector(Collector):
    """Reads ``store`` (a zonesync.store.Store) and ``findings()`` (zones/'s lint) per scrape."""

    def __init__(self, store, findings: Callable[[], Iterable] | None = None):
        self.store = store
        self.findings = findings

    def describe(self):
        return []          # collected on demand: never at registration

    def collect(self):
        up = GaugeMetricFamily("zonesync_store_up", "1 when the job store could be read")
        try:
            families = list(self._from_store())
        except Exception as exc:  # noqa: BLE001 - a scrape never fails on a busy store
            log.warning("metrics: reading the store failed: %s", exc)
            up.add_metric([], 0)
            families = []
        else:
            up.add_metric([], 1)
        yield up
        yield from families
        yield from self._lint()

    def _from_store(self):
        store = self.store
        jobs = GaugeMetricFamily("zonesync_jobs", "Jobs in the store, by state", labels=["state"])
        for state, count in sorted(store.counts_by_state().items()):
            jobs.add_metric([state], count)
        yield jobs

        states = store.domain_states()
        last = GaugeMetricFamily("zonesync_last_sync_timestamp_seconds",
                                 "When the last sync of the domain ended (Unix time)",
                                 labels=["domain"])
        good = GaugeMetricFamily("zonesync_last_successful_sync_timestamp_seconds",
                                 "When the last successful sync of the domain ended (Unix time)",
                                 labels=["domain"])
        verify = GaugeMetricFamily("zonesync_verify_ok",
                                   "1 when the domain's last verification passed, 0 when it failed",
                                   labels=["domain"])
        for domain, st in sorted(states.items()):
            if st.get("last_sync_at") is not None:
                last.add_metric([domain], st["last_sync_at"])
            if st.get("last_success_at") is not None:
                good.add_metric([domain], st["last_success_at"])
            if st.get("last_verified_ok") is not None:
                verify.add_metric([domain], 1 if st["last_verified_ok"] else 0)
        yield last
        yield good
        yield verify

        finished = [j for state in ("succeeded", "failed")
                    for j in store.list(state=state, limit=RECENT_JOBS)]
        syncs = sorted((j for j in finished if j.kind == "sync" and j.started_at is not None
                        and j.finished_at is not None), key=lambda j: j.finished_at)
        durations = [_duration(j) for j in syncs]
        summary = SummaryMetricFamily(
            "zonesync_sync_duration_seconds",
            f"Durations of the last {RECENT_JOBS} finished sync jobs (of each outcome)",
            count_value=len(durations), sum_value=sum(durations))
        yield summary
        newest = GaugeMetricFamily("zonesync_sync_last_duration_seconds",
                                   "Duration of the newest finished sync job")
        if durations:
            newest.add_metric([], durations[-1])
        yield newest

        errors: dict[str, int] = {}
        for job in finished:
            if job.state != "failed" or not isinstance(job.result, dict):
                continue
            for item in job.result.get("applied") or ():
                if isinstance(item, dict) and not item.get("ok", True) and item.get("provider"):
                    errors[item["provider"]] = errors.get(item["provider"], 0) + 1
        provider_errors = CounterMetricFamily(
            "zonesync_provider_errors",
            f"Zone applies that failed on the provider (in the last {RECENT_JOBS} failed jobs)",
            labels=["provider"])
        for provider, count in sorted(errors.items()):
            provider_errors.add_metric([provider], count)
        yield provider_errors

        drifted = GaugeMetricFamily("zonesync_drifted_rrsets",
                                    "RRsets that differ from zones/ in the latest drift check",
                                    labels=["domain", "provider"])
        drift_state = GaugeMetricFamily("zonesync_drift_state",
                                        "1 for the state of the latest drift check",
                                        labels=["domain", "provider", "state"])
        seen: dict[tuple[str, str], tuple[int, str]] = {}
        for report in store.latest_drift():
            # one domain may sit in several zone rows (a zone moved): the worst of them counts
            key = (str(report.get("domain") or ""), str(report.get("provider") or ""))
            state = report.get("state") if report.get("state") in DRIFT_STATES else "error"
            count, worst = seen.get(key, (0, "clean"))
            seen[key] = (max(count, _count(report.get("drifted"))),
                         max(worst, state, key=DRIFT_STATES.index))
        for (domain, provider), (count, state) in sorted(seen.items()):
            drifted.add_metric([domain, provider], count)
            for s in DRIFT_STATES:
                drift_state.add_metric([domain, provider, s], 1 if s == state else 0)
        yield drifted
        yield drift_state

    def _lint(self):
        if self.findings is None:
            return
        family = GaugeMetricFamily("zonesync_lint_findings",
                                   "Findings of the descriptions in zones/, by severity",
                                   labels=["severity"])
        counts = {"error": 0, "warning": 0}
        try:
            for finding in self.findings():
                counts[finding.severity] = counts.get(finding.severity, 0) + 1
        except Exception as exc:  # noqa: BLE001
            log.warning("metrics: linting zones/ failed: %s", exc)
            return
        for severity, count in sorted(counts.items()):
            family.add_metric([severity], count)
        yield family


def _duration(job) -> float:
    timings = (job.result or {}).get("timings") if isinstance(job.result, dict) else None
    total = timings.get("total_s") if isinstance(timings, dict) else None
    if isinstance(total, (int, float)):
        return float(total)
    return max(0.0, job.finished_at - job.started_at)


def _count(value) -> int:
    if isinstance(value, (list, tuple, set)):
        return len(value)
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


class Metrics:
    """One registry an app: the store collector and this process's request counter."""

    def __init__(self, store, findings: Callable[[], Iterable] | None = None):
        disable_created_metrics()        # no *_created series: scrapes stay small
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StoreCollector(store, findings))
        self.requests = Counter("zonesync_http_requests", "HTTP requests this process served",
                                ["method", "route", "status"], registry=self.registry)

    def observe(self, method: str, route: str, status: int) -> None:
        self.requests.labels(method, route, str(status)).inc()

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
