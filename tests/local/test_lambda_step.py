"""Lambda steps locally: the project's real function code, answered by the local registry."""

from __future__ import annotations

import threading
from pathlib import Path

import boto3
import pytest

from pipelines.config import PROJECT_ROOT
from pipelines.local import lambda_step
from pipelines.local.lambda_runtime import LambdaRuntime
from pipelines.local.records import ExecutionRecord, ExecutionStatus
from pipelines.local.registry import ModelRegistry
from pipelines.local.sagemaker_api import LocalSageMakerApi
from pipelines.local.state import State

GROUP = "fraud-detection-models"
NAME = "fraud-detection-retraining-resolve-champion"
ARN = f"arn:aws:lambda:us-east-1:000000000000:function:{NAME}"
NO_CHAMPION = "s3://bucket/prefix/registry/no-champion/"
OUTPUTS = [
    {"OutputName": name, "OutputType": "String"}
    for name in ("ChampionModelDataUrl", "ChampionVersion", "ChampionArn")
]
FOUND = [
    {"OutputName": name, "OutputType": "String"}
    for name in ("RegisteredVersion", "RegisteredArn", "ClaimedBy")
]
CLAIMS = "s3://bucket/prefix/registry-claims/"
FUNCTIONS = {NAME: PROJECT_ROOT / "lambdas" / "resolve_champion.py"}


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(State(tmp_path / "state.db"), "us-east-1")


def register(registry: ModelRegistry, status: str, version: int, digest: str = "") -> dict:
    return registry.register(
        GROUP,
        inference_specification={
            "Containers": [{"Image": "i", "ModelDataUrl": f"s3://bucket/models/v{version}.tar.gz"}]
        },
        approval_status=status,
        customer_metadata={"ModelContentDigest": digest} if digest else None,
    )


def invoke(
    registry: ModelRegistry,
    tmp_path: Path,
    functions=FUNCTIONS,
    arn=ARN,
    outputs=OUTPUTS,
    event: dict | None = None,
    store_root: Path | None = None,
):
    return lambda_step.invoke(
        arn=arn,
        event=event or {"ModelPackageGroupName": GROUP, "NoChampionUri": NO_CHAMPION},
        outputs=outputs,
        functions=functions,
        runtime=LambdaRuntime(tmp_path / "runtimes", keep_warm_seconds=0),
        state_db=registry.state.path,
        job_dir=tmp_path / "job",
        region="us-east-1",
        cancel=threading.Event(),
        store_root=store_root,
    )


def test_the_function_finds_the_newest_approved_version(registry, tmp_path):
    packages = [
        register(registry, status, version)
        for version, status in enumerate(
            ["Approved", "PendingManualApproval", "Approved", "Rejected"], start=1
        )
    ]
    outputs, logs = invoke(registry, tmp_path)
    assert outputs == {
        "ChampionModelDataUrl": "s3://bucket/models/v3.tar.gz",
        "ChampionVersion": "3",
        "ChampionArn": packages[2]["ModelPackageArn"],
    }
    assert [Path(log).name for log in logs] == ["stdout.log", "stderr.log"]


def test_no_group_or_no_approved_version_gives_the_marker(registry, tmp_path):
    no_champion = {
        "ChampionModelDataUrl": NO_CHAMPION,
        "ChampionVersion": "none",
        "ChampionArn": "none",
    }
    assert invoke(registry, tmp_path)[0] == no_champion
    register(registry, "PendingManualApproval", 1)
    assert invoke(registry, tmp_path)[0] == no_champion


def find_event(execution_arn: str, digest: str = "f" * 64) -> dict:
    return {
        "ModelPackageGroupName": GROUP,
        "ModelContentDigest": digest,
        "ClaimPrefix": CLAIMS,
        "ExecutionArn": execution_arn,
    }


def local_execution(state: State, status: str = "Executing", owner: dict | None = None) -> str:
    """An execution in the state database, owned by this process unless `owner` is given."""
    import secrets

    execution_id = secrets.token_hex(6)
    pipeline = "arn:aws:sagemaker:us-east-1:000000000000:pipeline/fraud-detection-retraining"
    state.create_execution(
        ExecutionRecord(
            execution_id=execution_id,
            execution_arn=f"{pipeline}/execution/{execution_id}",
            pipeline_name="fraud-detection-retraining",
            pipeline_arn=pipeline,
            status=ExecutionStatus(status),
            parameters={},
            definition_hash="d",
            start_time=1.0,
            owner=owner,
        )
    )
    return f"{pipeline}/execution/{execution_id}"


def gone_owner() -> dict:
    """The owner record of an engine process that has exited."""
    import subprocess
    import sys

    from pipelines.local.liveness import Owner

    exited = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    return {**Owner.current().as_record(), "pid": int(exited), "start_ticks": 1}


def test_the_function_finds_the_version_holding_a_digest_past_the_first_page(registry, tmp_path):
    """More versions than one ListModelPackages page (100): the oldest is still found."""
    first = register(registry, "Rejected", 1, digest="a" * 64)
    for version in range(2, 103):
        register(registry, "PendingManualApproval", version, digest=f"{version:064d}")
    me = local_execution(registry.state)
    event = find_event(me, digest="a" * 64)
    assert invoke(registry, tmp_path, outputs=FOUND, event=event)[0] == {
        "RegisteredVersion": "1",
        "RegisteredArn": first["ModelPackageArn"],
        "ClaimedBy": "none",
    }


def test_the_claim_holds_back_identical_executions_until_its_claimant_is_gone(registry, tmp_path):
    """The function's claim against the local store and state, deciding as on AWS: a running
    claimant holds the model; once its engine is gone (killed: the state marks it Failed),
    the claim is taken over. The claim is an object in the store anyone can read."""
    import json

    from pipelines.local.storage import ArtifactStore

    store = ArtifactStore(tmp_path / "store", digests=registry.state)
    store.put_bytes(b"", "s3://bucket/prefix/registry/no-champion/NO_CHAMPION")
    first, second = local_execution(registry.state), local_execution(registry.state)

    def find(execution: str) -> dict:
        event = find_event(execution)
        return invoke(registry, tmp_path, outputs=FOUND, event=event, store_root=store.root)[0]

    assert find(first)["ClaimedBy"] == first
    assert find(second) == {
        "RegisteredVersion": "none",
        "RegisteredArn": "none",
        "ClaimedBy": first,
    }
    claim_uri = f"{CLAIMS}{GROUP}/{'f' * 64}.json"
    assert json.loads(store.read_bytes(claim_uri))["ExecutionArn"] == first

    # The first's engine dies while it still holds the claim (Executing in the database).
    for execution in registry.state.list_executions():
        registry.state.update_execution(execution.execution_id, owner=gone_owner())
    assert find(second)["ClaimedBy"] == second
    claim = json.loads(store.read_bytes(claim_uri))
    assert claim["ExecutionArn"] == second
    assert claim["TakenOverFrom"]["ExecutionArn"] == first
    assert claim["TakenOverFrom"]["Status"] == "Failed"


def test_the_local_api_describes_local_executions(registry, monkeypatch):
    """DescribePipelineExecution in SageMaker's wire format, from the state database; an
    execution whose engine is gone is Failed, as every command reading state reports it."""
    running = local_execution(registry.state)
    done = local_execution(registry.state, "Succeeded")
    orphan = local_execution(registry.state, owner=gone_owner())
    for key in ("AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(key, raising=False)
    with LocalSageMakerApi(registry) as api:
        client = boto3.client(
            "sagemaker",
            endpoint_url=api.url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        described = client.describe_pipeline_execution(PipelineExecutionArn=running)
        assert described["PipelineExecutionStatus"] == "Executing"
        assert described["PipelineExecutionArn"] == running
        assert described["PipelineArn"] == running.rsplit("/execution/", 1)[0]
        assert described["CreationTime"].year == 1970  # parsed as a timestamp by botocore
        assert (
            client.describe_pipeline_execution(PipelineExecutionArn=done)["PipelineExecutionStatus"]
            == "Succeeded"
        )
        gone = client.describe_pipeline_execution(PipelineExecutionArn=orphan)
        assert gone["PipelineExecutionStatus"] == "Failed"
        assert gone["FailureReason"].startswith("the engine stopped")
        for unknown in (running + "x", running.replace("fraud-detection", "other"), ""):
            with pytest.raises(client.exceptions.ClientError) as missing:
                client.describe_pipeline_execution(PipelineExecutionArn=unknown or "arn:x")
            assert missing.value.response["Error"]["Code"] == "ResourceNotFound"


def test_the_local_api_speaks_sagemakers_wire_format(registry, monkeypatch):
    register(registry, "Approved", 1)
    for key in ("AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(key, raising=False)
    with LocalSageMakerApi(registry) as api:
        client = boto3.client(
            "sagemaker",
            endpoint_url=api.url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        summaries = client.list_model_packages(ModelPackageGroupName=GROUP)[
            "ModelPackageSummaryList"
        ]
        assert [s["ModelPackageVersion"] for s in summaries] == [1]
        assert summaries[0]["CreationTime"].year >= 2024  # parsed as a timestamp by botocore
        described = client.describe_model_package(ModelPackageName=summaries[0]["ModelPackageArn"])
        assert described["ModelApprovalStatus"] == "Approved"
        with pytest.raises(client.exceptions.ClientError, match="does not exist"):
            client.list_model_packages(ModelPackageGroupName="other-group")
        with pytest.raises(client.exceptions.ClientError, match=r"serves .* only"):
            client.list_endpoints()


def test_unknown_functions_and_bad_results_fail_with_the_reason(registry, tmp_path):
    with pytest.raises(lambda_step.LambdaStepError, match=r"Function not found: .*:function:other"):
        invoke(registry, tmp_path, arn=ARN.replace(NAME, "other"))
    with pytest.raises(lambda_step.LambdaStepError, match="is not a Lambda function ARN"):
        invoke(registry, tmp_path, arn="arn:aws:s3:::bucket")
    broken = tmp_path / "broken.py"
    broken.write_text("def handler(event, context):\n    raise RuntimeError('no registry')\n")
    with pytest.raises(lambda_step.LambdaStepError, match="RuntimeError: no registry"):
        invoke(registry, tmp_path, functions={NAME: broken})
    with pytest.raises(lambda_step.LambdaStepError, match="returned no output parameter 'Extra'"):
        invoke(registry, tmp_path, outputs=[*OUTPUTS, {"OutputName": "Extra"}])
    typed = [{"OutputName": "ChampionVersion", "OutputType": "Integer"}]
    with pytest.raises(lambda_step.LambdaStepError, match="should be Integer"):
        invoke(registry, tmp_path, outputs=typed)


def test_the_snapshot_function_runs_against_the_local_store(registry, tmp_path):
    """The same function code as on AWS: its S3 calls reach the artifact store."""
    import json

    from pipelines.local.storage import ArtifactStore

    store = ArtifactStore(tmp_path / "store", digests=registry.state)
    store.put_bytes(b"a,b\n1,2\n", "s3://bucket/incoming/day1.csv")
    store.put_bytes(b"draft", "s3://bucket/incoming/README.txt")
    name = "fraud-detection-retraining-snapshot-input"
    outputs, _ = lambda_step.invoke(
        arn=f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
        event={
            "InputDataUrl": "s3://bucket/incoming/",
            "InputPartitionWindow": 0,
            "SnapshotPrefix": "s3://bucket/prefix/snapshots/",
        },
        outputs=[
            {"OutputName": "ManifestUri", "OutputType": "String"},
            {"OutputName": "ObjectCount", "OutputType": "Integer"},
        ],
        functions={name: PROJECT_ROOT / "lambdas" / "snapshot_input.py"},
        runtime=LambdaRuntime(tmp_path / "runtimes", keep_warm_seconds=0),
        state_db=registry.state.path,
        job_dir=tmp_path / "job",
        region="us-east-1",
        cancel=threading.Event(),
        store_root=store.root,
    )
    assert outputs["ObjectCount"] == 1
    assert outputs["ManifestUri"].startswith("s3://bucket/prefix/snapshots/")
    manifest = json.loads(store.read_bytes(outputs["ManifestUri"]))
    assert manifest == [{"prefix": "s3://bucket/incoming/"}, "day1.csv"]
