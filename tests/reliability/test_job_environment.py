"""Jobs and Lambda environments never inherit the caller's environment: a job that dumps its
environment shows the container contract's variables and none of the caller's secrets."""

from __future__ import annotations

import io
import json
import os
import tarfile
import threading
from pathlib import Path

import pytest

from pipelines.app.runner import conformance_check
from pipelines.local.events import EventLog
from pipelines.local.lambda_runtime import Invocation, LambdaRuntime
from pipelines.local.orchestrator import Engine
from pipelines.local.registry import ModelRegistry
from pipelines.local.state import State
from pipelines.local.storage import ArtifactStore

pytestmark = pytest.mark.slow

BUCKET = "s3://bucket"
ROLE = "arn:aws:iam::000000000000:role/Test"
CLUSTER = {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}
SECRETS = {
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLECALLERKEY",
    "AWS_SECRET_ACCESS_KEY": "caller-secret-key",
    "AWS_SESSION_TOKEN": "caller-session-token",
    "AWS_PROFILE": "caller-profile",
    "AWS_SHARED_CREDENTIALS_FILE": "/home/caller/.aws/credentials",
    "GITHUB_TOKEN": "ghp_caller",
    "DATABASE_PASSWORD": "hunter2",
}
DUMP = """
import json, os, sys
json.dump(dict(os.environ), open(sys.argv[1], "w"))
"""


@pytest.fixture
def caller_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    state = State(tmp_path / "home" / "state.db")
    events = EventLog(tmp_path / "home" / "events.jsonl", "us-east-1")
    return Engine(
        store=ArtifactStore(tmp_path / "home" / "store", digests=state),
        state=state,
        events=events,
        registry=ModelRegistry(state, "us-east-1", events),
        jobs_root=tmp_path / "home" / "jobs",
        region="us-east-1",
        job_check=conformance_check(tmp_path / "home" / "conformance"),
    )


def _processing_step(engine: Engine) -> dict:
    engine.store.put_bytes(DUMP.encode(), f"{BUCKET}/code/dump.py")
    return {
        "Name": "Dump",
        "Type": "Processing",
        "Arguments": {
            "ProcessingResources": {"ClusterConfig": CLUSTER},
            "RoleArn": ROLE,
            "Environment": {"STEP_SETTING": "from-the-request"},
            "AppSpecification": {
                "ImageUri": "image",
                "ContainerEntrypoint": ["python3", "/opt/ml/processing/code/dump.py"],
                "ContainerArguments": ["/opt/ml/processing/out/environment.json"],
            },
            "ProcessingInputs": [
                {
                    "InputName": "code",
                    "S3Input": {
                        "S3Uri": f"{BUCKET}/code/dump.py",
                        "LocalPath": "/opt/ml/processing/code",
                        "S3DataType": "S3Prefix",
                        "S3InputMode": "File",
                    },
                }
            ],
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": "out",
                        "S3Output": {
                            "S3Uri": f"{BUCKET}/out/Dump",
                            "LocalPath": "/opt/ml/processing/out",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ]
            },
        },
    }


def _training_step(engine: Engine) -> dict:
    code = DUMP.replace("sys.argv[1]", 'os.path.join(os.environ["SM_MODEL_DIR"], "env.json")')
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("train.py")
        info.size = len(code)
        archive.addfile(info, io.BytesIO(code.encode()))
    engine.store.put_bytes(buffer.getvalue(), f"{BUCKET}/code/sourcedir.tar.gz")
    engine.store.put_bytes(b"rows", f"{BUCKET}/data/train/part-0.csv")
    return {
        "Name": "Train",
        "Type": "Training",
        "Arguments": {
            "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
            "ResourceConfig": CLUSTER,
            "RoleArn": ROLE,
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
            "Environment": {"STEP_SETTING": "from-the-request"},
            "HyperParameters": {
                "sagemaker_program": "train.py",
                "sagemaker_submit_directory": f"{BUCKET}/code/sourcedir.tar.gz",
            },
            "InputDataConfig": [
                {
                    "ChannelName": "train",
                    "DataSource": {
                        "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"{BUCKET}/data/train"}
                    },
                }
            ],
            "OutputDataConfig": {"S3OutputPath": f"{BUCKET}/out/Train"},
        },
    }


def _assert_contract_only(environment: dict[str, str], jobs_root: Path) -> None:
    leaked = sorted(set(SECRETS) & set(environment))
    assert leaked == [], f"the caller's variables reached the job: {leaked}"
    assert not [key for key in environment if key.startswith("AWS_")]
    assert not [value for value in environment.values() if value in SECRETS.values()]
    assert environment["STEP_SETTING"] == "from-the-request"
    assert environment["PATH"] == os.environ["PATH"]
    assert environment["OMP_NUM_THREADS"] == "1"
    assert environment["LC_ALL"] == "C.UTF-8"
    # A home of the job's own: the caller's ~/.aws and dotfiles are out of reach.
    assert Path(environment["HOME"]).is_relative_to(jobs_root)
    assert Path(environment["HOME"]).is_dir()


def test_processing_and_training_jobs_see_the_contract_not_the_callers_secrets(
    engine: Engine, caller_environment: None
) -> None:
    definition = {
        "Version": "2020-12-01",
        "Parameters": [],
        "Steps": [_processing_step(engine), _training_step(engine)],
    }
    result = engine.run(definition, "p", {})
    assert result.succeeded, result.failure_detail

    processing = json.loads(engine.store.read_bytes(f"{BUCKET}/out/Dump/environment.json"))
    _assert_contract_only(processing, engine.jobs_root)

    model = result.steps["Train"].properties["ModelArtifacts"]["S3ModelArtifacts"]
    with tarfile.open(engine.store.path_for(model)) as archive:
        training = json.load(archive.extractfile("env.json"))
    _assert_contract_only(training, engine.jobs_root)
    assert training["SM_CURRENT_HOST"] == "algo-1"
    assert training["SM_CHANNEL_TRAIN"].endswith("/opt/ml/input/data/train")


FUNCTION = """
import os

def handler(event, context):
    return dict(os.environ)
"""


def test_a_lambda_environment_sees_the_local_endpoints_not_the_callers_secrets(
    tmp_path: Path, caller_environment: None
) -> None:
    source = tmp_path / "function.py"
    source.write_text(FUNCTION)
    runtime = LambdaRuntime(tmp_path / "home" / "lambda-runtimes", keep_warm_seconds=0)
    invocation = Invocation(
        "dump", source, {}, tmp_path / "home" / "state.db", "us-east-1", tmp_path / "logs", 120
    )
    environment, _ = runtime.invoke(invocation, threading.Event())
    assert not [value for value in environment.values() if value in SECRETS.values()]
    for name in ("AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "GITHUB_TOKEN", "DATABASE_PASSWORD"):
        assert name not in environment
    # Every AWS endpoint is the local API, with placeholder keys (as Lambda gives a function
    # its own role's keys, never its caller's).
    assert environment["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert environment["AWS_ACCESS_KEY_ID"] == "local"
    assert environment["OMP_NUM_THREADS"] == "1"
