"""What a run publishes when it ends (CloudWatch EMF metrics, see observability.emit): entities per
outcome, its duration, its throughput, and one count per final status (RunsFailed has an alarm)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from syncjobs.models.outcome import OUTCOMES, Outcome
from syncjobs.models.run import RunStatus

COUNT, SECONDS, PER_SECOND = "Count", "Seconds", "Count/Second"


@dataclass(frozen=True)
class RunMetric:
    name: str
    unit: str  # a CloudWatch unit
    value: float


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def run_metrics(status: RunStatus, totals: dict[Outcome, int], began: datetime, ended: datetime) -> list[RunMetric]:
    """The metrics of one ended run. `began`: when it started (or was made, if it never started)."""
    seconds = max((ended - began).total_seconds(), 0.0)
    entities = sum(totals.get(outcome, 0) for outcome in OUTCOMES)
    metrics = [RunMetric(f"Runs{_camel(status.value)}", COUNT, 1)]
    metrics += [RunMetric(f"Entities{_camel(o.value)}", COUNT, totals.get(o, 0)) for o in OUTCOMES]
    metrics.append(RunMetric("RunDuration", SECONDS, round(seconds, 3)))
    if seconds > 0:
        metrics.append(RunMetric("EntitiesPerSecond", PER_SECOND, round(entities / seconds, 3)))
    return metrics
