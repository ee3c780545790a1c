"""Disaster recovery: the artifacts' model and data prefixes replicated to another region.

`[dr]` in pipeline.toml turns it on. Two stacks then hold it:
- `<stack>-dr`, in `[dr].region` (deployed first: S3 refuses a replication rule whose
  destination does not exist yet or is unversioned): the replica bucket (versioned,
  encrypted, private, retained when the stack goes) and the model package group a restore
  registers into (retained too);
- the main stack: the replication role S3 assumes, and the replication rules on the
  artifacts bucket (one per prefix, set by the bucket-settings custom resource with
  versioning, which replication requires on the source).

What is replicated by default: the models and evaluations (`<s3_prefix>/executions/`), the
input snapshots (`<s3_prefix>/snapshots/`), the sample (`<s3_prefix>/data/`) and the
data-arrival input prefix. Deletions are not replicated (delete markers stay home), so a
mistaken delete in the primary region leaves the replica whole. `dr restore`
(pipelines/stack/restore.py) registers and serves a replicated model from the DR region.
"""

from __future__ import annotations

from pipelines import arns
from pipelines.stack import cfn
from pipelines.stack.context import StackContext

REPLICATION_ROLE = "ReplicationRole"
REPLICA_BUCKET = "ReplicaBucket"
DR_MODEL_PACKAGE_GROUP = "ModelPackageGroup"


def dr_stack_name(ctx: StackContext) -> str:
    return f"{ctx.stack_name}-dr"


def prefixes(ctx: StackContext) -> list[str]:
    """The replicated prefixes, without any that another one already covers."""
    dr = ctx.settings.dr
    base = ctx.s3_prefix.strip("/")
    wanted = list(dr.prefixes) or [
        f"{base}/executions/",
        f"{base}/snapshots/",
        f"{base}/data/",
        ctx.triggers.input_prefix,
    ]
    unique = sorted(set(wanted))
    return [p for p in unique if not any(p != q and p.startswith(q) for q in unique)]


def replication_rules(ctx: StackContext) -> list[dict[str, str]]:
    """The rules the bucket-settings function puts on the artifacts bucket (custom resource
    properties are strings; see lambdas/bucket_settings.py for the S3 shape)."""
    dr = ctx.settings.dr
    return [
        {
            "Id": f"{ctx.pipeline}-dr-{index}",
            "Prefix": prefix,
            "Priority": str(index),
            "DestinationBucket": f"arn:{_partition(ctx)}:s3:::{dr.bucket}",
            "StorageClass": dr.storage_class,
        }
        for index, prefix in enumerate(prefixes(ctx), start=1)
    ]


def _partition(ctx: StackContext) -> str:
    return arns.partition(ctx.config.aws.region)


def add_to(template: cfn.Template, ctx: StackContext) -> None:
    """The main stack's part: the role S3 replicates with."""
    dr = ctx.settings.dr
    if not dr.enabled:
        return
    source = cfn.arn("s3", ctx.bucket, regional=False, account=False)
    kept = prefixes(ctx)
    template.add(
        REPLICATION_ROLE,
        "AWS::IAM::Role",
        {
            "RoleName": ctx.name("replication"),
            "Description": f"S3 replicates s3://{ctx.bucket} to s3://{dr.bucket} ({dr.region})",
            "AssumeRolePolicyDocument": cfn.service_trust("s3.amazonaws.com"),
            "Policies": [
                {
                    "PolicyName": "replicate-artifacts",
                    "PolicyDocument": cfn.policy(
                        {
                            "Sid": "ReadReplicationConfiguration",
                            "Effect": "Allow",
                            "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                            "Resource": source,
                        },
                        {
                            "Sid": "ReadSourceVersions",
                            "Effect": "Allow",
                            "Action": [
                                "s3:GetObjectVersionForReplication",
                                "s3:GetObjectVersionAcl",
                                "s3:GetObjectVersionTagging",
                            ],
                            "Resource": [_objects(ctx.bucket, p) for p in kept],
                        },
                        {
                            "Sid": "WriteReplicas",
                            "Effect": "Allow",
                            "Action": [
                                "s3:ReplicateObject",
                                "s3:ReplicateDelete",
                                "s3:ReplicateTags",
                            ],
                            "Resource": [_objects(dr.bucket, p) for p in kept],
                        },
                    ),
                }
            ],
            "Tags": cfn.tag_list(ctx.tags),
        },
    )
    template.output("ReplicaBucket", f"s3://{dr.bucket} ({dr.region})", "Disaster recovery copy")


def _objects(bucket: str, prefix: str) -> dict:
    return cfn.arn("s3", f"{bucket}/{prefix}*", regional=False, account=False)


def dr_template(ctx: StackContext) -> cfn.Template:
    """The `<stack>-dr` stack, deployed in `[dr].region`."""
    dr = ctx.settings.dr
    template = cfn.Template(
        description=(
            f"Disaster recovery of the {ctx.pipeline} pipeline in {dr.region}: the replica "
            f"of s3://{ctx.bucket} and the model package group restores register into. "
            "Generated by run_pipeline.py from pipeline.toml; do not edit."
        )
    )
    template.add(
        REPLICA_BUCKET,
        "AWS::S3::Bucket",
        {
            "BucketName": dr.bucket,
            # Replication writes object versions: the destination must be versioned too.
            "VersioningConfiguration": {"Status": "Enabled"},
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "Tags": cfn.tag_list(ctx.stack_tags()),
        },
        deletion_policy="Retain",
    )
    group = ctx.config.pipeline.model_package_group
    template.add(
        DR_MODEL_PACKAGE_GROUP,
        "AWS::SageMaker::ModelPackageGroup",
        {
            "ModelPackageGroupName": group,
            "ModelPackageGroupDescription": (
                f"Models of the {ctx.pipeline} pipeline restored from the replica in {dr.region}"
            ),
            "Tags": cfn.tag_list(ctx.stack_tags()),
        },
        deletion_policy="Retain",
    )
    template.output("ReplicaBucketName", cfn.ref(REPLICA_BUCKET), "Where the replicas land")
    template.output(
        "ModelPackageGroupArn", cfn.ref(DR_MODEL_PACKAGE_GROUP), "Where restores register"
    )
    return template
