"""What an execution's jobs would cost on SageMaker, priced from `[pricing]`.

Pure functions over plain dicts (the step records of `model.py`), so the arithmetic is
tested without running anything.

Billing rules, as documented in the README:
- a job step (Processing, Training) costs instance count x price per instance-hour x its
  duration; SageMaker bills training and processing per second with no minimum, so the
  duration is rounded up to a whole second and nothing more;
- the duration is the local step's wall-clock time (first start to end, retry waits
  included): an estimate of SageMaker's billable time, not a quote;
- a cache hit runs no job and costs 0; its saving is what the run it reused cost;
- a step whose instance type has no price is "unpriced": shown, never guessed, and the
  total says it is incomplete.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from pipelines.local.records import DID_NOT_RUN

JOB_TYPES = ("Processing", "Training")
CURRENCY = "USD"
BILLING_NOTE = (
    "per second, no minimum (local wall-clock duration rounded up to a second); cache hits cost 0"
)


def instance_config(step_type: str, arguments: Mapping[str, Any] | None) -> tuple[str, int]:
    """(instance type, instance count) of a job step's resolved arguments."""
    arguments = arguments or {}
    if step_type == "Processing":
        resources = (arguments.get("ProcessingResources") or {}).get("ClusterConfig") or {}
    elif step_type == "Training":
        resources = arguments.get("ResourceConfig") or {}
    else:
        raise ValueError(f"{step_type} steps run no SageMaker job")
    instance_type = resources.get("InstanceType")
    count = resources.get("InstanceCount")
    if not isinstance(instance_type, str) or not isinstance(count, int) or count < 1:
        raise ValueError(f"no instance type and count in the {step_type} step's arguments")
    return instance_type, count


def billed_seconds(seconds: float) -> int:
    return max(0, math.ceil(seconds - 1e-9))


def job_cost(price_per_hour: float, instance_count: int, seconds: float) -> float:
    return price_per_hour * instance_count * billed_seconds(seconds) / 3600.0


def missing_price_message(instance_type: str) -> str:
    return (
        f'no price for {instance_type}: add "{instance_type}" = <USD per instance-hour> to '
        "[pricing] in pipeline.toml"
    )


def step_cost(step: Mapping[str, Any], prices: Mapping[str, float]) -> dict[str, Any] | None:
    """One step's line of the report; None for steps that run no job.

    `step` has: name, type, status, duration (seconds or None), cache_hit, arguments and,
    for a cache hit, source_duration (the reused run's duration, or None if unknown).
    """
    if step["type"] not in JOB_TYPES or step.get("status") in (None, *DID_NOT_RUN):
        return None
    line: dict[str, Any] = {
        "step": step["name"],
        "type": step["type"],
        "status": step.get("status"),
        "cache_hit": bool(step.get("cache_hit")),
        "instance_type": None,
        "instance_count": None,
        "seconds": None,
        "billed_seconds": None,
        "price_per_hour": None,
        "cost": None,
        "savings": None,
        "priced": False,
        "note": "",
    }
    try:
        instance_type, count = instance_config(step["type"], step.get("arguments"))
    except ValueError as exc:
        line["note"] = str(exc)
        return line
    line.update(instance_type=instance_type, instance_count=count)
    price = prices.get(instance_type)
    line["price_per_hour"] = price
    if line["cache_hit"]:
        # No job ran: nothing billed. The saving is the reused run's cost.
        line.update(cost=0.0, seconds=0.0, billed_seconds=0, priced=True)
        source = step.get("source_duration")
        if source is None:
            line["note"] = "cache hit; the reused run's duration is unknown"
        elif price is None:
            line["note"] = "cache hit; " + missing_price_message(instance_type)
        else:
            line["savings"] = job_cost(price, count, source)
            line["note"] = f"cache hit: saved a {billed_seconds(source)} s run"
        return line
    seconds = step.get("duration")
    if seconds is None:
        line["note"] = "still running or no end time recorded"
        return line
    line.update(seconds=seconds, billed_seconds=billed_seconds(seconds))
    if price is None:
        line["note"] = missing_price_message(instance_type)
        return line
    line.update(cost=job_cost(price, count, seconds), priced=True)
    return line


def cost_report(steps: Iterable[Mapping[str, Any]], prices: Mapping[str, float]) -> dict[str, Any]:
    lines = [line for step in steps if (line := step_cost(step, prices)) is not None]
    unpriced = [line for line in lines if not line["priced"]]
    missing = sorted(
        {line["instance_type"] for line in lines if line["instance_type"] not in prices} - {None}
    )
    return {
        "currency": CURRENCY,
        "billing": BILLING_NOTE,
        "steps": lines,
        "total": sum(line["cost"] or 0.0 for line in lines),
        "savings": sum(line["savings"] or 0.0 for line in lines),
        "complete": not unpriced,
        "unpriced_steps": [line["step"] for line in unpriced],
        "missing_prices": missing,
    }


def format_usd(value: float | None) -> str:
    if value is None:
        return "unpriced"
    # Sub-cent amounts are the norm for short local jobs: show them, not "$0.00".
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def report_lines(report: Mapping[str, Any]) -> list[str]:
    """The report as a plain-text table (the `cost` command)."""
    headers = ("Step", "Type", "Instance", "Count", "Billed", "$/hour", "Cost", "Saved", "Note")
    rows = []
    for line in report["steps"]:
        rows.append(
            (
                line["step"],
                line["type"],
                line["instance_type"] or "-",
                str(line["instance_count"] or "-"),
                "-" if line["billed_seconds"] is None else f"{line['billed_seconds']} s",
                "-" if line["price_per_hour"] is None else f"{line['price_per_hour']:g}",
                format_usd(line["cost"]) if line["priced"] else "unpriced",
                format_usd(line["savings"]) if line["savings"] is not None else "-",
                line["note"],
            )
        )
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    total = format_usd(report["total"])
    if not report["complete"]:
        total += f" + unpriced steps ({', '.join(report['unpriced_steps'])})"
    out.append("")
    out.append(f"Total      {total}")
    out.append(f"Saved      {format_usd(report['savings'])} by cache hits")
    out.append(f"Billing    {report['billing']}")
    for instance_type in report["missing_prices"]:
        out.append(f"Missing    {missing_price_message(instance_type)}")
    return out


# --- Orchestration: what one execution costs to orchestrate, on each orchestrator ----------
#
# - SageMaker Pipelines: steps are free, only the jobs are billed (the report above).
# - Step Functions Standard: per state transition, counted by walking the generated machine
#   along this execution's path (pipelines/orchestrators/paths.py); retries add transitions.
#   The 4,000 free transitions a month are not deducted.
# - Step Functions Express (the machine around the pipeline; the translated one needs .sync,
#   which Express lacks): per request plus duration x memory (64 MB chunks, 100 ms steps).
#   Express runs at most 5 minutes: a longer pipeline cannot be waited for by it.
# - Amazon MWAA: environment hours; the environment runs whether DAGs do or not, so the
#   marginal cost (the run's hours) and the cost of a day of environment per nightly run.

ORCHESTRATION_PRICES = (
    "stepfunctions_standard_per_transition",
    "stepfunctions_express_per_request",
    "stepfunctions_express_per_gb_second",
)
EXPRESS_MAX_SECONDS = 300
EXPRESS_MEMORY_GB = 64 / 1024


def orchestration_prices(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """`[pricing.orchestration]`, validated: the three Step Functions prices and
    `mwaa_per_environment_hour` (environment class -> USD per hour). Missing: unpriced."""
    raw = raw or {}
    if not isinstance(raw, Mapping):
        raise ValueError("[pricing.orchestration] must be a table")
    unknown = sorted(set(raw) - {*ORCHESTRATION_PRICES, "mwaa_per_environment_hour"})
    if unknown:
        raise ValueError(f"unknown key(s) in [pricing.orchestration]: {', '.join(unknown)}")
    prices: dict[str, Any] = {}

    def price(where: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e9:
            raise ValueError(f"[pricing.orchestration].{where} must be a non-negative number")
        return float(value)

    for key in ORCHESTRATION_PRICES:
        if key in raw:
            prices[key] = price(key, raw[key])
    hours = raw.get("mwaa_per_environment_hour", {})
    if not isinstance(hours, Mapping):
        raise ValueError("[pricing.orchestration].mwaa_per_environment_hour must be a table")
    prices["mwaa_per_environment_hour"] = {
        name: price(f'mwaa_per_environment_hour."{name}"', value)
        for name, value in _dotted(hours).items()
    }
    return prices


def _dotted(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A bare TOML key with dots (mw1.small = 0.49) is a nested table: its dotted name back."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            flat.update(_dotted(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def orchestration_report(
    *,
    seconds: float,
    jobs_total: float,
    transitions: Mapping[str, int],
    prices: Mapping[str, Any],
    mwaa_class: str,
) -> list[dict[str, Any]]:
    """One line per orchestrator: orchestration cost, jobs cost and what it counts."""
    standard = prices.get("stepfunctions_standard_per_transition")
    per_request = prices.get("stepfunctions_express_per_request")
    per_gb_second = prices.get("stepfunctions_express_per_gb_second")
    hourly = prices.get("mwaa_per_environment_hour", {}).get(mwaa_class)
    lines = [
        {
            "orchestrator": "SageMaker Pipelines",
            "orchestration": 0.0,
            "jobs": jobs_total,
            "basis": "steps are free; the jobs are billed",
            "possible": True,
        }
    ]
    for form, label in (("pipeline", "around the pipeline"), ("definition", "running the jobs")):
        count = transitions[form]
        lines.append(
            {
                "orchestrator": f"Step Functions Standard ({label})",
                "orchestration": None if standard is None else count * standard,
                "jobs": jobs_total,
                "basis": f"{count} state transitions",
                "possible": True,
            }
        )
    billed = math.ceil(seconds * 10) / 10
    express = (
        None
        if per_request is None or per_gb_second is None
        else per_request + billed * EXPRESS_MEMORY_GB * per_gb_second
    )
    lines.append(
        {
            "orchestrator": "Step Functions Express (around the pipeline)",
            "orchestration": express,
            "jobs": jobs_total,
            "basis": f"1 request, {billed:g} s x 64 MB",
            "possible": seconds <= EXPRESS_MAX_SECONDS,
            "why_not": f"an Express execution lasts at most {EXPRESS_MAX_SECONDS} s",
        }
    )
    lines.append(
        {
            "orchestrator": f"Amazon MWAA ({mwaa_class})",
            "orchestration": None if hourly is None else hourly * seconds / 3600,
            "jobs": jobs_total,
            "basis": f"{seconds / 3600:.3f} environment-hours during the run",
            "per_day": None if hourly is None else hourly * 24,
            "possible": True,
        }
    )
    return lines


def orchestration_lines(lines: Iterable[Mapping[str, Any]]) -> list[str]:
    """The comparison as plain text (the `cost` command)."""
    out = ["", "Orchestrating this execution (jobs billed the same on each):"]
    for line in lines:
        cost = (
            format_usd(line["orchestration"]) if line["orchestration"] is not None else ("unpriced")
        )
        text = f"  {line['orchestrator']:<46} {cost:>10}  {line['basis']}"
        if line.get("per_day") is not None:
            text += f"; {format_usd(line['per_day'])} per day of environment (always on)"
        if not line["possible"]:
            text += f"; cannot run it: {line['why_not']}"
        out.append(text)
    return out
