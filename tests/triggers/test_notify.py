"""Local notifications: the event log matched against the AWS rules, delivered once to
stdout, a JSON Lines file and a localhost webhook."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from trigger_samples import load_sample, localize, write_config

from pipelines.cli import main as cli_main
from pipelines.eventbridge.notify import deliver_pending, events_path

FAILED_RUN = ["step_succeeded", "step_failed", "execution_failed"]
REGISTERED_MODEL = ["execution_succeeded", "model_package_registered"]


class Webhook:
    """A localhost HTTP endpoint that records POSTed JSON; `healthy` toggles 503s."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.healthy = True
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.healthy:
                    outer.received.append(json.loads(body))
                    self.send_response(204)
                else:
                    self.send_response(503)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/pipeline"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


def append(config, *names: str) -> None:
    path = events_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        for name in names:
            handle.write(json.dumps(localize(load_sample(name))) + "\n")


@pytest.fixture
def sinks_config(make_config, tmp_path: Path, webhook):
    return make_config(
        notifications={"local_sinks": ["stdout", f"file:{tmp_path / 'notes.jsonl'}", webhook.url]}
    )


def file_rules(tmp_path: Path) -> list[str]:
    path = tmp_path / "notes.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["rule"] for line in path.read_text().splitlines()]


def test_a_failed_run_and_a_registered_model_reach_every_sink_once(
    sinks_config, tmp_path, webhook
) -> None:
    append(sinks_config, *FAILED_RUN, *REGISTERED_MODEL)
    stdout = io.StringIO()

    delivered = deliver_pending(sinks_config, stream=stdout)

    expected = [
        "fraud-detection-retraining-step-failed",
        "fraud-detection-retraining-execution-failed",
        "fraud-detection-retraining-model-package",
    ]
    assert delivered == 3 * 3
    assert file_rules(tmp_path) == expected
    assert [n["rule"] for n in webhook.received] == expected
    lines = stdout.getvalue().splitlines()
    assert [line.split("]")[0] for line in lines] == [f"notification [{r}" for r in expected]
    assert "Failure reason: ClientError: Please ensure the label column is_fraud" in lines[0]
    assert "version 2 is PendingManualApproval" in lines[2]
    # The webhook receives the rule, the AWS-identical message and the event itself.
    first = webhook.received[0]
    assert first["event"]["detail"]["stepName"] == "Train"
    assert first["message"] == lines[0].split("] ", 1)[1]

    assert deliver_pending(sinks_config, stream=stdout) == 0
    assert len(file_rules(tmp_path)) == 3 and len(webhook.received) == 3


def test_new_events_are_delivered_incrementally_and_half_written_lines_wait(
    sinks_config, tmp_path
) -> None:
    append(sinks_config, *FAILED_RUN)
    deliver_pending(sinks_config, stream=io.StringIO())
    line = json.dumps(localize(load_sample("metric_below_threshold")))
    with events_path(sinks_config).open("a") as handle:
        handle.write(line[:40])  # the engine is mid-append

    assert deliver_pending(sinks_config, stream=io.StringIO()) == 0
    with events_path(sinks_config).open("a") as handle:
        handle.write(line[40:] + "\n")
    assert deliver_pending(sinks_config, stream=io.StringIO()) == 3
    assert file_rules(tmp_path)[-1] == "fraud-detection-retraining-metric-below-threshold"


def test_a_webhook_that_is_down_catches_up_without_duplicates_elsewhere(
    sinks_config, tmp_path, webhook, capsys
) -> None:
    append(sinks_config, *FAILED_RUN)
    webhook.healthy = False

    deliver_pending(sinks_config, stream=io.StringIO())

    assert len(file_rules(tmp_path)) == 2
    assert webhook.received == []
    assert "HTTP Error 503: Service Unavailable; will retry" in capsys.readouterr().err
    webhook.healthy = True
    append(sinks_config, "model_package_registered")
    deliver_pending(sinks_config, stream=io.StringIO())
    assert len(file_rules(tmp_path)) == 3
    assert [n["rule"].rsplit("-", 2)[-2:] for n in webhook.received] == [
        ["step", "failed"],
        ["execution", "failed"],
        ["model", "package"],
    ]


def test_a_replaced_log_is_read_from_the_start(sinks_config, tmp_path) -> None:
    append(sinks_config, *FAILED_RUN)
    deliver_pending(sinks_config, stream=io.StringIO())
    events_path(sinks_config).unlink()
    append(sinks_config, "model_package_approved")

    assert deliver_pending(sinks_config, stream=io.StringIO()) == 3
    assert file_rules(tmp_path)[-1] == "fraud-detection-retraining-model-package"


def test_skip_existing_starts_every_sink_from_now(sinks_config, tmp_path, webhook) -> None:
    append(sinks_config, *FAILED_RUN)
    assert deliver_pending(sinks_config, skip_existing=True) == 0
    append(sinks_config, "model_package_approved")

    assert deliver_pending(sinks_config, stream=io.StringIO()) == 3
    assert file_rules(tmp_path) == ["fraud-detection-retraining-model-package"]


def test_disabled_notifications_deliver_nothing(make_config, tmp_path) -> None:
    config = make_config(
        notifications={"enabled": False, "local_sinks": [f"file:{tmp_path / 'notes.jsonl'}"]}
    )
    append(config, *FAILED_RUN)
    assert deliver_pending(config) == 0
    assert file_rules(tmp_path) == []


def test_events_of_another_pipeline_are_not_notified(sinks_config, tmp_path) -> None:
    event = localize(load_sample("step_failed"))
    event["detail"]["pipelineArn"] = event["detail"]["pipelineArn"].replace(
        "fraud-detection-retraining", "another-pipeline"
    )
    events_path(sinks_config).parent.mkdir(parents=True)
    events_path(sinks_config).write_text(json.dumps(event) + "\n")

    assert deliver_pending(sinks_config, stream=io.StringIO()) == 0


def test_cli_notifications_deliver(tmp_path, capsys) -> None:
    path = write_config(tmp_path / "project", notifications={"local_sinks": ["stdout"]})
    home = tmp_path / "project" / "home"
    home.mkdir(parents=True)
    (home / "events.jsonl").write_text(
        "".join(json.dumps(localize(load_sample(n))) + "\n" for n in FAILED_RUN)
    )

    assert cli_main(["--config", str(path), "notifications", "deliver"]) == 0
    output = capsys.readouterr().out
    assert "notification [fraud-detection-retraining-step-failed]" in output
    assert "2 notification delivery(ies) to 1 sink(s)" in output
    assert cli_main(["--config", str(path), "notifications", "deliver"]) == 0
    assert "0 notification delivery(ies)" in capsys.readouterr().out
    assert (
        cli_main(["--config", str(path), "notifications", "deliver", "--target", "sagemaker"]) == 2
    )
