"""lambdas/resolve_champion.py against moto's SageMaker, S3 and Step Functions (the local
registry, store and state answer the same): the champion lookup, the lookup of a version
holding the same model files, and the claim to register them.

moto 5.2 honours PutObject's If-None-Match and If-Match as S3 documents them (412
PreconditionFailed; 404 for If-Match without an object), so the claims here are real
conditional writes. Its check and write are not one atomic step under concurrent requests,
which S3's are: racing executions are therefore played here as the interleavings that matter
(each one's turn complete, or one's turn inside another's), and atomicity is the local S3
API's to prove (tests/local/test_s3_api.py). Pipeline executions in moto always report
Succeeded; a test sets the status an execution is in through moto's backend, as SageMaker
would report it.
"""

from __future__ import annotations

import importlib.util
import json

import boto3
import pytest
from moto.sagemaker.models import sagemaker_backends
from moto_account import ACCOUNT_ID, REGION, ROLE_ARN

from pipelines.config import PROJECT_ROOT

GROUP = "fraud-detection-models"
NO_CHAMPION = "s3://bucket/prefix/registry/no-champion/"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3"
BUCKET = "bucket"
CLAIMS = f"s3://{BUCKET}/prefix/registry-claims/"
PIPELINE = "fraud-detection-retraining"
DIGEST = "sha256:" + "ab" * 32
CLAIM_KEY = f"prefix/registry-claims/{GROUP}/{DIGEST}.json"


def load_function():
    spec = importlib.util.spec_from_file_location(
        "resolve_champion", PROJECT_ROOT / "lambdas" / "resolve_champion.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def resolve_champion():
    return load_function().handler


def baselines(folder: str, statistics: str = "statistics.json") -> dict:
    """DriftCheckBaselines as the pipeline's RegisterModel step sends them."""
    return {
        "ModelDataQuality": {
            "Statistics": {"ContentType": "application/json", "S3Uri": folder + statistics},
            "Constraints": {
                "ContentType": "application/json",
                "S3Uri": folder + "constraints.json",
            },
        }
    }


def register(
    sagemaker, status: str, version: int, digest: str | None = None, baseline: dict | None = None
) -> str:
    extra = {"CustomerMetadataProperties": {"ModelContentDigest": digest}} if digest else {}
    if baseline:
        extra["DriftCheckBaselines"] = baseline
    return sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus=status,
        **extra,
        InferenceSpecification={
            "Containers": [
                {"Image": IMAGE, "ModelDataUrl": f"s3://bucket/models/v{version}/model.tar.gz"}
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]


def test_the_newest_approved_version_is_the_champion(aws, resolve_champion):
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    arns = {
        version: register(
            sagemaker, status, version, baseline=baselines(f"s3://bucket/runs/{version}/Baseline/")
        )
        for version, status in enumerate(
            ["Approved", "PendingManualApproval", "Approved", "Rejected"], start=1
        )
    }
    result = resolve_champion({"ModelPackageGroupName": GROUP, "NoChampionUri": NO_CHAMPION}, None)
    assert result == {
        "ChampionModelDataUrl": "s3://bucket/models/v3/model.tar.gz",
        "ChampionVersion": "3",
        "ChampionArn": arns[3],
        # The folder of its DriftCheckBaselines.ModelDataQuality: DriftCheck's input.
        "ChampionBaselineUrl": "s3://bucket/runs/3/Baseline/",
    }


def test_a_champion_without_a_baseline_gets_the_marker_as_its_baseline(aws, resolve_champion):
    # Registered before baselines existed: DriftCheck reports no_baseline and the run retrains.
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    register(sagemaker, "Approved", 1)
    result = resolve_champion({"ModelPackageGroupName": GROUP, "NoChampionUri": NO_CHAMPION}, None)
    assert (result["ChampionVersion"], result["ChampionBaselineUrl"]) == ("1", NO_CHAMPION)


def test_a_baseline_driftcheck_cannot_read_as_one_folder_is_refused(aws, resolve_champion):
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    register(sagemaker, "Approved", 1, baseline=baselines("s3://bucket/b/", "stats.json"))
    with pytest.raises(ValueError, match=r"must be statistics\.json and constraints\.json in one"):
        resolve_champion({"ModelPackageGroupName": GROUP, "NoChampionUri": NO_CHAMPION}, None)


@pytest.mark.parametrize("group_exists", [True, False])
def test_without_an_approved_version_the_marker_stands_in(aws, resolve_champion, group_exists):
    sagemaker = boto3.client("sagemaker")
    if group_exists:
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        register(sagemaker, "PendingManualApproval", 1)
    result = resolve_champion({"ModelPackageGroupName": GROUP, "NoChampionUri": NO_CHAMPION}, None)
    assert result == {
        "ChampionModelDataUrl": NO_CHAMPION,
        "ChampionVersion": "none",
        "ChampionArn": "none",
        "ChampionBaselineUrl": NO_CHAMPION,
    }


def find(handler, execution: str, digest: str = DIGEST) -> dict:
    """FindRegisteredModel's event as the pipeline sends it, from `execution`."""
    event = {
        "ModelPackageGroupName": GROUP,
        "ModelContentDigest": digest,
        "ClaimPrefix": CLAIMS,
        "ExecutionArn": execution,
    }
    return handler(event, None)


def test_the_version_holding_the_same_model_files_is_found(account, resolve_champion):
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    arns = {
        version: register(sagemaker, status, version, digest)
        for version, (status, digest) in enumerate(
            [("Rejected", "a" * 64), ("Approved", None), ("PendingManualApproval", "b" * 64)],
            start=1,
        )
    }
    # Any status: a rejected model is the same model, registering it again adds nothing.
    for digest, version in (("a" * 64, 1), ("b" * 64, 3)):
        assert find(resolve_champion, start_execution(), digest) == {
            "RegisteredVersion": str(version),
            "RegisteredArn": arns[version],
            "ClaimedBy": "none",
        }
    # A version settles it without a claim.
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket=BUCKET)
    me = start_execution("Executing")
    assert find(resolve_champion, me, "c" * 64) == {
        "RegisteredVersion": "none",
        "RegisteredArn": "none",
        "ClaimedBy": me,
    }


def test_a_group_that_does_not_exist_holds_no_copy(account, resolve_champion):
    me = start_execution("Executing")
    assert find(resolve_champion, me) == {
        "RegisteredVersion": "none",
        "RegisteredArn": "none",
        "ClaimedBy": me,
    }


# -- the claim: one execution registers a model, however many run at once -----------------


@pytest.fixture
def account(aws):
    """moto's account with the artifacts bucket (the claims' home) and the pipeline."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    boto3.client("sagemaker").create_pipeline(
        PipelineName=PIPELINE,
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
        RoleArn=ROLE_ARN,
    )
    return aws


def start_execution(status: str = "Executing") -> str:
    arn = boto3.client("sagemaker").start_pipeline_execution(PipelineName=PIPELINE)[
        "PipelineExecutionArn"
    ]
    set_status(arn, status)
    return arn


def set_status(arn: str, status: str) -> None:
    """What DescribePipelineExecution reports for `arn` from now on."""
    pipeline = sagemaker_backends[ACCOUNT_ID][REGION].pipelines[PIPELINE]
    pipeline.pipeline_executions[arn].pipeline_execution_status = status


def claim() -> dict:
    return json.loads(boto3.client("s3").get_object(Bucket=BUCKET, Key=CLAIM_KEY)["Body"].read())


def test_of_two_racing_executions_one_holds_the_claim(account, resolve_champion):
    """Both found no version (neither has registered): the first claims the digest, the other
    is held back naming it; the claimant's step run again still holds it."""
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    first, second = start_execution("Executing"), start_execution("Executing")
    assert find(resolve_champion, first)["ClaimedBy"] == first
    assert find(resolve_champion, second) == {
        "RegisteredVersion": "none",
        "RegisteredArn": "none",
        "ClaimedBy": first,
    }
    assert claim()["ExecutionArn"] == first
    assert claim()["ModelContentDigest"] == DIGEST
    assert find(resolve_champion, first)["ClaimedBy"] == first  # a retried step
    # A claimant that is stopping may still register: it still holds the claim.
    set_status(first, "Stopping")
    assert find(resolve_champion, second)["ClaimedBy"] == first
    # Once the claimant registered, the version answers, whatever became of the claimant.
    arn = register(sagemaker, "PendingManualApproval", 1, DIGEST)
    set_status(first, "Succeeded")
    third = start_execution("Executing")
    assert find(resolve_champion, third) == {
        "RegisteredVersion": "1",
        "RegisteredArn": arn,
        "ClaimedBy": "none",
    }


@pytest.mark.parametrize("ended", ["Failed", "Stopped", "Succeeded", "not on record"])
def test_a_claim_whose_claimant_ended_without_registering_is_taken_over(
    account, resolve_champion, ended
):
    """A claimant that crashed or was stopped before registering, or succeeded without
    registering (the champion rule held it back), or whose record is gone, blocks nothing."""
    first = start_execution("Executing")
    find(resolve_champion, first)
    if ended == "not on record":
        pipeline = sagemaker_backends[ACCOUNT_ID][REGION].pipelines[PIPELINE]
        del pipeline.pipeline_executions[first]
    else:
        set_status(first, ended)
    second = start_execution("Executing")
    assert find(resolve_champion, second)["ClaimedBy"] == second
    taken = claim()
    assert taken["ExecutionArn"] == second
    assert taken["TakenOverFrom"] == {
        "ExecutionArn": first,
        "Status": "no longer on record" if ended == "not on record" else ended,
    }


def test_a_claimant_that_registered_before_it_failed_keeps_the_model_registered_once(
    account, resolve_champion
):
    """The second looked for a version before the first registered; by the time it asks
    about the first's claim, the first has registered and then failed (a step after
    RegisterModel): the version found then settles it, the claim is not taken over."""
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    first, second = start_execution("Executing"), start_execution("Executing")
    find(resolve_champion, first)
    module = load_function()
    real_status = module._status
    registered = []

    def status_after_the_first_registered_and_failed(client, execution_arn):
        registered.append(register(sagemaker, "PendingManualApproval", 1, DIGEST))
        set_status(first, "Failed")
        return real_status(client, execution_arn)

    module._status = status_after_the_first_registered_and_failed
    assert find(module.handler, second) == {
        "RegisteredVersion": "1",
        "RegisteredArn": registered[0],
        "ClaimedBy": "none",
    }
    assert claim()["ExecutionArn"] == first  # nothing was taken over


def test_of_two_executions_taking_over_one_ended_claim_one_succeeds(account):
    """The second's take-over is conditional on the ETag it read: when the third took the
    claim over in between, the second's write fails (412), it reads the claim again and is
    held back by the third."""
    module = load_function()
    first, second, third = (start_execution("Executing") for _ in range(3))
    find(module.handler, first)
    set_status(first, "Failed")
    real_status = module._status
    calls = []

    def status_while_the_third_takes_over(sagemaker, execution_arn):
        calls.append(execution_arn)
        if len(calls) == 1:  # the second has read the claim (and its ETag) just now
            assert find(load_function().handler, third)["ClaimedBy"] == third
        return real_status(sagemaker, execution_arn)

    module._status = status_while_the_third_takes_over
    assert find(module.handler, second)["ClaimedBy"] == third
    assert calls == [first, third]
    assert claim()["ExecutionArn"] == third
    assert claim()["TakenOverFrom"]["ExecutionArn"] == first


def test_a_claim_held_by_a_translated_state_machines_execution(account, resolve_champion):
    """In the translated state machine the claimant is a Step Functions execution
    ($$.Execution.Id): RUNNING holds the claim, ABORTED (stopped) gives it up."""
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=PIPELINE,
        definition=json.dumps(
            {"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}}
        ),
        roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/StepFunctions",
    )["stateMachineArn"]
    first = sfn.start_execution(stateMachineArn=machine, name="first")["executionArn"]
    assert sfn.describe_execution(executionArn=first)["status"] == "RUNNING"
    second = sfn.start_execution(stateMachineArn=machine, name="second")["executionArn"]
    assert find(resolve_champion, first)["ClaimedBy"] == first
    assert find(resolve_champion, second)["ClaimedBy"] == first
    sfn.stop_execution(executionArn=first)
    assert find(resolve_champion, second)["ClaimedBy"] == second
    assert claim()["TakenOverFrom"] == {"ExecutionArn": first, "Status": "ABORTED"}


def test_an_object_that_is_no_claim_is_an_error_naming_it(account, resolve_champion):
    boto3.client("s3").put_object(Bucket=BUCKET, Key=CLAIM_KEY, Body=b"not json")
    with pytest.raises(Exception, match=rf"s3://{BUCKET}/{CLAIM_KEY} is not a claim"):
        find(resolve_champion, start_execution())
    with pytest.raises(ValueError, match="cannot name a claim"):
        find(resolve_champion, start_execution(), digest="../../elsewhere")
