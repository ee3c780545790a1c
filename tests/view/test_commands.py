"""`view` and `cost` through the command line, and the server over real HTTP."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from view_helpers import Runs
from waiting import FAILSAFE_SECONDS

from pipelines.app.runner import open_engine
from pipelines.cli import main
from pipelines.config import PROJECT_ROOT, ProjectConfig
from pipelines.view.server import ViewServer

pytestmark = pytest.mark.slow


def cli(config: ProjectConfig, *argv: str) -> int:
    return main(["--config", str(config.path), *argv])


def test_view_writes_a_page_and_prints_its_path(runs: Runs, capsys, tmp_path: Path) -> None:
    assert cli(runs.config, "view") == 0
    path = Path(capsys.readouterr().out.strip().splitlines()[-1])
    latest = open_engine(runs.config).state.list_executions(1)[0].execution_id
    assert path == (runs.config.local_home / "view" / f"{latest}.html").resolve()
    page = path.read_text()
    assert latest in page and 'data-step="Train"' in page
    assert "http://" not in page and "https://" not in page  # nothing to fetch

    assert cli(runs.config, "view", runs.succeeded, "-o", str(tmp_path / "page.html")) == 0
    assert Path(capsys.readouterr().out.strip()) == (tmp_path / "page.html").resolve()
    assert runs.succeeded in (tmp_path / "page.html").read_text()

    assert cli(runs.config, "view", "--definition") == 0
    definition = Path(capsys.readouterr().out.strip())
    assert definition.name == "definition.html"
    assert "pipeline definition" in definition.read_text()


def test_view_without_executions_shows_the_definition(empty_project, capsys) -> None:
    assert cli(empty_project, "view") == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0] == "no local executions yet: showing the pipeline's structure alone"
    assert Path(out[1]).name == "definition.html" and Path(out[1]).is_file()
    assert cli(empty_project, "cost") == 2
    assert "no local executions yet" in capsys.readouterr().err


def test_cost_table_and_json(runs: Runs, capsys) -> None:
    assert cli(runs.config, "cost", runs.succeeded) == 0
    out = capsys.readouterr().out
    assert f"Execution {runs.succeeded} (Succeeded)" in out
    for step in ("Preprocess", "DriftCheck", "Train", "Evaluate", "Baseline"):
        assert step in out
    assert "ml.m5.xlarge" in out and "Total      $" in out and "per second" in out
    assert cli(runs.config, "cost", runs.cached, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["execution"] == runs.cached
    assert report["total"] == 0 and report["savings"] > 0
    assert {line["step"] for line in report["steps"]} == {
        "Preprocess",
        "DriftCheck",
        "Train",
        "Evaluate",
        "Baseline",
    }


@pytest.mark.parametrize("command", ["view", "cost"])
def test_unknown_execution_and_sagemaker_target_are_usage_errors(
    runs: Runs, capsys, command: str
) -> None:
    assert cli(runs.config, command, "nosuchexecution") == 2
    assert "no local execution matches 'nosuchexecution'" in capsys.readouterr().err
    assert cli(runs.config, command, "--target", "sagemaker") == 2
    expected = {
        "view": "--target sagemaker needs the execution's ARN",
        "cost": "reads the local engine's state",
    }
    assert expected[command] in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--serve", "--target", "sagemaker"], "--serve, --compare and --definition are local"),
        (["--compare", "a"], "--compare needs at least 2 different executions"),
        (["--definition", "--compare", "a", "b"], "give one of"),
    ],
)
def test_view_options_that_cannot_work_together(runs: Runs, capsys, argv, message) -> None:
    if argv[0] == "--compare":
        argv = ["--compare", runs.succeeded, runs.succeeded[:6]]  # one execution, twice
    assert cli(runs.config, "view", *argv) == 2
    assert message in capsys.readouterr().err


def test_view_compare_writes_the_comparison(runs: Runs, capsys, tmp_path: Path) -> None:
    out = tmp_path / "compare.html"
    assert cli(runs.config, "view", "--compare", runs.failed, runs.succeeded, "-o", str(out)) == 0
    assert Path(capsys.readouterr().out.strip()) == out.resolve()
    page = out.read_text()
    # Oldest first; the changed parameter is flagged in the failed run's column.
    assert page.index(runs.succeeded) < page.index(runs.failed)
    row = page.split('data-row="Parameters/MetricThreshold"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="uri changed">0.99</td>' in row and '<td class="uri">0.2</td>' in row


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=FAILSAFE_SECONDS) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_server_index_pages_and_404(runs: Runs, server: ViewServer) -> None:
    assert server.server_address[0] == "127.0.0.1"
    status, index = get(server.url)
    assert status == 200
    for execution in (runs.succeeded, runs.cached, runs.failed):
        assert f'href="/executions/{execution}.html"' in index
    status, page = get(f"{server.url}executions/{runs.failed}.html")
    assert status == 200 and runs.failed in page and "Failure reason" in page
    status, page = get(f"{server.url}definition.html")
    assert status == 200 and 'data-step="RegisterModel"' in page
    assert get(f"{server.url}executions/nosuchexecution.html")[0] == 404
    assert get(f"{server.url}etc/passwd")[0] == 404


def test_server_status_json_and_compare_routes(runs: Runs, server: ViewServer) -> None:
    status, body = get(f"{server.url}executions/{runs.failed}/status.json")
    progress = json.loads(body)
    assert status == 200 and progress["status"] == "Failed" and not progress["running"]
    assert progress["steps"]["MetricBelowThreshold"]["css"] == "failed"
    assert progress["steps"]["Train"]["fields"]["status"] == "Succeeded (cache hit)"
    assert get(f"{server.url}executions/nosuchexecution/status.json")[0] == 404

    status, page = get(f"{server.url}compare.html?executions={runs.succeeded},{runs.failed}")
    assert status == 200 and 'id="compare"' in page
    # The index form's way: the parameter repeated.
    query = f"executions={runs.succeeded}&executions={runs.cached}"
    assert get(f"{server.url}compare.html?{query}")[0] == 200
    for query, code, words in (
        (f"executions={runs.failed}", 400, "compare needs 2 to 12 executions"),
        (f"executions={runs.failed},{runs.failed[:6]}", 400, "the same execution twice"),
        (f"executions={runs.failed},nosuchexecution", 404, "no local execution matches"),
        ("executions=a,..%2Fetc", 400, "is not an execution id"),
    ):
        status, page = get(f"{server.url}compare.html?{query}")
        assert (status, words in page) == (code, True), query
    # Filters preset from the address.
    status, index = get(f"{server.url}?status=Failed&q=%3Cb%3E")
    assert status == 200 and '<option value="Failed" selected>' in index
    assert 'value="&lt;b&gt;"' in index


def test_serve_prints_the_url_and_stops_on_ctrl_c(runs: Runs) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "run_pipeline.py",
            "--config",
            str(runs.config.path),
            "view",
            "--serve",
            "--port",
            "0",
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("serving http://127.0.0.1:"), line + process.stderr.read()
        url = line.split()[1]
        assert get(url)[0] == 200
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=FAILSAFE_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err
