"""cfn-lint (AWS's resource schemas, intrinsic functions, IAM policy and dependency rules) on
the generated templates: no errors and no warnings, for the configurations that shape them
differently. `make test` runs it, so CI does."""

from __future__ import annotations

import json

import pytest
from cfnlint.api import ManualArgs, lint
from cloudformation_equivalents import PlaceholderResolver
from stack_config import ACCOUNT, make_config

from pipelines.orchestrators import asl
from pipelines.stack.dr import dr_template
from pipelines.stack.template import build

DR = {"region": "us-west-2", "bucket": "my-ml-bucket-replica"}
CONFIGURATIONS = {
    "default": {},
    "everything": {
        "notifications": {"emails": ["ml-oncall@example.com", "data@example.com"]},
        "dr": DR,
        "stack": {"sagemaker_project_name": "fraud", "sagemaker_project_id": "p-abc123"},
    },
    "nothing-optional": {
        "notifications": {"enabled": False},
        "deployment": {"deploy_on_approval": False},
        "triggers": {"data_arrival_enabled": False, "schedule_enabled": False},
    },
    "mixed-case": {"pipeline": {"name": "FraudRetraining", "model_package_group": "FraudModels"}},
    "china": {"aws": {"region": "cn-north-1"}, "dr": {"region": "cn-northwest-1", "bucket": "rep"}},
    "stepfunctions": {"orchestrator": {"kind": "stepfunctions"}},
    "stepfunctions-external-topic": {
        "orchestrator": {
            "kind": "stepfunctions",
            "notification_topic_arn": "arn:aws:sns:us-east-1:210987654321:ml-alerts",
        },
        "notifications": {"enabled": False},
        "triggers": {"data_arrival_input": "prefix"},
    },
}
# Resource types CloudFormation does not offer in a region (cfn-lint's region schemas): there
# it refuses the change set, naming the type, and the README says so.
REGIONAL_GAPS = {
    "cn-north-1": ["AWS::SageMaker::ModelPackageGroup"],
    "cn-northwest-1": ["AWS::SageMaker::ModelPackageGroup"],
}


def problems(text: str, region: str) -> list[str]:
    # Errors and warnings; informational findings (I...) are advice, not defects.
    matches = lint(text, regions=[region], config=ManualArgs(regions=[region]))
    return [
        f"{m.rule.id} {m.message} ({m.path_string})"
        for m in matches
        if not m.rule.id.startswith("I")
    ]


@pytest.mark.parametrize("name", CONFIGURATIONS)
def test_the_template_passes_cfn_lint(context, name) -> None:
    sections = dict(CONFIGURATIONS[name])
    config = make_config(
        pipeline=sections.pop("pipeline", None), aws=sections.pop("aws", None), **sections
    )
    ctx = context(config)
    text = build(ctx).json()
    assert problems(text, config.aws.region) == unavailable(config.aws.region)
    machine = json.loads(text)["Resources"].get("StateMachine")
    if machine:
        # cfn-lint's ASL rule (E3601) skips a definition inside Fn::Sub: it also runs on the
        # definition CloudFormation resolves.
        resolved = PlaceholderResolver(json.loads(text), ACCOUNT, config.aws.region)
        definition = json.loads(resolved(machine["Properties"]["DefinitionString"]))
        assert asl.cfn_lint_problems(definition, config.aws.region) == []
    if ctx.settings.dr.enabled:
        region = ctx.settings.dr.region
        assert problems(dr_template(ctx).json(), region) == unavailable(region)


def unavailable(region: str) -> list[str]:
    return [
        f"E3006 Resource type '{kind}' does not exist in '{region}' "
        "(Resources/ModelPackageGroup/Type)"
        for kind in REGIONAL_GAPS.get(region, [])
    ]


def test_the_sagemaker_projects_variant_passes_cfn_lint(context) -> None:
    assert problems(build(context(for_sagemaker_projects=True)).json(), "us-east-1") == []


def test_cfn_lint_catches_what_cloudformation_would_refuse(context) -> None:
    """The check can fail: a planted schedule with an invalid flexible window mode."""
    template = build(context())
    template.resources["NightlySchedule"]["Properties"]["FlexibleTimeWindow"] = {
        "Mode": "SOMETIMES"
    }
    found = problems(template.json(), "us-east-1")
    assert any("SOMETIMES" in p and "FlexibleTimeWindow" in p for p in found), found
