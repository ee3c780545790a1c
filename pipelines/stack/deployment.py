"""Deploy on approval: a rule on approvals in the project's group invokes the deploy
function (`lambdas/deploy_model.py`, defined with its role in lambdas.py).

  <p>-model-approved   EventBridge rule: "SageMaker Model Package State Change", Approved,
                       Completed, the project's group -> <p>-deploy-model (retries, DLQ)

EventBridge invokes the function asynchronously; a deployment that still fails after
Lambda's own retries (e.g. the endpoint stayed busy) lands in the triggers DLQ with its
event, for a redrive or a manual `deploy`. Only this rule may invoke the function.
"""

from __future__ import annotations

from pipelines.eventbridge.patterns import approval_rule
from pipelines.stack import cfn
from pipelines.stack.context import StackContext
from pipelines.stack.lambdas import function_arn, logical_id
from pipelines.stack.shared_resources import DEAD_LETTER_QUEUE
from pipelines.stack.triggers import dead_letter_config, retry_policy

APPROVAL_RULE = "ModelApprovedRule"
# Lambda's own asynchronous retries before the on-failure destination.
LAMBDA_RETRY_ATTEMPTS = 2


def add_to(template: cfn.Template, ctx: StackContext) -> None:
    if not ctx.deployment.deploy_on_approval:
        return
    rule = approval_rule(ctx.config)
    function = logical_id("deploy-model", "Function")
    template.add(
        APPROVAL_RULE,
        "AWS::Events::Rule",
        {
            "Name": rule.name(ctx.pipeline),
            "Description": rule.description,
            "EventPattern": rule.pattern,
            "State": "ENABLED",
            "Targets": [
                {
                    "Id": "deploy-model",
                    "Arn": function_arn("deploy-model"),
                    "RetryPolicy": retry_policy(ctx),
                    "DeadLetterConfig": dead_letter_config(),
                }
            ],
            "Tags": cfn.tag_list(ctx.tags),
        },
    )
    template.add(
        "DeployModelInvokePermission",
        "AWS::Lambda::Permission",
        {
            "FunctionName": cfn.ref(function),
            "Action": "lambda:InvokeFunction",
            "Principal": "events.amazonaws.com",
            "SourceArn": cfn.get_att(APPROVAL_RULE, "Arn"),
            "SourceAccount": cfn.ref("AWS::AccountId"),
        },
    )
    template.add(
        "DeployModelInvokeConfig",
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": cfn.ref(function),
            "Qualifier": "$LATEST",
            "MaximumRetryAttempts": LAMBDA_RETRY_ATTEMPTS,
            "MaximumEventAgeInSeconds": ctx.triggers.max_event_age_seconds,
            "DestinationConfig": {
                "OnFailure": {"Destination": cfn.get_att(DEAD_LETTER_QUEUE, "Arn")}
            },
        },
    )
