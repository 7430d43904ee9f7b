"""Every metric Kiwame exports, declared once: name, help, labels and buckets.

Counters and histograms live in prometheus_client's default registry (per process, or summed across
gunicorn workers in multiprocess mode). Gauges whose truth lives elsewhere (the database, the sandbox
pool) are *readings*: functions the app registers and /metrics calls at scrape time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

disable_created_metrics()  # the *_created series double the output and no dashboard reads them

# Grading takes tens of milliseconds when warm; a cold zygote or a timeout takes seconds.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

SUBMISSIONS = Counter(
    "kiwame_submissions", "Submissions with a stored result, by status, first diagnosis and outcome",
    ["status", "diagnosis", "passed"])
GRADING_SECONDS = Histogram(
    "kiwame_grading_duration_seconds", "Time to grade one submission (engine and sandbox)",
    buckets=LATENCY_BUCKETS)
SUBMISSION_LATENCY = Histogram(
    "kiwame_submission_latency_seconds", "From submission to stored result, queue wait included",
    buckets=LATENCY_BUCKETS)
HTTP_REQUESTS = Counter(
    "kiwame_http_requests", "HTTP requests answered, by method, endpoint and status",
    ["method", "endpoint", "status"])
HTTP_SECONDS = Histogram(
    "kiwame_http_request_duration_seconds", "Time to answer an HTTP request (?wait= included)",
    ["method", "endpoint"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))

Reading = Callable[[], Iterable[Metric]]


def observe_graded(status: str, diagnosis: str | None, passed: bool | None, duration_s: float,
                   latency_s: float | None) -> None:
    """Count one stored result and its timings."""
    SUBMISSIONS.labels(status, diagnosis or "none", "true" if passed else "false").inc()
    GRADING_SECONDS.observe(max(0.0, duration_s))
    if latency_s is not None:
        SUBMISSION_LATENCY.observe(max(0.0, latency_s))


def gauge(name: str, doc: str, values: dict[tuple[str, ...], float] | float,
          labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
    """A scrape-time gauge: one value, or one per label tuple."""
    family = GaugeMetricFamily(name, doc, labels=list(labels))
    if isinstance(values, dict):
        for key, value in values.items():
            family.add_metric(list(key), value)
    else:
        family.add_metric([], values)
    return family


class ReadingsCollector:
    """Runs the registered readings; one that fails is reported as down instead of failing the scrape."""

    def __init__(self, readings: dict[str, Reading]) -> None:
        self._readings = readings

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("kiwame_metrics_reading_up", "1 when the reading answered in this scrape",
                               labels=["reading"])
        for name, reading in self._readings.items():
            try:
                yield from list(reading())
                up.add_metric([name], 1)
            except Exception:  # e.g. the database is down: the other readings still answer
                up.add_metric([name], 0)
        yield up
