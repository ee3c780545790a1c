"""A local run killed while a job runs (kill -9, SIGTERM, `timeout`, Ctrl-C): no job process
survives it, the execution does not stay Executing (nor holds back the local schedule), and
a rerun resumes from the cache.

Real processes and real signals: `run_pipeline.py` runs as a subprocess; its Train step
runs a stand-in train.py that starts a child of its own, says it is running (a file: the
readiness signal), then waits to be killed. A warm Lambda environment whose caller is
killed mid-invocation is checked too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from local.conftest import write_project
from processes import RUN_PIPELINE, cli, kill_if_running, parent_of, running, running_in_group
from waiting import FAILSAFE_SECONDS, wait_until

from pipelines.config import PROJECT_ROOT, ProjectConfig
from pipelines.local.lambda_runtime import Invocation, LambdaRuntime
from pipelines.triggers.schedule import running_local_executions

pytestmark = pytest.mark.slow

# Stands in for train.py while the hold file exists: a child process in its group, a
# readiness file, then a wait that only a signal ends. Without it, the real train.py runs.
BLOCKING_TRAIN = """
import json, os, runpy, subprocess, sys, threading
if not os.path.exists({hold!r}):
    runpy.run_path("real_train.py", run_name="__main__")
    sys.exit(0)
child = subprocess.Popen([sys.executable, "-c", "import threading; threading.Event().wait()"])
ready = {ready!r}
with open(ready + ".partial", "w") as handle:
    json.dump({{"job": os.getpid(), "child": child.pid, "group": os.getpgid(0)}}, handle)
os.replace(ready + ".partial", ready)
threading.Event().wait()
"""


@dataclass(frozen=True)
class Project:
    config: ProjectConfig
    ready: Path  # written by the stand-in once it runs
    hold: Path  # while it exists, Train blocks


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    base = tmp_path_factory.mktemp("killed")
    config = write_project(base / "project", base / "project" / ".pipeline-local")
    ready, hold = base / "train-running.json", base / "hold-train"
    hold.touch()
    training = config.root / "training"
    (training / "train.py").rename(training / "real_train.py")
    (training / "train.py").write_text(BLOCKING_TRAIN.format(ready=str(ready), hold=str(hold)))
    return Project(config, ready, hold)


def start_run(config: ProjectConfig, sample: Path, wrapper: tuple[str, ...] = ()):
    return subprocess.Popen(
        [
            *wrapper,
            sys.executable,
            RUN_PIPELINE,
            "--config",
            str(config.root / "pipeline.toml"),
            "--param",
            f"InputDataUrl={sample}",
            "--param",
            "MetricThreshold=0",
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_train(run: subprocess.Popen, ready: Path) -> dict[str, int]:
    """The job's, its child's and the job shim's pids once train.py runs."""

    def started() -> bool:
        if run.poll() is not None:
            raise AssertionError(f"the run ended before Train started:\n{run.stdout.read()}")
        return ready.exists()

    wait_until(started, "the Train job process is running")
    pids = json.loads(ready.read_text())
    pids["shim"] = parent_of(pids["job"])
    return pids


def latest_execution(config: ProjectConfig) -> dict:
    """Through the CLI: the next command that reads state, as a user would run it."""
    listing = cli(config.root / "pipeline.toml", "executions", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    execution_id = json.loads(listing.stdout)[0]["execution_id"]
    described = cli(config.root / "pipeline.toml", "executions", "describe", execution_id, "--json")
    assert described.returncode == 0, described.stderr
    return json.loads(described.stdout)


def assert_nothing_survives(pids: dict[str, int]) -> None:
    try:
        wait_until(
            lambda: not any(running(pids[name]) for name in ("job", "child", "shim")),
            "the job, its child and the shim are gone",
        )
        assert running_in_group(pids["group"]) == []
    finally:
        kill_if_running([pids["job"], pids["child"], pids["shim"]])


CASES = {
    # name: (wrapper command, signal sent to the started process, expected status)
    "kill -9": ((), signal.SIGKILL, "Failed"),
    "SIGTERM": ((), signal.SIGTERM, "Stopped"),
    # `timeout` sends its child SIGTERM when the time is up, and does the same when it is
    # itself sent SIGTERM: the signal below stands for the time running out.
    "timeout": (("timeout", str(int(FAILSAFE_SECONDS))), signal.SIGTERM, "Stopped"),
    "Ctrl-C": ((), signal.SIGINT, "Stopped"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_killed_run_leaves_no_job_process_and_no_executing_state(
    project: Project, small_sample: Path, case: str
) -> None:
    config = project.config
    wrapper, number, status = CASES[case]
    project.ready.unlink(missing_ok=True)
    run = start_run(config, small_sample, wrapper)
    pids = wait_for_train(run, project.ready)
    # While the engine lives, its run holds back the local schedule's ticks.
    assert len(running_local_executions(config, stale_after=86400)) == 1
    run.send_signal(number)
    output, _ = run.communicate(timeout=FAILSAFE_SECONDS)
    assert_nothing_survives(pids)

    document = latest_execution(config)
    execution = document["execution"]
    train = next(s for s in document["steps"] if s["step_name"] == "Train")
    assert execution["status"] == status, output
    if case == "kill -9":
        assert run.returncode == -signal.SIGKILL
        assert execution["failure_reason"].startswith("the engine stopped: process ")
        assert train["status"] == "Failed"
        assert train["failure_reason"] == "the engine stopped while this step ran"
        events = (config.local_home / "events.jsonl").read_text().splitlines()
        last = json.loads(events[-1])["detail"]
        assert last["currentPipelineExecutionStatus"] == "Failed"
        assert last["failureReason"] == execution["failure_reason"]
    else:
        assert train["status"] == "Stopped"
        why = " (the engine received SIGTERM)" if number == signal.SIGTERM else ""
        assert execution["failure_reason"] == "the execution was interrupted" + why
    listing = cli(config.root / "pipeline.toml", "executions", "list")
    assert "Executing" not in listing.stdout
    assert f"{execution['execution_id']}  {status}" in listing.stdout
    if case == "kill -9":
        assert "Step Train failed: the engine stopped while this step ran" in listing.stdout
    # ... and no longer does: the schedule's next tick runs.
    assert running_local_executions(config, stale_after=86400) == []


def test_a_rerun_after_kill_9_resumes_from_the_cache(project: Project, tmp_path: Path) -> None:
    from pipelines.sample_data import generate_transactions

    config = project.config
    # Data of its own: this test's Preprocess runs first in the killed run.
    data = tmp_path / "transactions.csv"
    generate_transactions(3000, seed=12).to_csv(data, index=False)
    project.ready.unlink(missing_ok=True)
    run = start_run(config, data)
    pids = wait_for_train(run, project.ready)
    run.kill()
    run.communicate(timeout=FAILSAFE_SECONDS)
    assert_nothing_survives(pids)
    killed = latest_execution(config)["execution"]["execution_id"]

    project.hold.unlink()  # the same code (the same requests), now training for real
    try:
        rerun = start_run(config, data)
        output, _ = rerun.communicate(timeout=FAILSAFE_SECONDS)
    finally:
        project.hold.touch()
    assert rerun.returncode == 0, output
    steps = {s["step_name"]: s for s in latest_execution(config)["steps"]}
    # Preprocess finished before the kill: the rerun reuses it; Train runs for real.
    assert steps["Preprocess"]["cache_source_arn"].endswith(f"/execution/{killed}")
    assert steps["Train"]["cache_source_arn"] is None
    assert steps["Train"]["status"] == steps["RegisterModel"]["status"] == "Succeeded"


# -- a warm Lambda environment whose caller is killed mid-invocation ---------------------

HELD_FUNCTION = """
import os, pathlib, time

def handler(event, context):
    if event.get("hold"):
        pathlib.Path(event["entered"]).write_text(str(os.getpid()))
        while pathlib.Path(event["hold"]).exists():
            time.sleep(0.01)
    return {"pid": os.getpid(), "n": event["n"]}
"""

CALLER = """
import sys, threading
from pathlib import Path
from pipelines.local.lambda_runtime import Invocation, LambdaRuntime
from pipelines.triggers.schedule import running_local_executions

root, source, state_db, logs, hold, entered = map(Path, sys.argv[1:])
invocation = Invocation("held", source, {"n": 1, "hold": str(hold), "entered": str(entered)},
                        state_db, "us-east-1", logs, timeout=600)
LambdaRuntime(root, keep_warm_seconds=600).invoke(invocation, threading.Event())
"""


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[LambdaRuntime]:
    runtime = LambdaRuntime(tmp_path / "home" / "lambda-runtimes", keep_warm_seconds=600)
    yield runtime
    runtime.stop_all()


def test_a_warm_lambda_environment_outlives_a_killed_caller_and_serves_the_next_run(
    tmp_path: Path, runtime: LambdaRuntime
) -> None:
    source = tmp_path / "code" / "function.py"
    source.parent.mkdir()
    source.write_text(HELD_FUNCTION)
    state_db = tmp_path / "home" / "state.db"
    hold, entered = tmp_path / "hold", tmp_path / "entered"
    hold.touch()
    caller = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CALLER,
            *map(str, (runtime.root, source, state_db, tmp_path / "logs-1", hold, entered)),
        ],
        cwd=PROJECT_ROOT,
    )
    wait_until(lambda: entered.exists(), "the function is running the held invocation")
    environment = int(entered.read_text())
    caller.kill()
    caller.wait()
    hold.unlink()  # the invocation in flight finishes, its answer has nowhere to go

    # The next invocation (same code) is answered by that same environment, still warm.
    result, _ = runtime.invoke(
        Invocation("held", source, {"n": 2}, state_db, "us-east-1", tmp_path / "logs-2", 600),
        threading.Event(),
    )
    assert result == {"pid": environment, "n": 2}
    assert running(environment)
    os.kill(environment, 0)
