"""Disaster recovery in the templates: the replication role and rules in the main stack, the
replica bucket and the restore's model package group in the DR region's stack."""

from __future__ import annotations

import json

from cloudformation_equivalents import PlaceholderResolver
from stack_config import ACCOUNT, BUCKET, NAME, REGION, make_config, statements

from pipelines.stack.dr import dr_stack_name, dr_template, prefixes
from pipelines.stack.template import build

REPLICA = "my-ml-bucket-replica"
DR = {"region": "us-west-2", "bucket": REPLICA}


def test_the_replication_rules_cover_the_model_and_data_prefixes(context) -> None:
    ctx = context(make_config(dr=DR))
    assert prefixes(ctx) == [
        f"{NAME}/data/",
        f"{NAME}/executions/",
        f"{NAME}/incoming/",
        f"{NAME}/snapshots/",
    ]
    body = json.loads(build(ctx).json())
    settings = body["Resources"]["ArtifactsBucketSettings"]["Properties"]
    assert settings["BucketName"] == BUCKET
    assert settings["ReplicationRoleArn"] == {"Fn::GetAtt": ["ReplicationRole", "Arn"]}
    assert settings["ReplicationRules"] == [
        {
            "Id": f"{NAME}-dr-{index}",
            "Prefix": prefix,
            "Priority": str(index),
            "DestinationBucket": f"arn:aws:s3:::{REPLICA}",
            "StorageClass": "STANDARD",
        }
        for index, prefix in enumerate(prefixes(ctx), start=1)
    ]


def test_configured_prefixes_replace_the_defaults_and_nested_ones_collapse(context) -> None:
    ctx = context(
        make_config(
            dr={
                **DR,
                "prefixes": ["models/", "models/v2/", "landing/"],
                "storage_class": "STANDARD_IA",
            }
        )
    )
    assert prefixes(ctx) == ["landing/", "models/"]
    rules = json.loads(build(ctx).json())["Resources"]["ArtifactsBucketSettings"]["Properties"][
        "ReplicationRules"
    ]
    assert {r["StorageClass"] for r in rules} == {"STANDARD_IA"}


def test_the_replication_role_reads_only_the_prefixes_and_writes_only_the_replica(context):
    body = json.loads(build(context(make_config(dr=DR))).json())
    role = PlaceholderResolver(body, ACCOUNT, REGION)(body["Resources"]["ReplicationRole"])

    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "s3.amazonaws.com"}
    grants = statements(role)
    assert grants["ReadReplicationConfiguration"]["Resource"] == f"arn:aws:s3:::{BUCKET}"
    assert grants["ReadSourceVersions"]["Resource"] == [
        f"arn:aws:s3:::{BUCKET}/{NAME}/{p}/*"
        for p in ("data", "executions", "incoming", "snapshots")
    ]
    assert grants["WriteReplicas"]["Resource"] == [
        f"arn:aws:s3:::{REPLICA}/{NAME}/{p}/*"
        for p in ("data", "executions", "incoming", "snapshots")
    ]
    assert sorted(grants["WriteReplicas"]["Action"]) == [
        "s3:ReplicateDelete",
        "s3:ReplicateObject",
        "s3:ReplicateTags",
    ]
    # The bucket-settings function may hand S3 this role, and only to S3.
    passing = statements(body["Resources"]["BucketSettingsRole"])["PassReplicationRole"]
    assert passing["Resource"] == {"Fn::GetAtt": ["ReplicationRole", "Arn"]}
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "s3.amazonaws.com"}}


def test_dr_without_data_arrival_still_sets_the_bucket(context) -> None:
    body = json.loads(
        build(context(make_config(dr=DR, triggers={"data_arrival_enabled": False}))).json()
    )
    settings = body["Resources"]["ArtifactsBucketSettings"]["Properties"]
    assert settings["EventBridge"] == "false"
    assert len(settings["ReplicationRules"]) == 4


def test_the_dr_stack_holds_a_versioned_private_retained_replica(context) -> None:
    ctx = context(make_config(dr=DR))
    assert dr_stack_name(ctx) == f"{NAME}-dr"
    body = json.loads(dr_template(ctx).json())

    bucket = body["Resources"]["ReplicaBucket"]
    assert bucket["Properties"]["BucketName"] == REPLICA
    # Replication writes versions: the destination must be versioned too.
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Retain", "Retain")
    group = body["Resources"]["ModelPackageGroup"]
    assert group["Properties"]["ModelPackageGroupName"] == "fraud-detection-models"
    assert group["DeletionPolicy"] == "Retain"


def test_without_dr_there_is_no_replication(template) -> None:
    body = template()
    assert "ReplicationRole" not in body["Resources"]
    assert "ReplicationRules" not in body["Resources"]["ArtifactsBucketSettings"]["Properties"]
