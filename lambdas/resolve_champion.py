"""Lambda: find the champion, the newest approved model of a Model Package Group, and the
newest registered model whatever its status.

Runs as the pipeline's ResolveChampion LambdaStep (on AWS Lambda, or in the local engine
against its registry, which answers the same SageMaker API calls). Input event:

    {"ModelPackageGroupName": "...", "NoChampionUri": "s3://.../registry/no-champion/"}

Output parameters (all strings, as the LambdaStep declares them):

    ChampionModelDataUrl  the champion's model.tar.gz, or NoChampionUri (a prefix holding a
                          NO_CHAMPION marker, so the Evaluate step always has an input)
    ChampionVersion       its version number, or "none" when there is no champion
    ChampionArn           its model package ARN, or "none"
    LatestModelDataUrl    the newest registered version's model.tar.gz (any approval status),
                          or "none": a rerun whose Train step was a cache hit produces this
                          very URL, and the pipeline does not register it a second time
    LatestVersion         that version's number, or "none"

Self-contained: only the standard library and boto3 (both in the Lambda Python runtime).
"""

from __future__ import annotations

import boto3
from botocore.exceptions import ClientError


def handler(event: dict, context: object) -> dict:
    group = event["ModelPackageGroupName"]
    sagemaker = boto3.client("sagemaker")
    champion = _newest(sagemaker, group, "Approved")
    latest = _newest(sagemaker, group, None)
    return {
        "ChampionModelDataUrl": champion["url"] if champion else event["NoChampionUri"],
        "ChampionVersion": champion["version"] if champion else "none",
        "ChampionArn": champion["arn"] if champion else "none",
        "LatestModelDataUrl": latest["url"] if latest else "none",
        "LatestVersion": latest["version"] if latest else "none",
    }


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
        if error.response["Error"]["Code"] not in ("ValidationException", "ResourceNotFound"):
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
    }
