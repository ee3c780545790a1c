"""`serve`'s data capture: SageMaker's capture records and layout in the local store, the
served version's baseline published where the monitoring job reads it."""

from __future__ import annotations

import base64
import json
import threading

import data_quality
import pytest
from model_helpers import RECORD, ROW
from test_serve_http import invoke

from pipelines.app.runner import open_engine
from pipelines.drift.serving import start_capture
from pipelines.serve.capture import CaptureWriter, _payload
from pipelines.serve.model import load
from pipelines.serve.server import InferenceServer
from pipelines.settings.drift import monitoring_uri

ENDPOINT = "fraud-detection-retraining-endpoint"
CAPTURE = "s3://local-pipeline-bucket/fraud-detection-retraining/capture"


def captured(config) -> dict[str, list[dict]]:
    """Every capture file in the store: key below the capture prefix -> its records."""
    store = open_engine(config).store
    return {
        uri.removeprefix(CAPTURE + "/"): [
            json.loads(line) for line in store.read_bytes(uri).decode().splitlines()
        ]
        for uri in store.list(CAPTURE + "/")
        if uri.endswith(".jsonl")
    }


@pytest.fixture
def capturing(config, register):
    """`serve` on a free port with capture on, as the command starts it; yields the server."""
    register("Approved")
    model = load(config)
    # flush_seconds far beyond the test: files appear on flush() and close() only.
    writer, _ = start_capture(config, ENDPOINT, model, flush_seconds=3600)
    server = InferenceServer(
        ("127.0.0.1", 0), model, max_payload_bytes=64 * 1024, threads=2, capture=writer
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)
    writer.close()


def test_answered_requests_are_captured_in_sagemakers_format_and_layout(capturing, config):
    assert invoke(capturing, ROW, "text/csv")[0] == 200
    body = json.dumps({"instances": [RECORD, RECORD]})
    assert invoke(capturing, body, "application/json", "application/json")[0] == 200
    assert invoke(capturing, "1,2,3", "text/csv")[0] == 400  # the model never scored it
    assert capturing.capture.flush() == 2

    files = captured(config)
    [(key, records)] = files.items()
    # <endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl, as SageMaker writes them
    parts = key.split("/")
    assert parts[:2] == [ENDPOINT, "AllTraffic"] and len(parts) == 7
    assert [len(p) for p in parts[2:6]] == [4, 2, 2, 2] and parts[6].endswith(".jsonl")
    csv_request, json_request = records
    assert csv_request["eventVersion"] == "0"
    assert csv_request["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv",
        "mode": "INPUT",
        "data": ROW,
        "encoding": "CSV",
    }
    output = csv_request["captureData"]["endpointOutput"]
    assert (output["mode"], output["encoding"]) == ("OUTPUT", "JSON")  # the default answer
    assert json_request["captureData"]["endpointInput"]["encoding"] == "JSON"
    assert json.loads(json_request["captureData"]["endpointInput"]["data"]) == json.loads(body)
    metadata = csv_request["eventMetadata"]
    assert metadata["inferenceTime"].endswith("Z") and len(metadata["eventId"]) == 36
    assert key.split("/")[2:6] == metadata["inferenceTime"][:13].replace("T", "-").split("-")

    # The monitoring job reads them as it reads an endpoint's: three rows, nothing skipped.
    store = open_engine(config).store
    path = store.path_for(f"{CAPTURE}/{key}")
    layout = {
        "feature_columns": [f for f in RECORD],
        "label_column": "is_fraud",
        "columns": [*RECORD, "is_fraud"],
    }
    kinds = {name: "categorical" for name in RECORD}
    dataset = data_quality.read_captures([path], kinds, layout, (None, None))
    assert dataset.rows == 3 and not dataset.skipped


def test_the_served_versions_baseline_is_published_for_the_monitoring_job(config, register):
    engine = open_engine(config)
    baseline = "s3://local-pipeline-bucket/runs/1/Baseline/"
    for name in ("statistics.json", "constraints.json"):
        engine.store.put_bytes(json.dumps({"file": name}).encode(), baseline + name)
    # Versions registered by the pipeline carry DriftCheckBaselines; so does this one.
    drift_check_baselines = {
        "ModelDataQuality": {
            kind: {"ContentType": "application/json", "S3Uri": baseline + f"{kind.lower()}.json"}
            for kind in ("Statistics", "Constraints")
        }
    }
    register("Approved", extra={"DriftCheckBaselines": drift_check_baselines})
    writer, lines = start_capture(config, ENDPOINT, load(config), flush_seconds=3600)
    writer.close()
    target = monitoring_uri(config, config.target("local"), ENDPOINT, "baseline")
    assert lines[0] == f"baseline     {target} (for `run_pipeline.py monitor`)"
    assert json.loads(engine.store.read_bytes(target + "statistics.json")) == {
        "file": "statistics.json"
    }
    assert json.loads(engine.store.read_bytes(target + "model.json"))["ModelPackageVersion"] == 1
    assert not engine.store.exists(target + "NO_CHAMPION")


def test_a_version_without_a_baseline_leaves_the_marker(config, register):
    register("Approved")
    writer, lines = start_capture(config, ENDPOINT, load(config), flush_seconds=3600)
    writer.close()
    target = monitoring_uri(config, config.target("local"), ENDPOINT, "baseline")
    assert lines[0] == "baseline     none: version 1 carries no drift baseline"
    assert open_engine(config).store.exists(target + "NO_CHAMPION")


def test_capture_can_be_turned_off(make_config):
    config = make_config(drift={"capture_enabled": False, "monitoring_enabled": False})
    writer, lines = start_capture(config, ENDPOINT, object(), flush_seconds=3600)
    assert writer is None and lines == []


class Store:
    def __init__(self):
        self.objects: dict[str, bytes] = {}

    def put_bytes(self, data: bytes, uri: str) -> None:
        self.objects[uri] = data


def test_sampling_keeps_the_configured_share():
    draws = iter([0.05, 0.5, 0.24, 0.99])
    writer = CaptureWriter(
        Store(), "s3://b/c", "ep", "AllTraffic", sampling_percentage=25, draw=lambda: next(draws)
    )
    kept = [writer.record(b"1", "text/csv", b"0", "text/csv") for _ in range(4)]
    assert kept == [True, False, True, False]
    assert writer.flush() == 2


def test_bodies_that_are_not_text_are_base64():
    payload = _payload(b"\xff\x00", "text/csv", "INPUT")
    assert payload["encoding"] == "BASE64"
    assert base64.b64decode(payload["data"]) == b"\xff\x00"
    assert _payload(b"x=1", "application/x-www-form-urlencoded", "INPUT")["encoding"] == "BASE64"
