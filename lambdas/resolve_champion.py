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

FindRegisteredModel, event {"ModelPackageGroupName": "...", "ModelContentDigest": "..."}:
the version whose CustomerMetadataProperties.ModelContentDigest is the given digest of the
model's files (Evaluate computes it; RegisterModel records it), newest first:

    RegisteredVersion     its version number, or "none": the model is not registered yet
    RegisteredArn         its model package ARN, or "none"

A rerun whose model is already registered (a cache hit, or retrained to the same files)
registers nothing, whatever version came since.

Self-contained: only the standard library and boto3 (both in the Lambda Python runtime).
"""

from __future__ import annotations

import boto3
from botocore.exceptions import ClientError

CONTENT_DIGEST = "ModelContentDigest"
_MISSING_GROUP = ("ValidationException", "ResourceNotFound")


def handler(event: dict, context: object) -> dict:
    group = event["ModelPackageGroupName"]
    sagemaker = boto3.client("sagemaker")
    if CONTENT_DIGEST in event:
        found = _holding(sagemaker, group, event[CONTENT_DIGEST])
        return {
            "RegisteredVersion": found["version"] if found else "none",
            "RegisteredArn": found["arn"] if found else "none",
        }
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
