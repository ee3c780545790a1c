"""The artifacts bucket's own settings, as a custom resource of the stack.

The bucket is yours (`[aws].bucket`): it exists before the stack, holds the Lambda code the
stack deploys, and outlives it. What the project needs from it is bucket-level
configuration CloudFormation can only set on buckets it created: EventBridge notifications
(data arrival) and versioning plus replication rules (`[dr]`). The custom resource
`Custom::BucketSettings`, served by `lambdas/bucket_settings.py`, merges exactly those into
the bucket's current configuration on create and update, leaves everyone else's
notifications and replication rules alone, and on delete takes back what it added (it turns
EventBridge notifications off only if they were off before; versioning, once on, stays on).
It is how the AWS CDK configures notifications on imported buckets, too.
"""

from __future__ import annotations

from pipelines.stack import cfn, dr
from pipelines.stack.context import StackContext
from pipelines.stack.lambdas import function_arn

BUCKET_SETTINGS = "ArtifactsBucketSettings"


def add_to(template: cfn.Template, ctx: StackContext) -> None:
    if "bucket-settings" not in ctx.functions:
        return
    properties: dict = {
        "ServiceToken": function_arn("bucket-settings"),
        "BucketName": ctx.bucket,
        # Custom resource properties reach the function as strings.
        "EventBridge": "true" if ctx.triggers.data_arrival_enabled else "false",
        "RuleIdPrefix": f"{ctx.pipeline}-dr-",
    }
    if ctx.settings.dr.enabled:
        properties["ReplicationRoleArn"] = cfn.get_att(dr.REPLICATION_ROLE, "Arn")
        properties["ReplicationRules"] = dr.replication_rules(ctx)
    template.add(BUCKET_SETTINGS, "Custom::BucketSettings", properties)
