"""The local monitor's pieces on their own: its arguments, the alarm it evaluates (states,
thresholds, CloudWatch's event), the local rule that turns the alarm into a run, and what it
refuses before running a job."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from toml_writer import dump_toml

from pipelines.config import PROJECT_ROOT, load_config
from pipelines.drift import monitor
from pipelines.drift.monitoring import alarm_arn, retrain_rule, retrain_rules
from pipelines.errors import UsageError
from pipelines.eventbridge.matcher import matches
from pipelines.local.events import LOCAL_ACCOUNT, EventLog
from pipelines.triggers import rules

sys.path.insert(0, str(Path(__file__).resolve().parent / "triggers"))
from trigger_samples import load_sample, localize

ENDPOINT = [{"Name": "Endpoint", "Value": "fraud-detection-retraining-endpoint"}]


def config_in(tmp_path: Path, **drift):
    import tomllib

    raw = tomllib.loads((PROJECT_ROOT / "pipeline.toml").read_text())
    tmp_path.mkdir(parents=True, exist_ok=True)
    raw["local"]["home"] = str(tmp_path / "home")
    raw["drift"].update(drift)
    path = tmp_path / "pipeline.toml"
    path.write_text(dump_toml(raw))
    return load_config(path, environ={})


def metrics(drifted: float | None) -> dict:
    data = [{"MetricName": "Rows", "Dimensions": ENDPOINT, "Value": 10.0}]
    if drifted is not None:
        data.append({"MetricName": "DriftedFeatures", "Dimensions": ENDPOINT, "Value": drifted})
    return {"Namespace": "fraud-detection-retraining/DataDrift", "MetricData": data}


@pytest.mark.parametrize(
    ("text", "hours"), [("90m", 1.5), ("2h", 2.0), ("1d", 24.0), ("3", 3.0), ("0.5", 0.5)]
)
def test_windows(text, hours):
    assert monitor.parse_window(text) == hours


@pytest.mark.parametrize("text", ["0h", "fortnight", "40d", "-1"])
def test_bad_windows_are_usage_errors(text):
    with pytest.raises(UsageError, match="--window"):
        monitor.parse_window(text)


def test_the_window_end_is_utc_in_whole_seconds_rounded_up():
    assert monitor.parse_end(None, now=lambda: 100.2) == "1970-01-01T00:01:41Z"
    assert monitor.parse_end("2026-01-01T10:00:00+02:00") == "2026-01-01T08:00:00Z"
    assert monitor.parse_end("2026-01-01T10:00:00") == "2026-01-01T10:00:00Z"
    with pytest.raises(UsageError, match="not an ISO 8601 time"):
        monitor.parse_end("noon")


def test_the_alarm_changes_state_as_cloudwatch_does_and_says_so(tmp_path):
    config = config_in(tmp_path)
    log = EventLog(tmp_path / "events.jsonl", "us-east-1")
    state = monitor._evaluate_alarm(config, metrics(3.0), 1_700_000_000, log)
    assert (state["previous"], state["state"], state["changed"]) == (
        "INSUFFICIENT_DATA",
        "ALARM",
        True,
    )
    [event] = [json.loads(line) for line in log.path.read_text().splitlines()]
    # CloudWatch's "CloudWatch Alarm State Change" (the documented sample's shape).
    sample = load_sample("alarm_state_change")
    assert set(event) == set(sample)
    assert set(event["detail"]) == set(sample["detail"])
    assert event["resources"] == [alarm_arn(config, "000000000000")]
    assert event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"] == {
        "namespace": "fraud-detection-retraining/DataDrift",
        "name": "DriftedFeatures",
        "dimensions": {"Endpoint": "fraud-detection-retraining-endpoint"},
    }
    assert json.loads(event["detail"]["state"]["reasonData"])["recentDatapoints"] == [3.0]
    assert matches(retrain_rule(config, "000000000000").pattern, event)

    # Still drifting: no new event (CloudWatch sends state changes only).
    assert not monitor._evaluate_alarm(config, metrics(2.0), 1_700_003_600, log)["changed"]
    # A window without requests publishes no DriftedFeatures: not breaching, back to OK.
    calm = monitor._evaluate_alarm(config, metrics(None), 1_700_007_200, log)
    assert (calm["state"], calm["changed"]) == ("OK", True)
    assert len(log.path.read_text().splitlines()) == 2


def test_the_alarm_threshold_is_configuration(tmp_path):
    config = config_in(tmp_path, alarm_drifted_features=3)
    log = EventLog(tmp_path / "events.jsonl", "us-east-1")
    assert monitor._evaluate_alarm(config, metrics(2.0), 1.0, log)["state"] == "OK"
    assert monitor._evaluate_alarm(config, metrics(3.0), 2.0, log)["state"] == "ALARM"


def test_the_local_rule_starts_one_run_per_alarm_event(tmp_path):
    config = config_in(tmp_path)
    log = EventLog(config.local_home / "events.jsonl", "us-east-1")
    alarm = localize(load_sample("alarm_state_change"))
    calm = json.loads(json.dumps(alarm))
    calm["detail"]["state"]["value"] = "OK"
    for event in (calm, alarm):
        log.append(event)
    started = []

    def start(config, parameters):
        started.append(dict(parameters))
        return 0

    [run] = rules.dispatch_pending(
        config, retrain_rules(config, LOCAL_ACCOUNT), start, out=lambda line: None
    )
    windows = (
        "s3://local-pipeline-bucket/fraud-detection-retraining/monitoring/"
        "fraud-detection-retraining-endpoint/windows/"
    )
    assert started == [{"InputDataUrl": windows, "InputPartitionWindow": "1"}]
    assert (run.rule, run.event_id, run.exit_code) == (
        "fraud-detection-retraining-drift-retrain",
        alarm["id"],
        0,
    )
    # Each event once, whoever calls next.
    assert (
        rules.dispatch_pending(
            config, retrain_rules(config, LOCAL_ACCOUNT), start, out=lambda line: None
        )
        == []
    )
    log.append({**alarm, "id": "another"})
    assert (
        len(
            rules.dispatch_pending(
                config, retrain_rules(config, LOCAL_ACCOUNT), start, out=lambda line: None
            )
        )
        == 1
    )


def test_retrain_on_alarm_off_starts_nothing(tmp_path):
    config = config_in(tmp_path, retrain_on_alarm=False)
    EventLog(config.local_home / "events.jsonl", "us-east-1").append(
        localize(load_sample("alarm_state_change"))
    )
    assert (
        rules.dispatch_pending(
            config, retrain_rules(config, LOCAL_ACCOUNT), lambda *a: 0, out=lambda line: None
        )
        == []
    )


def test_the_retrain_input_can_be_the_triggers_input(tmp_path):
    from pipelines.drift.monitoring import retrain_parameters

    config = config_in(tmp_path, retrain_input="input")
    assert retrain_parameters(config, config.target("local")) == {
        "InputDataUrl": "s3://local-pipeline-bucket/fraud-detection-retraining/incoming/",
        "InputPartitionWindow": "0",
    }


def test_monitor_needs_a_served_model_and_captured_requests(tmp_path):
    config = config_in(tmp_path)
    with pytest.raises(UsageError, match="no model has been served yet"):
        monitor.run_monitor(config, end_time="2026-01-01T00:00:00Z")
    off = config_in(tmp_path / "off", monitoring_enabled=False)
    with pytest.raises(UsageError, match="monitoring_enabled is false"):
        monitor.run_monitor(off, end_time="2026-01-01T00:00:00Z")


def test_a_feature_line_says_when_its_psi_was_not_judged():
    """Three captured rows give a PSI near 10 that means nothing: the line says it was not
    judged (psi_min_rows) instead of printing it next to "stable" as if it were evidence."""
    from pipelines.app.drift_report import feature_line

    judged = {
        "name": "amount",
        "status": "stable",
        "psi": 0.05,
        "psi_level": "stable",
        "test": "kolmogorov_smirnov",
        "p_value_adjusted": 0.8,
    }
    assert feature_line(judged) == "amount: stable, PSI 0.0500, kolmogorov_smirnov adjusted p 0.8"
    assert feature_line({**judged, "psi": 9.97, "psi_level": None}) == (
        "amount: stable, PSI 9.9700 (not judged: too few rows), kolmogorov_smirnov adjusted p 0.8"
    )
    # A report written before psi_level was listed claims nothing either way.
    older = {key: value for key, value in judged.items() if key != "psi_level"}
    assert feature_line(older) == feature_line(judged)
