"""`run_pipeline.py monitor`: the endpoint's monitoring job, run locally as the schedule runs
it on AWS, then what CloudWatch and EventBridge do with its output.

1. The job: the CreateProcessingJob request the stack's schedule sends (monitoring.py), with
   the window's end and a job name filled in, checked against botocore's shape and run by the
   local engine's executor (processing/data_quality.py check over the captured requests of
   the window, against the served model's baseline that `serve` published).
2. Its metrics: the PutMetricData request the job wrote (on AWS it sends it itself) becomes a
   CloudWatch-shaped event in the local event log ("CloudWatch Metric Data", source
   local.cloudwatch: no AWS rule matches it).
3. The alarm: the stack's alarm (monitoring.alarm) evaluated on the new datapoint; a change of
   state appends the "CloudWatch Alarm State Change" event CloudWatch sends to EventBridge.
4. The retraining: the local rules (pipelines/triggers/rules.py) match that event with the
   stack's retraining rule and start the pipeline on the captured windows.
"""

from __future__ import annotations

import json
import math
import secrets
import string
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.app import local_run
from pipelines.app.drift_report import feature_line
from pipelines.app.runner import open_engine
from pipelines.code_assets import code_uri, project_code
from pipelines.config import ProjectConfig
from pipelines.conformance import shapes
from pipelines.definition_cache import load_definition
from pipelines.drift import monitoring
from pipelines.errors import UsageError
from pipelines.local import executor
from pipelines.local.events import LOCAL_ACCOUNT, iso_time
from pipelines.settings.drift import endpoint_capture_uri, load_drift, monitoring_uri
from pipelines.triggers.rules import dispatch_pending

METRIC_DATA = "CloudWatch Metric Data"
LOCAL_CLOUDWATCH = "local.cloudwatch"
RUNS_FILE = "runs.jsonl"
ALARMS_FILE = "alarms.json"


@dataclass
class MonitorResult:
    job_name: str
    window: dict[str, str]
    succeeded: bool
    failure_reason: str | None = None
    report: dict[str, Any] | None = None
    report_uri: str | None = None
    metrics: dict[str, Any] | None = None
    alarm: dict[str, Any] = field(default_factory=dict)
    retrains: list[Any] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """One line of `<home>/monitoring/runs.jsonl` (the view's monitoring page reads it)."""
        report = self.report or {}
        return {
            "job_name": self.job_name,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "window": self.window,
            "succeeded": self.succeeded,
            "failure_reason": self.failure_reason,
            "verdict": report.get("verdict"),
            "drifted_features": report.get("drifted_features") or [],
            "rows": (report.get("data") or {}).get("rows"),
            "report_uri": self.report_uri,
            "alarm": self.alarm,
            "retrains": [
                {"rule": r.rule, "parameters": r.parameters, "exit_code": r.exit_code}
                for r in self.retrains
            ],
        }


def monitoring_home(config: ProjectConfig) -> Path:
    return config.local_home / "monitoring"


def parse_window(text: str) -> float:
    """ "90m", "2h", "1d" or plain hours -> hours."""
    units = {"m": 1 / 60, "h": 1.0, "d": 24.0}
    value = text.strip().lower()
    scale = units.get(value[-1:])
    number = value[:-1] if scale is not None else value
    try:
        hours = float(number) * (scale or 1.0)
    except ValueError:
        raise UsageError(f"--window {text!r}: expected hours, or a number with m, h or d") from None
    if not 0 < hours <= 24 * 31:
        raise UsageError(f"--window {text!r}: must be above 0 and at most 31 days")
    return hours


def parse_end(text: str | None, now: Callable[[], float] = time.time) -> str:
    """The window's end as the schedule's <aws.scheduler.scheduled-time> spells it."""
    if text is None:
        # Whole seconds, rounded up: a request answered in this very second is inside.
        return datetime.fromtimestamp(math.ceil(now()), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--end {text!r} is not an ISO 8601 time") from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def run_monitor(
    config: ProjectConfig,
    *,
    end_time: str,
    window_hours: float | None = None,
    retrain: bool = True,
    start_run: Callable[[ProjectConfig, Mapping[str, str]], int] | None = None,
    out: Callable[[str], None] = print,
) -> MonitorResult:
    drift = load_drift(config)
    if not drift.monitoring_enabled:
        raise UsageError("[drift].monitoring_enabled is false: there is no monitoring job")
    engine = open_engine(config)
    if engine.state.read_only:
        raise UsageError(f"the local home {config.local_home} is read-only; monitor writes there")
    target = config.target("local")
    endpoint = monitoring.endpoint_name(config)
    for uri, missing in (
        (
            monitoring_uri(config, target, endpoint, "baseline"),
            "no model has been served yet: `run_pipeline.py serve` publishes the served "
            "version's baseline there (a deployment does on AWS)",
        ),
        (
            endpoint_capture_uri(config, target, endpoint),
            "nothing was captured yet: `run_pipeline.py serve` captures the requests it answers",
        ),
    ):
        if not engine.store.list(uri):
            raise UsageError(f"{uri} is empty: {missing}")

    code = project_code(config).data_quality
    engine.store.put_bytes(code.data, code_uri(code, config, target))
    alphabet = string.ascii_lowercase + string.digits
    job_name = (
        f"{monitoring.job_prefix(config)}-{''.join(secrets.choice(alphabet) for _ in range(16))}"
    )
    request = monitoring.job_request(
        config,
        target,
        code=code,
        image_uri=_image_uri(config),
        role_arn=target.role_arn,
        job_name=job_name,
        end_time=end_time,
        publish_metrics=False,
        settings=drift,
        window_hours=window_hours,
    )
    violations = shapes.check("sagemaker", "CreateProcessingJob", request)
    if violations:
        raise UsageError(
            "SageMaker would refuse the monitoring job: " + shapes.service_error(violations)
        )
    arguments = request["AppSpecification"]["ContainerArguments"]
    hours = float(arguments[arguments.index("--window-hours") + 1])
    window = {"end": end_time, "hours": f"{hours:g}"}
    out(f"Monitoring job {job_name}: requests to {endpoint} in the {hours:g} h before {end_time}")

    jobs = executor.JobEnvironment(
        store=engine.store,
        jobs_root=monitoring_home(config) / "jobs",
        region=config.aws.region,
        account=LOCAL_ACCOUNT,
    )
    outcome = executor.run_processing_job(jobs, job_name, request, 1)
    result = MonitorResult(job_name, window, outcome.succeeded, outcome.failure_reason)
    result.logs = list(outcome.logs)
    if not outcome.succeeded:
        _save_run(config, result)
        return result

    reports = request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    result.report_uri = f"{reports}/drift_report.json"
    result.report = json.loads(engine.store.read_bytes(result.report_uri))
    result.metrics = json.loads(engine.store.read_bytes(f"{reports}/cloudwatch_metrics.json"))
    events = engine.events
    now = time.time()
    if result.metrics["MetricData"]:
        events.append(_metric_event(config, job_name, result.metrics, now))
    result.alarm = _evaluate_alarm(config, result.metrics, now, events)
    _save_run(config, result)
    for line in summary_lines(result):
        out(line)
    if retrain and result.alarm.get("changed") and result.alarm["state"] == "ALARM":
        rules = monitoring.retrain_rules(config, LOCAL_ACCOUNT)
        result.retrains = dispatch_pending(
            config, rules, start_run or local_run.run_local_execution, out=out
        )
        _save_run(config, result, replace=True)
    return result


def _image_uri(config: ProjectConfig) -> str:
    """The scikit-learn image the pipeline's jobs run (from the built definition, so the SDK
    is not imported when the build is cached)."""
    definition = json.loads(load_definition(config, "local")[0])
    for step in definition["Steps"]:
        image = ((step.get("Arguments") or {}).get("AppSpecification") or {}).get("ImageUri")
        if image:
            return image
    raise UsageError("the pipeline definition names no processing image")


def _metric_event(
    config: ProjectConfig, job_name: str, request: Mapping[str, Any], when: float
) -> dict[str, Any]:
    """The PutMetricData request as a local event (CloudWatch sends no event for data)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": METRIC_DATA,
        "source": LOCAL_CLOUDWATCH,
        "account": LOCAL_ACCOUNT,
        "time": iso_time(when),
        "region": config.aws.region,
        "resources": [],
        "detail": {"jobName": job_name, **request},
    }


def _evaluate_alarm(
    config: ProjectConfig, metrics: Mapping[str, Any], when: float, events: Any
) -> dict[str, Any]:
    """The alarm's state after this datapoint; its state-change event when it changed."""
    spec = monitoring.alarm(config)
    datapoints = [
        d["Value"]
        for d in metrics["MetricData"]
        if d["MetricName"] == spec["MetricName"] and d["Dimensions"] == spec["Dimensions"]
    ]
    # TreatMissingData notBreaching: a window without the metric counts as within the threshold.
    value = max(datapoints) if datapoints else None
    breaching = value is not None and value >= spec["Threshold"]
    state = "ALARM" if breaching else "OK"
    path = monitoring_home(config) / ALARMS_FILE
    try:
        alarms = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        alarms = {}
    previous = (alarms.get(spec["AlarmName"]) or {}).get("state", "INSUFFICIENT_DATA")
    shown = "no datapoint (treated as not breaching)" if value is None else f"{value:g}"
    reason = (
        f"Threshold Crossed: 1 datapoint [{shown}] was "
        f"{'greater than or equal to' if breaching else 'not greater than or equal to'} the "
        f"threshold ({spec['Threshold']:g})."
    )
    alarm = {
        "name": spec["AlarmName"],
        "state": state,
        "previous": previous,
        "changed": state != previous,
        "value": value,
        "threshold": spec["Threshold"],
        "reason": reason,
    }
    if alarm["changed"]:
        events.append(_alarm_event(config, spec, state, previous, reason, value, when))
        alarms[spec["AlarmName"]] = {"state": state, "time": iso_time(when), "reason": reason}
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(alarms, indent=2), encoding="utf-8")
        temporary.replace(path)
    return alarm


def _alarm_event(
    config: ProjectConfig,
    spec: Mapping[str, Any],
    state: str,
    previous: str,
    reason: str,
    value: float | None,
    when: float,
) -> dict[str, Any]:
    """CloudWatch's "CloudWatch Alarm State Change" event (CloudWatch user guide, "Alarm
    events and EventBridge"): the alarm's ARN in resources, its new and previous state, and
    the metric it watches."""
    stamp = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
    reason_data = {
        "version": "1.0",
        "queryDate": stamp,
        "statistic": spec["Statistic"],
        "period": spec["Period"],
        "recentDatapoints": [] if value is None else [value],
        "threshold": spec["Threshold"],
        "evaluatedDatapoints": []
        if value is None
        else [{"timestamp": stamp, "sampleCount": 1.0, "value": value}],
    }
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": monitoring.ALARM_STATE_CHANGE,
        "source": monitoring.CLOUDWATCH_SOURCE,
        "account": LOCAL_ACCOUNT,
        "time": iso_time(when),
        "region": config.aws.region,
        "resources": [monitoring.alarm_arn(config, LOCAL_ACCOUNT)],
        "detail": {
            "alarmName": spec["AlarmName"],
            "state": {
                "value": state,
                "reason": reason,
                "reasonData": json.dumps(reason_data),
                "timestamp": stamp,
            },
            "previousState": {"value": previous},
            "configuration": {
                "description": spec["AlarmDescription"],
                "metrics": [
                    {
                        "id": "drift",
                        "metricStat": {
                            "metric": {
                                "namespace": spec["Namespace"],
                                "name": spec["MetricName"],
                                "dimensions": {d["Name"]: d["Value"] for d in spec["Dimensions"]},
                            },
                            "period": spec["Period"],
                            "stat": spec["Statistic"],
                        },
                        "returnData": True,
                    }
                ],
            },
        },
    }


def _save_run(config: ProjectConfig, result: MonitorResult, replace: bool = False) -> None:
    path = monitoring_home(config) / RUNS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    record = json.dumps(result.record(), default=str)
    if replace and path.exists():
        lines = path.read_text(encoding="utf-8").splitlines()
        lines = [line for line in lines if json.loads(line).get("job_name") != result.job_name]
        path.write_text("\n".join([*lines, record]) + "\n", encoding="utf-8")
        return
    with path.open("a", encoding="utf-8") as handle:
        handle.write(record + "\n")


def load_runs(config: ProjectConfig, limit: int = 50) -> list[dict[str, Any]]:
    """The newest monitoring runs first."""
    path = monitoring_home(config) / RUNS_FILE
    if not path.exists():
        return []
    runs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return list(reversed(runs))[:limit]


def summary_lines(result: MonitorResult) -> list[str]:
    """What `monitor` prints: the job, the verdict and top features, the alarm, the runs."""
    if not result.succeeded:
        lines = [f"Monitoring job {result.job_name} failed: {result.failure_reason}"]
        return lines + [f"  log: {log}" for log in result.logs]
    report = result.report or {}
    data = report.get("data") or {}
    lines = [
        f"Verdict: {report.get('verdict')}: {'; '.join(report.get('reasons') or [])}",
        f"  {data.get('rows', 0)} captured rows checked; report: {result.report_uri}",
    ]
    lines += ["  " + feature_line(f) for f in (report.get("top_drifting_features") or [])[:5]]
    metrics = (result.metrics or {}).get("MetricData") or []
    if metrics:
        lines.append(
            f"Metrics: {len(metrics)} datapoint(s) in {result.metrics['Namespace']} "
            "(CloudWatch Metric Data event in the event log)"
        )
    alarm = result.alarm
    if alarm:
        change = (
            f"{alarm['previous']} -> {alarm['state']}" if alarm["changed"] else f"{alarm['state']}"
        )
        lines.append(f"Alarm {alarm['name']}: {change}. {alarm['reason']}")
    export = data.get("export") or {}
    if export.get("file"):
        label = (
            f"with the label in {export['labelled_rows']} row(s)"
            if export.get("label_column")
            else "no label: a run cannot train on it"
        )
        lines.append(f"Window exported: {export['rows']} row(s), {label} ({export['file']})")
    for run in result.retrains:
        outcome = "succeeded" if run.exit_code == 0 else f"ended with exit {run.exit_code}"
        lines.append(f"Retraining run ({run.rule}) on {run.parameters['InputDataUrl']}: {outcome}")
    return lines
