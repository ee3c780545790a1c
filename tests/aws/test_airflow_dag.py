"""The MWAA DAG that `export airflow` writes, in Airflow 3.0.6 with the Amazon provider (the
separate .venv-airflow that `make test` builds): DagBag imports it without errors, with the
expected tasks, retries and dependencies, and `dag.test()` runs it against moto's server,
whose pipeline executions the harness plays (sfn_harness.PipelineRuns)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from sfn_harness import (  # noqa: F401  (sfn and definition are fixtures)
    ACCOUNT_ID,
    REGION,
    definition,
    sfn,
    sns_messages,
    subscribed_queue,
)
from waiting import FAILSAFE_SECONDS

from pipelines.config import PROJECT_ROOT, load_config
from pipelines.orchestrators.airflow_dag import write_dag

AIRFLOW_PYTHON = PROJECT_ROOT / ".venv-airflow" / "bin" / "python"
RUNNER = Path(__file__).with_name("airflow_runner.py")
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/SageMakerExecutionRole"
BUCKET = "retraining-test-bucket"
PIPELINE = "fraud-detection-retraining"
NIGHTLY = f"{PIPELINE}_nightly"
ARRIVAL = f"{PIPELINE}_data_arrival"

pytestmark = pytest.mark.skipif(
    not AIRFLOW_PYTHON.exists(), reason="no .venv-airflow: `make airflow` builds it"
)


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory) -> Path:
    """A metadata database, migrated once for the module."""
    home = tmp_path_factory.mktemp("airflow-home")
    subprocess.run(
        [str(AIRFLOW_PYTHON), "-m", "airflow", "db", "migrate"],
        env={**os.environ, **_airflow_env(home)},
        check=True,
        capture_output=True,
        timeout=FAILSAFE_SECONDS,
    )
    return home


def _airflow_env(home: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        # The provider's connection; endpoint and credentials come from the AWS_* variables.
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps({"conn_type": "aws"}),
    }


def config_for(home: Path):
    return load_config(
        environ={"PIPELINE_BUCKET": BUCKET, "PIPELINE_ROLE_ARN": ROLE_ARN},
        overrides={
            "orchestrator": {"poll_seconds": 1},
            "triggers": {"timezone": "Europe/Paris"},
            "local": {"home": str(home)},
        },
    )


@pytest.fixture
def dags(aws, sfn, definition, tmp_path) -> dict[str, Any]:  # noqa: F811
    """The exported DAG folder and what it needs in moto: data, the pipeline, the topic."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=f"{PIPELINE}/incoming/day-1.csv", Body=b"a,b\n1,0\n")
    boto3.client("sagemaker", region_name=REGION).create_pipeline(
        PipelineName=PIPELINE,
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
        RoleArn=ROLE_ARN,
    )
    _, queue = subscribed_queue(f"{PIPELINE}-notifications")
    config = config_for(tmp_path / "home")
    folder = tmp_path / "dags"
    written = write_dag(folder, config, config.target("sagemaker"), definition)
    return {"folder": folder, "queue": queue, "written": written}


def airflow(folder: Path, home: Path, dag_id: str | None = None) -> dict[str, Any]:
    done = subprocess.run(
        [str(AIRFLOW_PYTHON), str(RUNNER), str(folder), *([dag_id] if dag_id else [])],
        env={**os.environ, **_airflow_env(home)},
        capture_output=True,
        text=True,
        timeout=FAILSAFE_SECONDS,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(lines[-1].removeprefix("RESULT "))


def test_the_nightly_dag_imports_runs_and_notifies_a_registered_model(
    sfn,  # noqa: F811
    dags,
    airflow_home,
):
    sfn.runs.scenario(
        ["Executing", "Succeeded"],
        [{"StepName": "RegisterModel", "StepStatus": "Succeeded", "Metadata": {}}],
    )
    result = airflow(dags["folder"], airflow_home, NIGHTLY)
    # DagBag: both DAGs, no import error, the tasks and their order.
    assert result["import_errors"] == {}
    nightly, arrival = result["dags"][NIGHTLY], result["dags"][ARRIVAL]
    assert nightly["schedule"] == "0 2 * * *"
    assert json.loads(dags["written"][1].read_text())["timezone"] == "Europe/Paris"
    assert {name: task["downstream"] for name, task in nightly["tasks"].items()} == {
        "wait_for_data": ["start_pipeline"],
        "start_pipeline": ["registered_or_not"],
        "registered_or_not": ["no_new_model", "notify_registered"],
        "notify_registered": [],
        "no_new_model": [],
    }
    tasks = nightly["tasks"]
    assert tasks["wait_for_data"]["type"] == "S3KeySensor"
    assert tasks["start_pipeline"]["type"] == "SageMakerStartPipelineOperator"
    assert tasks["notify_registered"]["type"] == "SnsPublishOperator"
    # Retries with exponential backoff, except the pipeline start (a retry would rerun it).
    assert tasks["wait_for_data"]["retries"] == 3
    assert tasks["wait_for_data"]["retry_exponential_backoff"] is True
    assert tasks["start_pipeline"]["retries"] == 0
    # The data-arrival DAG runs on the input prefix's asset, without waiting for data.
    assert "wait_for_data" not in arrival["tasks"]
    assert "Asset" in arrival["schedule"] or "retraining-test-bucket" in arrival["schedule"]

    # dag.test(): the pipeline started on the input prefix, waited for, the model notified.
    assert result["run"]["tasks"] == {
        "wait_for_data": "success",
        "start_pipeline": "success",
        "registered_or_not": "success",
        "notify_registered": "success",
        "no_new_model": "skipped",
    }, result
    [started] = sfn.runs.started
    assert {"Name": "InputDataUrl", "Value": f"s3://{BUCKET}/{PIPELINE}/incoming/"} in started[
        "parameters"
    ]
    [message] = sns_messages(dags["queue"])
    assert message["MessageAttributes"]["outcome"]["Value"] == "registered"
    assert started["arn"] in message["Message"]


def test_a_failed_pipeline_fails_the_run_once_and_is_notified(sfn, dags, airflow_home):  # noqa: F811
    sfn.runs.scenario(["Failed"], [{"StepName": "Train", "StepStatus": "Failed"}])
    result = airflow(dags["folder"], airflow_home, ARRIVAL)
    assert result["run"]["state"] == "failed"
    assert result["run"]["tasks"]["start_pipeline"] == "failed"
    assert len(sfn.runs.started) == 1  # not retried: the failure is the pipeline's
    [message] = sns_messages(dags["queue"])
    assert message["MessageAttributes"]["outcome"]["Value"] == "failed"
    assert "start_pipeline failed" in message["Message"]
