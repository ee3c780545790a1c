"""`[orchestrator].kind = "stepfunctions"`: the stack holds the Standard state machine around
the pipeline and its role, and both triggers start it (read as CloudFormation resolves the
template, see test_template.py)."""

from __future__ import annotations

import json

import boto3
import pytest
from cloudformation_equivalents import PlaceholderResolver, calls
from stack_config import ACCOUNT, BUCKET, NAME, REGION, make_config, resources_of, statements

from pipelines.config import ConfigError
from pipelines.conformance import shapes
from pipelines.orchestrators import stepfunctions
from pipelines.stack import deploy, state_machine
from pipelines.stack.context import build_context
from pipelines.stack.template import build

MACHINE = f"{NAME}-orchestrator"
MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{MACHINE}"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:{NAME}-notifications"
STEPFUNCTIONS = {"kind": "stepfunctions"}


def resolved(body: dict) -> dict:
    return PlaceholderResolver(body, ACCOUNT, REGION)(body["Resources"])


def stepfunctions_config(**sections: dict):
    orchestrator = {**STEPFUNCTIONS, **sections.pop("orchestrator", {})}
    return make_config(orchestrator=orchestrator, **sections)


def test_the_stack_holds_the_state_machine_and_its_role(template, definition) -> None:
    config = stepfunctions_config()
    body = template(config)
    plain = template()

    added = {k: v["Type"] for k, v in body["Resources"].items() if k not in plain["Resources"]}
    assert added == {
        "StateMachine": "AWS::StepFunctions::StateMachine",
        "StateMachineRole": "AWS::IAM::Role",
    }
    resource = body["Resources"]["StateMachine"]
    # The pipeline exists before anything can start a run, and is deleted after.
    assert resource["DependsOn"] == ["Pipeline"]
    machine = resolved(body)["StateMachine"]["Properties"]
    assert machine["StateMachineName"] == MACHINE
    assert machine["StateMachineType"] == "STANDARD"
    assert machine["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{NAME}-state-machine"
    assert machine["Tags"] == [
        {"Key": "project", "Value": NAME},
        {"Key": "managed-by", "Value": "run_pipeline.py"},
    ]
    # What CloudFormation hands Step Functions is the generator's document, the stack's own
    # topic put in by reference.
    generated = stepfunctions.state_machine(
        config, config.target("sagemaker"), json.loads(definition)
    )
    assert json.loads(machine["DefinitionString"]) == generated
    text = resource["Properties"]["DefinitionString"]["Fn::Sub"]
    assert '"TopicArn":"${NotificationTopic}"' in text and TOPIC_ARN not in text
    assert body["Outputs"]["StateMachineArn"]["Value"] == {"Ref": "StateMachine"}


def test_the_roles_policy_is_exactly_what_the_machine_needs(template) -> None:
    config = stepfunctions_config()
    role = resolved(template(config))["StateMachineRole"]

    (policy,) = role["Properties"]["Policies"]
    assert policy["PolicyDocument"]["Statement"] == stepfunctions.iam_statements(
        config, config.target("sagemaker")
    )
    assert statements(role)["Notify"]["Resource"] == TOPIC_ARN
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "states.amazonaws.com"}
    assert trust["Condition"] == {
        "ArnLike": {"aws:SourceArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:*"},
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
    }
    # The topic is the stack's: the grant names it by reference.
    raw = template(config)["Resources"]["StateMachineRole"]
    assert statements(raw)["Notify"]["Resource"] == {"Ref": "NotificationTopic"}


def test_the_schedule_starts_the_state_machine_with_the_configured_input(template) -> None:
    config = stepfunctions_config(triggers={"schedule_parameters": {"MetricThreshold": 0.8}})
    target = resolved(template(config))["NightlySchedule"]["Properties"]["Target"]

    assert target["Arn"] == MACHINE_ARN
    assert "SageMakerPipelineParameters" not in target
    assert json.loads(target["Input"]) == {
        "PipelineParameters": [
            {"Name": "InputDataUrl", "Value": f"s3://{BUCKET}/{NAME}/incoming/"},
            {"Name": "InputPartitionWindow", "Value": "0"},
            {"Name": "MetricThreshold", "Value": "0.8"},
        ]
    }
    assert target["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{NAME}-scheduler"


@pytest.mark.parametrize(
    ("triggers", "parameters"),
    [
        ({}, [{"Name": "InputDataUrl", "Value": "<$.body.InputDataUrl>"}]),
        (
            {"data_arrival_input": "partitions", "input_partition_window": 7},
            [
                {"Name": "InputDataUrl", "Value": f"s3://{BUCKET}/{NAME}/incoming/"},
                {"Name": "InputPartitionWindow", "Value": "7"},
            ],
        ),
    ],
    ids=["object", "partitions"],
)
def test_the_pipe_starts_the_state_machine_with_the_arrival(template, triggers, parameters):
    pipe = resolved(template(stepfunctions_config(triggers=triggers)))["DataArrivalPipe"]

    properties = pipe["Properties"]
    assert properties["Target"] == MACHINE_ARN
    target = properties["TargetParameters"]
    assert target["StepFunctionStateMachineParameters"] == {"InvocationType": "FIRE_AND_FORGET"}
    # The arrived object as a placeholder inside a JSON string (a string value).
    assert json.loads(target["InputTemplate"]) == {"PipelineParameters": parameters}
    assert set(target) == {"StepFunctionStateMachineParameters", "InputTemplate"}
    # The Ref orders the pipe after the state machine; nothing else to wait for.
    assert "DependsOn" not in template(stepfunctions_config())["Resources"]["DataArrivalPipe"]


def test_the_triggers_may_start_that_state_machine_and_nothing_else(template) -> None:
    body = resolved(template(stepfunctions_config()))

    for role in ("SchedulerRole", "PipeRole"):
        grants = statements(body[role])
        assert grants["StartRun"] == {
            "Sid": "StartRun",
            "Effect": "Allow",
            "Action": "states:StartExecution",
            "Resource": [MACHINE_ARN],
        }
        assert "sagemaker:StartPipelineExecution" not in json.dumps(grants)


def test_a_topic_outside_the_stack_is_used_as_configured(template) -> None:
    other = f"arn:aws:sns:{REGION}:210987654321:ml-alerts"
    config = stepfunctions_config(
        orchestrator={"notification_topic_arn": other}, notifications={"enabled": False}
    )
    body = template(config)

    assert not resources_of(body, "AWS::SNS::Topic")
    # Nothing to substitute: plain JSON text (which cfn-lint checks against the ASL schema).
    text = body["Resources"]["StateMachine"]["Properties"]["DefinitionString"]
    assert isinstance(text, str) and f'"TopicArn":"{other}"' in text
    assert statements(body["Resources"]["StateMachineRole"])["Notify"]["Resource"] == other


def test_without_a_topic_the_state_machine_is_refused(context) -> None:
    config = stepfunctions_config(notifications={"enabled": False})
    with pytest.raises(ConfigError, match=r"\[notifications\]\.enabled = false.*notification_"):
        build(context(config))


def test_deploy_refuses_it_before_any_aws_call(definition, monkeypatch) -> None:
    """Nothing uploaded, no account asked: the configuration error comes first."""
    session = boto3.Session(
        region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )

    def refuse(model, **_) -> None:
        raise AssertionError(f"{model.name} was called")  # and never sent

    session.events.register("before-call.*.*", refuse)
    monkeypatch.setattr(
        deploy, "build_context", lambda config: build_context(config, definition=definition)
    )

    with pytest.raises(ConfigError, match=r"\[notifications\]\.enabled = false"):
        deploy.deploy(stepfunctions_config(notifications={"enabled": False}), session=session)


def test_literal_dollar_braces_survive_fn_sub(context, monkeypatch) -> None:
    """Fn::Sub would read "${x}" as a variable: the text carries it as "${!x}"."""
    ctx = context(stepfunctions_config())
    generated = state_machine.machine(ctx)
    generated["Comment"] = "costs ${cost} per run"
    monkeypatch.setattr(state_machine, "machine", lambda ctx: generated)

    body = build(ctx).body()

    text = body["Resources"]["StateMachine"]["Properties"]["DefinitionString"]["Fn::Sub"]
    assert "costs ${!cost} per run" in text
    assert json.loads(resolved(body)["StateMachine"]["Properties"]["DefinitionString"]) == (
        generated
    )


def test_the_triggers_requests_pass_botocores_shapes(context) -> None:
    """Scheduler's Input and the pipe's Step Functions parameters, as CreateSchedule and
    CreatePipe take them (moto's CloudFormation skips both types)."""
    body = build(context(stepfunctions_config())).body()
    checked = set()
    for logical_id, call in calls(body, PlaceholderResolver(body, ACCOUNT, REGION)):
        if logical_id in ("NightlySchedule", "DataArrivalPipe"):
            assert shapes.check(*call) == [], shapes.service_error(shapes.check(*call))
            checked.add(logical_id)
    assert checked == {"NightlySchedule", "DataArrivalPipe"}
