"""The drift loop end to end in the local engine, on small generated data (one shared
project: a champion, then the runs the issue asks for).

- the registered model carries the baseline of its training split (DriftCheckBaselines);
- a run on new data from the sample's distribution reports no drift and skips training,
  and says so in the summary, `executions describe`, the view and the Succeeded event;
- ForceRetrain=true trains anyway;
- the served champion receives shifted requests (several features moved, one new category):
  `monitor` reports those features, records their metrics, the alarm goes off and the local
  rule starts a retraining run on the captured window, which reports the same features and
  trains.
"""

from __future__ import annotations

import copy
import http.client
import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from waiting import FAILSAFE_SECONDS

from pipelines.app.commands import describe_execution
from pipelines.app.progress import summarize
from pipelines.app.runner import LocalPaths, execute, open_engine
from pipelines.config import ProjectConfig
from pipelines.drift.monitor import MonitorResult, run_monitor
from pipelines.drift.serving import start_capture
from pipelines.local.events import EXECUTION_STATUS_CHANGE, read_events
from pipelines.local.orchestrator import ExecutionResult
from pipelines.local.records import ExecutionRecord
from pipelines.sample_data import generate_transactions
from pipelines.serve.model import load
from pipelines.serve.server import InferenceServer
from pipelines.view.model import collect_execution
from pipelines.view.monitoring import collect_monitoring
from pipelines.view.render import render_monitoring, render_page

pytestmark = pytest.mark.slow

MOVED = {"amount", "distance_from_home_km", "merchant_category"}
NEW_CATEGORY = "crypto_exchange"
ENDPOINT = "fraud-detection-retraining-endpoint"
ROWS = 3000


def shifted(rows: int, seed: int) -> pd.DataFrame:
    """The sample's generator with amounts 1.8x, distances 3x and 8% of the merchants in a
    category the champion never saw."""
    frame = generate_transactions(rows, seed=seed)
    frame["amount"] *= 1.8
    frame["distance_from_home_km"] *= 3
    rng = np.random.default_rng(seed)
    frame.loc[rng.random(rows) < 0.08, "merchant_category"] = NEW_CATEGORY
    return frame


@dataclass
class Loop:
    config: ProjectConfig
    champion: ExecutionResult
    steady: ExecutionResult
    forced: ExecutionResult
    monitored: MonitorResult
    retrain: ExecutionRecord


def send(server: InferenceServer, rows: list[str]) -> None:
    host, port = server.server_address[:2]
    for first in range(0, len(rows), 500):
        connection = http.client.HTTPConnection(host, port, timeout=FAILSAFE_SECONDS)
        body = "\n".join(rows[first : first + 500]).encode()
        connection.request("POST", "/invocations", body=body, headers={"Content-Type": "text/csv"})
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        connection.close()


@pytest.fixture(scope="module")
def loop(shared_project, small_sample: Path, tmp_path_factory) -> Loop:
    config = shared_project("drift-loop")
    data = tmp_path_factory.mktemp("drift-data")
    champion = execute(config, {"InputDataUrl": str(small_sample)})
    assert champion.succeeded, champion.failure_detail
    engine = open_engine(config)
    engine.registry.update_approval(1, "Approved", config.pipeline.model_package_group)

    steady_data = data / "steady.csv"
    generate_transactions(ROWS, seed=12).to_csv(steady_data, index=False)
    steady = execute(config, {"InputDataUrl": str(steady_data)})
    forced = execute(config, {"InputDataUrl": str(small_sample), "ForceRetrain": "true"})

    # The champion served with capture on, as `serve` runs it, answering shifted requests
    # that carry the label (the training data's column order, which the handler accepts).
    model = load(config)
    writer, _ = start_capture(config, ENDPOINT, model, flush_seconds=FAILSAFE_SECONDS)
    server = InferenceServer(
        ("127.0.0.1", 0), model, max_payload_bytes=6 * 2**20, threads=2, capture=writer
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    constraints_uri = champion.steps["Baseline"].properties["ProcessingOutputConfig"]["Outputs"][0][
        "S3Output"
    ]["S3Uri"]
    columns = json.loads(engine.store.read_bytes(constraints_uri + "/constraints.json"))[
        "drift_check"
    ]["columns"]
    try:
        send(server, shifted(ROWS, seed=21)[columns].to_csv(header=False, index=False).splitlines())
    finally:
        server.shutdown()
        server.server_close()
        thread.join(FAILSAFE_SECONDS)
        writer.close()  # flushes the captured requests into the store

    end = datetime.fromtimestamp(time.time() + 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    monitored = run_monitor(config, end_time=end, window_hours=1, out=lambda line: None)
    latest = open_engine(config).state.list_executions(1)[0]
    return Loop(config, champion, steady, forced, monitored, latest)


def report_of(result: ExecutionResult, config: ProjectConfig) -> dict:
    output = result.steps["DriftCheck"].properties["ProcessingOutputConfig"]["Outputs"][0]
    uri = output["S3Output"]["S3Uri"] + "/drift_report.json"
    return json.loads(open_engine(config).store.read_bytes(uri))


def test_the_registered_model_carries_the_baseline_of_its_training_split(loop: Loop) -> None:
    package = open_engine(loop.config).registry.describe(1, "fraud-detection-models")
    quality = package["DriftCheckBaselines"]["ModelDataQuality"]
    baseline = loop.champion.steps["Baseline"].properties["ProcessingOutputConfig"]["Outputs"][0]
    folder = baseline["S3Output"]["S3Uri"]
    assert quality["Statistics"] == {
        "ContentType": "application/json",
        "S3Uri": f"{folder}/statistics.json",
    }
    assert quality["Constraints"]["S3Uri"] == f"{folder}/constraints.json"
    statistics = json.loads(open_engine(loop.config).store.read_bytes(f"{folder}/statistics.json"))
    splits = loop.champion.steps["Preprocess"].properties["ProcessingOutputConfig"]["Outputs"]
    train = next(o for o in splits if o["OutputName"] == "train")["S3Output"]["S3Uri"]
    train_rows = len(
        pd.read_parquet(open_engine(loop.config).store.path_for(f"{train}/train.parquet"))
    )
    assert statistics["dataset"]["item_count"] == train_rows
    # Without a champion there was nothing to compare with: the run trained.
    assert report_of(loop.champion, loop.config)["verdict"] == "no_baseline"


def test_data_from_the_samples_distribution_reports_no_drift_and_skips_training(loop: Loop):
    steady, config = loop.steady, loop.config
    assert steady.succeeded
    assert steady.steps["CheckDrift"].properties["Outcome"] == "False"
    for name in ("Train", "Evaluate", "Baseline", "RegisterModel"):
        assert steady.steps[name].status == "NotExecuted", name
    report = report_of(steady, config)
    assert (report["verdict"], report["drifted_features"]) == ("no_drift", [])
    assert {f["status"] for f in report["features"]} <= {"stable", "moderate"}
    # The reason, wherever a user looks.
    engine = open_engine(config)
    headline = (
        "No drift: training skipped, nothing registered (no drift from champion version 1's "
        "baseline: no feature drifted and the columns are unchanged)"
    )
    summary = summarize(steady, engine.store)
    assert any(line.startswith(f"Drift (DriftCheck): {headline}") for line in summary.details)
    described = describe_execution(config, steady.execution_id)["drift"]
    assert (described["verdict"], described["retrain"], described["trained"]) == (
        "no_drift",
        False,
        False,
    )
    document = collect_execution(config, steady.execution_id)
    assert document["outcome"]["state"] == "no_drift"
    page = render_page(document)
    assert 'data-verdict="no_drift"' in page and 'id="drift-chart-amount"' in page
    events, _ = read_events(LocalPaths(config.local_home).events)
    [finished] = [
        e["detail"]
        for e in events
        if e["detail-type"] == EXECUTION_STATUS_CHANGE
        and e["detail"]["pipelineExecutionArn"] == steady.execution_arn
        and e["detail"]["currentPipelineExecutionStatus"] == "Succeeded"
    ]
    assert finished["outcomeDetail"].startswith(headline)
    assert [p["ModelPackageVersion"] for p in engine.registry.list()] == [1]


def test_force_retrain_trains_although_nothing_drifted(loop: Loop) -> None:
    forced = loop.forced
    assert forced.succeeded
    assert report_of(forced, loop.config)["verdict"] == "no_drift"
    assert forced.steps["CheckDrift"].properties["Outcome"] == "True"
    # The champion's own data and code: Train is its cache hit, and nothing is registered.
    assert forced.steps["Train"].cache_source_id == loop.champion.execution_id
    assert forced.steps["RegisterModel"].status == "NotExecuted"
    described = describe_execution(loop.config, forced.execution_id)["drift"]
    assert described["retrain"] and described["why"].endswith("ForceRetrain=true retrained anyway")


def test_shifted_requests_to_the_served_model_start_a_retrain_through_the_monitor(loop: Loop):
    monitored, config = loop.monitored, loop.config
    assert monitored.succeeded, monitored.failure_reason
    report = monitored.report
    assert report["data"]["rows"] == ROWS and report["data"]["source"] == "capture"
    assert set(report["drifted_features"]) == MOVED
    merchant = next(f for f in report["features"] if f["name"] == "merchant_category")
    assert merchant["new_categories"][0]["value"] == NEW_CATEGORY
    # The metrics as CloudWatch would hold them, in the event log.
    events, _ = read_events(LocalPaths(config.local_home).events)
    [metrics] = [e for e in events if e["detail-type"] == "CloudWatch Metric Data"]
    assert metrics["source"] == "local.cloudwatch"
    values = {
        (d["MetricName"], d["Dimensions"][-1]["Value"]): d["Value"]
        for d in metrics["detail"]["MetricData"]
    }
    assert values[("DriftedFeatures", ENDPOINT)] == 3.0
    for name in MOVED:
        assert values[("PSI", name)] >= 0.2
    # The alarm went off, with CloudWatch's event, and the local rule started the run.
    [alarm] = [e for e in events if e["detail-type"] == "CloudWatch Alarm State Change"]
    assert alarm["detail"]["state"]["value"] == "ALARM"
    assert alarm["detail"]["previousState"]["value"] == "INSUFFICIENT_DATA"
    assert monitored.alarm["changed"] and monitored.alarm["value"] == 3.0
    [started] = monitored.retrains
    assert started.rule == "fraud-detection-retraining-drift-retrain"
    windows = (
        f"s3://local-pipeline-bucket/fraud-detection-retraining/monitoring/{ENDPOINT}/windows/"
    )
    assert started.parameters == {"InputDataUrl": windows, "InputPartitionWindow": "1"}
    # `view --monitoring`: the alarm, the job, its metrics per feature, the report's charts.
    document = collect_monitoring(config)
    assert document["alarm"]["state"] == "ALARM"
    assert document["runs"][0]["job_name"] == monitored.job_name
    assert document["metric_jobs"] == [monitored.job_name]
    assert {feature for feature, _ in document["metrics"][:3]} == MOVED
    page = render_monitoring(document)
    assert 'data-state="ALARM"' in page and 'id="drift-chart-merchant_category"' in page
    # 3,000 rows: every PSI was judged; one that was not (psi_min_rows) is marked as such.
    assert 'data-psi-judged="false"' not in page
    unjudged = copy.deepcopy(document)
    unjudged["latest"]["features"][0]["psi_level"] = None
    assert render_monitoring(unjudged).count('data-psi-judged="false"') == 1
    retrain = loop.retrain
    assert retrain.parameters["InputDataUrl"] == windows
    assert retrain.execution_id not in {
        loop.champion.execution_id,
        loop.steady.execution_id,
        loop.forced.execution_id,
    }


def test_the_run_on_shifted_data_reports_those_features_and_retrains(loop: Loop) -> None:
    config = loop.config
    described = describe_execution(config, loop.retrain.execution_id)
    steps = {s["step_name"]: s for s in described["steps"]}
    drift = described["drift"]
    report = drift["report"]
    assert report["verdict"] == "drift"
    assert set(report["drifted_features"]) == MOVED
    merchant = next(f for f in report["features"] if f["name"] == "merchant_category")
    assert [c["value"] for c in merchant["new_categories"]] == [NEW_CATEGORY]
    assert drift["headline"].startswith(
        "Retrained: the training split drifted from champion version 1's baseline"
    )
    for name in ("Train", "Evaluate", "Baseline"):
        assert steps[name]["status"] == "Succeeded", name
        assert steps[name]["cache_source_arn"] is None, name
    # The window's rows were its input: the snapshot names the exported window file.
    snapshot = described["snapshot"]
    assert snapshot["object_count"] == 1
    assert snapshot["objects"][0]["key"].endswith(".csv") and "/windows/" in snapshot["source"]
