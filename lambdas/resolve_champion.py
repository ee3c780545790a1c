"""Lambda: the registry lookups the pipeline makes. Runs as two LambdaSteps of one function
(on AWS Lambda, or in the local engine against its registry, which answers the same
SageMaker API calls).

ResolveChampion, event {"ModelPackageGroupName": "...", "NoChampionUri": "s3://.../"}: the
champion, the newest approved model of the group. Output parameters (strings):

    ChampionModelDataUrl  the champion's model.tar.gz, or NoChampionUri (a prefix holding a
                          NO_CHAMPION marker, so the Evaluate step always has an input)
    ChampionVersion       its version number, or "none" when there is no champion
    ChampionArn           its model package ARN, or "none"
    ChampionBaselineUrl   the folder holding the champion's drift-check baseline (its
                          DriftCheckBaselines.ModelDataQuality statistics.json and
                          constraints.json), or NoChampionUri when there is no champion or
                          it was registered without one: DriftCheck then reports
                          "no_baseline" and the pipeline retrains

FindRegisteredModel, event {"ModelPackageGroupName": "...", "ModelContentDigest": "...",
"ClaimPrefix": "s3://bucket/<prefix>/registry-claims/", "ExecutionArn": "..."}: whether this
execution may register the model whose files have that digest (Evaluate computes it;
RegisterModel records it as CustomerMetadataProperties.ModelContentDigest):

    RegisteredVersion     the newest version recording the digest, or "none"
    RegisteredArn         its model package ARN, or "none"
    ClaimedBy             the execution holding the claim to register the model: this one's
                          own ARN means "go ahead"; "none" when a version already records it

A version recording the digest settles it: a rerun whose model is already registered (a
cache hit, or retrained to the same files) registers nothing, whatever version came since.
Otherwise the execution claims the digest: it creates `<ClaimPrefix><group>/<digest>.json`
(naming itself) with an S3 conditional write, `If-None-Match: *`, which S3 lets exactly one
writer make. Identical executions that all found no version a moment ago are thus told apart:
one holds the claim, the others are held back. A claim already there:

- held by this very execution (the step retried): still its own;
- held by an execution still running (Executing, Stopping; a translated state machine's
  RUNNING or PENDING_REDRIVE): held back, ClaimedBy names it;
- held by one that ended (Succeeded, Failed, Stopped; or whose record is gone): the versions
  are looked up again (it may have registered before it ended); with none, the claim is
  taken over with `If-Match: <the claim's ETag>`, so of several executions taking over the
  same ended claim only one succeeds. A claimant that crashed never blocks the model.

Claimants are SageMaker pipeline executions (DescribePipelineExecution) or, in the translated
state machine (`$$.Execution.Id`), Step Functions executions (DescribeExecution).

Self-contained: only the standard library and botocore (boto3's core; both in the Lambda
Python runtime).
Permissions: ListModelPackages and DescribeModelPackage on the group; for FindRegisteredModel
also s3:PutObject and s3:GetObject on the claims, DescribePipelineExecution on the pipeline
(and states:DescribeExecution on the translated machine's executions).
"""

from __future__ import annotations

import datetime
import functools
import json
import re

import botocore.session
from botocore.exceptions import ClientError

CONTENT_DIGEST = "ModelContentDigest"
_MISSING_GROUP = ("ValidationException", "ResourceNotFound")
# An execution the service has no record of (SageMaker documents ResourceNotFound; moto, like
# some SageMaker paths, answers ValidationException; Step Functions ExecutionDoesNotExist).
_MISSING_EXECUTION = ("ResourceNotFound", "ValidationException", "ExecutionDoesNotExist")
# A claim changing hands this many times while one execution settles it is an error, not a
# wait: every round means another execution made progress.
CLAIM_ATTEMPTS = 5
# Statuses of a claimant that may still register (SageMaker; Step Functions).
_STILL_RUNNING = {"Executing", "Stopping", "RUNNING", "PENDING_REDRIVE"}
_NO_RECORD = "no longer on record"
# What a group or digest may be in a claim's key (a group name; Evaluate's "sha256:<hex>"):
# nothing that could move the key out of the claims' prefix.
_KEY_PART = re.compile(r"[A-Za-z0-9:_-]{1,200}")


@functools.cache
def _client(service: str):
    """The environment's client for `service`, made at its first invocation and reused by the
    later ones (Lambda's best practices: "Take advantage of execution environment reuse",
    initialize SDK clients once, not per invocation); a warm invocation no longer pays ~10 ms
    for a new client. botocore's own session, not boto3's: the same client, calls and errors
    (boto3.client is a wrapper around it), without importing boto3 (its resources, its
    session) or registering its handlers, which this function never uses: about 0.1 CPU s
    less of every cold start, measured on the local engine (import and client)."""
    return _session().create_client(service)


@functools.cache
def _session():
    return botocore.session.get_session()


def handler(event: dict, context: object) -> dict:
    group = event["ModelPackageGroupName"]
    sagemaker = _client("sagemaker")
    if CONTENT_DIGEST in event:
        return _find_registered(sagemaker, group, event)
    champion = _newest(sagemaker, group, "Approved")
    return {
        "ChampionModelDataUrl": champion["url"] if champion else event["NoChampionUri"],
        "ChampionVersion": champion["version"] if champion else "none",
        "ChampionArn": champion["arn"] if champion else "none",
        "ChampionBaselineUrl": (champion and champion["baseline"]) or event["NoChampionUri"],
    }


def baseline_folder(package: dict) -> str | None:
    """The S3 folder of a package's data-quality baseline: statistics.json and
    constraints.json side by side (DriftCheck reads them as one input), or None."""
    quality = (package.get("DriftCheckBaselines") or {}).get("ModelDataQuality") or {}
    statistics = (quality.get("Statistics") or {}).get("S3Uri")
    constraints = (quality.get("Constraints") or {}).get("S3Uri")
    if not statistics or not constraints:
        return None
    folder = statistics.rsplit("/", 1)[0] + "/"
    if (statistics, constraints) != (folder + "statistics.json", folder + "constraints.json"):
        raise ValueError(
            f"{package.get('ModelPackageArn')}: its drift-check baseline must be "
            f"statistics.json and constraints.json in one folder (DriftCheck reads that "
            f"folder), got {statistics} and {constraints}"
        )
    return folder


def _holding(sagemaker, group: str, digest: str) -> dict | None:
    """The newest version of the group recording `digest`, or None. The summaries do not
    carry CustomerMetadataProperties, so each version is described, newest first, until
    one matches."""
    if not digest or digest == "None":
        return None
    request = {"ModelPackageGroupName": group, "SortBy": "CreationTime", "SortOrder": "Descending"}
    while True:
        try:
            page = sagemaker.list_model_packages(**request)
        except ClientError as error:
            if error.response["Error"]["Code"] not in _MISSING_GROUP:
                raise
            return None
        for summary in page["ModelPackageSummaryList"]:
            package = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
            if (package.get("CustomerMetadataProperties") or {}).get(CONTENT_DIGEST) == digest:
                return {
                    "arn": summary["ModelPackageArn"],
                    "version": str(package.get("ModelPackageVersion", "")),
                }
        if not page.get("NextToken"):
            return None
        request["NextToken"] = page["NextToken"]


def _newest(sagemaker, group: str, approval_status: str | None) -> dict | None:
    """The newest version in the group (with that approval status, if given), or None."""
    request = {
        "ModelPackageGroupName": group,
        "SortBy": "CreationTime",
        "SortOrder": "Descending",
        "MaxResults": 1,
    }
    if approval_status:
        request["ModelApprovalStatus"] = approval_status
    try:
        summaries = sagemaker.list_model_packages(**request)["ModelPackageSummaryList"]
    except ClientError as error:
        # A group that does not exist yet simply has no versions.
        if error.response["Error"]["Code"] not in _MISSING_GROUP:
            raise
        return None
    if not summaries:
        return None
    arn = summaries[0]["ModelPackageArn"]
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    return {
        "arn": arn,
        "url": package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"],
        "version": str(package.get("ModelPackageVersion", "")),
        "baseline": baseline_folder(package),
    }


# -- FindRegisteredModel: the version holding a digest, or the claim to register it ---------


class ClaimError(RuntimeError):
    """A claim this function cannot settle (not one it wrote, or changing hands too often)."""


def _find_registered(sagemaker, group: str, event: dict) -> dict:
    digest, me = event[CONTENT_DIGEST], event["ExecutionArn"]
    found = _holding(sagemaker, group, digest)
    holder = "none"
    if found is None:
        if not digest or digest == "None":
            print("no content digest: nothing to claim, nothing to deduplicate on")
            holder = me
        else:
            holder, found = _claim(sagemaker, group, digest, event["ClaimPrefix"], me)
    if found is not None:
        print(f"version {found['version']} ({found['arn']}) already records {digest}")
    return {
        "RegisteredVersion": found["version"] if found else "none",
        "RegisteredArn": found["arn"] if found else "none",
        "ClaimedBy": holder,
    }


def _claim(sagemaker, group: str, digest: str, prefix: str, me: str) -> tuple[str, dict | None]:
    """(the execution holding the claim, None), or ("none", the version found meanwhile)."""
    bucket, key = _claim_location(prefix, group, digest)
    where = f"s3://{bucket}/{key}"
    s3 = _client("s3")
    for _ in range(CLAIM_ATTEMPTS):
        if _put(s3, bucket, key, _claim_body(me, group, digest), IfNoneMatch="*"):
            print(f"{me} claimed {where}")
            return me, None
        current = _read_claim(s3, bucket, key)
        if current is None:
            continue  # removed since: claim it afresh
        etag, holder = current
        if holder == me:
            print(f"{me} already holds {where} (the step ran again)")
            return me, None
        status = _status(sagemaker, holder)
        if status in _STILL_RUNNING:
            print(f"{where} is held by {holder} ({status}): this execution registers nothing")
            return holder, None
        # The claimant ended: registered before it did, or never will.
        found = _holding(sagemaker, group, digest)
        if found is not None:
            return "none", found
        body = _claim_body(me, group, digest, {"ExecutionArn": holder, "Status": status})
        if _put(s3, bucket, key, body, IfMatch=etag):
            print(f"{me} took {where} over from {holder} ({status}, nothing registered)")
            return me, None
    raise ClaimError(f"{where} changed hands {CLAIM_ATTEMPTS} times while {me} tried to settle it")


def _claim_location(prefix: str, group: str, digest: str) -> tuple[str, str]:
    if not prefix.startswith("s3://"):
        raise ValueError(f"ClaimPrefix must be an s3:// URI, got {prefix!r}")
    for field, value in (("ModelPackageGroupName", group), (CONTENT_DIGEST, digest)):
        if not _KEY_PART.fullmatch(value):
            raise ValueError(f"{field} {value!r} cannot name a claim (letters, digits, :_-)")
    bucket, _, key_prefix = prefix.removeprefix("s3://").partition("/")
    if key_prefix and not key_prefix.endswith("/"):
        key_prefix += "/"
    return bucket, f"{key_prefix}{group}/{digest}.json"


def _claim_body(me: str, group: str, digest: str, taken_over_from: dict | None = None) -> bytes:
    claim = {
        "ExecutionArn": me,
        "ModelPackageGroupName": group,
        CONTENT_DIGEST: digest,
        "ClaimedAt": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    if taken_over_from:
        claim["TakenOverFrom"] = taken_over_from
    return json.dumps(claim, indent=2).encode()


def _put(s3, bucket: str, key: str, body: bytes, **condition: str) -> bool:
    """A conditional PutObject: True if written, False if the condition did not hold (412),
    the object went away (404 on If-Match) or a concurrent write conflicted (409: S3 says
    to retry)."""
    try:
        s3.put_object(
            Bucket=bucket, Key=key, Body=body, ContentType="application/json", **condition
        )
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"):
            return False
        raise
    return True


def _read_claim(s3, bucket: str, key: str) -> tuple[str, str] | None:
    """(ETag, the claimant's ARN) of the claim there, or None when there is none."""
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response["Error"]["Code"] == "NoSuchKey":
            return None
        raise
    text = response["Body"].read()
    try:
        holder = json.loads(text)["ExecutionArn"]
    except (ValueError, KeyError, TypeError):
        holder = None
    if not isinstance(holder, str) or not holder.startswith("arn:"):
        raise ClaimError(
            f"s3://{bucket}/{key} is not a claim this function wrote (no ExecutionArn): "
            "remove it, and FindRegisteredModel claims the model afresh"
        )
    return response["ETag"], holder


def _status(sagemaker, execution_arn: str) -> str:
    """The claimant's status as its service reports it, or _NO_RECORD."""
    service = execution_arn.split(":")[2] if execution_arn.count(":") >= 5 else ""
    try:
        if service == "states":  # the translated state machine's execution
            client = _client("stepfunctions")
            return client.describe_execution(executionArn=execution_arn)["status"]
        if service == "sagemaker":
            return sagemaker.describe_pipeline_execution(PipelineExecutionArn=execution_arn)[
                "PipelineExecutionStatus"
            ]
    except ClientError as error:
        # Gone from the service's records: it ended long ago (or its pipeline was deleted).
        if error.response["Error"]["Code"] in _MISSING_EXECUTION:
            return _NO_RECORD
        raise
    raise ClaimError(f"the claimant {execution_arn!r} is no pipeline or state machine execution")
