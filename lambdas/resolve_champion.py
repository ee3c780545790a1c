"""Lambda: find the champion, the newest approved model of a Model Package Group.

Runs as the pipeline's ResolveChampion LambdaStep (on AWS Lambda, or in the local engine
against its registry, which answers the same SageMaker API calls). Input event:

    {"ModelPackageGroupName": "...", "NoChampionUri": "s3://.../registry/no-champion/"}

Output parameters (all strings, as the LambdaStep declares them):

    ChampionModelDataUrl  the champion's model.tar.gz, or NoChampionUri (a prefix holding a
                          NO_CHAMPION marker, so the Evaluate step always has an input)
    ChampionVersion       its version number, or "none" when there is no champion
    ChampionArn           its model package ARN, or "none"

Self-contained: only the standard library and boto3 (both in the Lambda Python runtime).
"""

from __future__ import annotations

import boto3
from botocore.exceptions import ClientError


def handler(event: dict, context: object) -> dict:
    group = event["ModelPackageGroupName"]
    no_champion = event["NoChampionUri"]
    sagemaker = boto3.client("sagemaker")
    try:
        summaries = sagemaker.list_model_packages(
            ModelPackageGroupName=group,
            ModelApprovalStatus="Approved",
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=1,
        )["ModelPackageSummaryList"]
    except ClientError as error:
        # A group that does not exist yet simply has no champion.
        if error.response["Error"]["Code"] not in ("ValidationException", "ResourceNotFound"):
            raise
        summaries = []
    if not summaries:
        return {
            "ChampionModelDataUrl": no_champion,
            "ChampionVersion": "none",
            "ChampionArn": "none",
        }
    arn = summaries[0]["ModelPackageArn"]
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    container = package["InferenceSpecification"]["Containers"][0]
    return {
        "ChampionModelDataUrl": container["ModelDataUrl"],
        "ChampionVersion": str(package.get("ModelPackageVersion", "")),
        "ChampionArn": arn,
    }
