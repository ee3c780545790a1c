"""The Step Functions state machine around the pipeline, when `[orchestrator].kind =
"stepfunctions"` (the triggers then start it instead of the pipeline: orchestrator.py).

  <[orchestrator].state_machine_name>  STANDARD state machine: the ASL that
                       pipelines/orchestrators/stepfunctions.py generates for this definition
  <p>-state-machine    its role: exactly `stepfunctions.iam_statements()`, the project's
                       topic taken from the stack

The definition is the generator's JSON in `DefinitionString`, wrapped in `Fn::Sub` when the
topic is the one this stack creates: `${NotificationTopic}` (CloudFormation puts in its ARN and
creates the topic first). Why not `Definition` with `DefinitionSubstitutions`, which cfn-lint would
also check against the ASL schema: moto's CloudFormation reads `DefinitionString` only, and
resolves `Fn::Sub`, so the machine deployed in the tests is the one AWS would run; the tests
run cfn-lint's ASL rule (E3601) on the resolved definition instead. Any other `${` in the
text is escaped (`${!`), as Fn::Sub requires for literal text.

No CloudWatch Logs and no X-Ray tracing: a Standard workflow keeps every execution's full
history in Step Functions for 90 days, and every outcome is published to the topic. Logging
would need the log-delivery actions, granted on "*" (they name no resource: Step Functions
developer guide, "Logging using CloudWatch Logs"), in a role otherwise scoped to named
resources.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pipelines.arns import arn
from pipelines.config import ConfigError
from pipelines.orchestrators import asl, stepfunctions
from pipelines.settings.orchestrator import load_orchestrator
from pipelines.stack import cfn
from pipelines.stack.context import StackContext
from pipelines.stack.notifications import TOPIC
from pipelines.stack.orchestrator import STATE_MACHINE
from pipelines.stack.pipeline import PIPELINE

STATE_MACHINE_ROLE = "StateMachineRole"


def enabled(ctx: StackContext) -> bool:
    return ctx.settings.orchestrator.kind == "stepfunctions"


def add_to(template: cfn.Template, ctx: StackContext) -> None:
    if not enabled(ctx):
        return
    name = ctx.settings.orchestrator.state_machine_name
    topic, in_stack = notification_topic(ctx)
    replacements = {topic: TOPIC} if in_stack else {}
    role = template.add(
        STATE_MACHINE_ROLE,
        "AWS::IAM::Role",
        {
            "RoleName": ctx.name("state-machine"),
            "Description": (
                f"Step Functions state machine {name}: runs {ctx.pipeline}, deploys approved "
                "models, notifies"
            ),
            # Step Functions in this account, for state machines of this region (the
            # confused-deputy guard of the developer guide's "Creating an IAM role for your
            # state machine"); iam:PassRole decides which state machine gets the role.
            "AssumeRolePolicyDocument": cfn.service_trust(
                "states.amazonaws.com",
                {
                    "ArnLike": {"aws:SourceArn": cfn.arn("states", "stateMachine:*")},
                    "StringEquals": {"aws:SourceAccount": cfn.ref("AWS::AccountId")},
                },
            ),
            "Policies": [
                {
                    "PolicyName": "orchestrate",
                    "PolicyDocument": cfn.policy(*role_statements(ctx, replacements)),
                }
            ],
            "Tags": cfn.tag_list(ctx.tags),
        },
    )
    template.add(
        STATE_MACHINE,
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineName": name,
            "StateMachineType": "STANDARD",
            "DefinitionString": definition_string(ctx, replacements),
            "RoleArn": cfn.get_att(role, "Arn"),
            "Tags": cfn.tag_list(ctx.tags),
        },
        # Runs start only once the pipeline they start exists, and end before it goes.
        depends_on=[PIPELINE],
    )
    template.output(
        "StateMachineArn",
        cfn.ref(STATE_MACHINE),
        "What the schedule and data arrivals start (runs the pipeline, deploys, notifies)",
    )


def notification_topic(ctx: StackContext) -> tuple[str, bool]:
    """The topic the machine publishes to, and whether this stack creates it (then the
    template names it by reference)."""
    topic = load_orchestrator(ctx.config, ctx.target).notification_topic_arn
    own = arn("sns", ctx.target.region, ctx.account, ctx.name("notifications"))
    if topic != own:
        return topic, False
    if not ctx.notifications.enabled:
        raise ConfigError(
            '[orchestrator].kind = "stepfunctions" notifies every outcome through SNS, but '
            f"[notifications].enabled = false: the stack creates no topic {own}. Enable "
            "[notifications], or set [orchestrator].notification_topic_arn to a topic that "
            "exists"
        )
    return topic, True


def machine(ctx: StackContext) -> dict[str, Any]:
    """The generated ASL document for the stack's definition, checked."""
    document = stepfunctions.state_machine(ctx.config, ctx.target, json.loads(ctx.definition))
    problems = asl.structure_problems(document)
    if problems:  # a bug in the generator, never a user error
        raise RuntimeError("generated state machine breaks the rules: " + "; ".join(problems))
    return document


def definition_string(ctx: StackContext, replacements: Mapping[str, str]) -> str | dict[str, str]:
    """`machine(ctx)` as JSON text; with `replacements`, as Fn::Sub text where each of those
    strings becomes a reference to its logical ID and every other "${" stays literal."""
    document = machine(ctx)
    if not replacements:
        return json.dumps(document, separators=(",", ":"))
    return cfn.sub(json.dumps(_for_sub(document, replacements), separators=(",", ":")))


def role_statements(ctx: StackContext, replacements: Mapping[str, str]) -> list[dict[str, Any]]:
    """`stepfunctions.iam_statements()`, with the stack's own resources by reference."""
    statements = stepfunctions.iam_statements(ctx.config, ctx.target)
    return _referenced(statements, {value: cfn.ref(id_) for value, id_ in replacements.items()})


def _for_sub(value: Any, replacements: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        if value in replacements:
            return "${" + replacements[value] + "}"
        return value.replace("${", "${!")
    if isinstance(value, dict):
        return {_for_sub(k, {}): _for_sub(v, replacements) for k, v in value.items()}
    if isinstance(value, list):
        return [_for_sub(item, replacements) for item in value]
    return value


def _referenced(value: Any, replacements: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return replacements.get(value, value)
    if isinstance(value, dict):
        return {k: _referenced(v, replacements) for k, v in value.items()}
    if isinstance(value, list):
        return [_referenced(item, replacements) for item in value]
    return value
