"""The resource types moto's CloudFormation skips, checked as the API calls they stand for:
each one's equivalent create request, with the intrinsic functions resolved, against
botocore's input shape for that operation (required members, types, enums, patterns,
lengths: pipelines/conformance/shapes.py). The moto tests then make these calls for real
(tests/aws/test_stack_on_moto.py)."""

from __future__ import annotations

import pytest
from cloudformation_equivalents import EQUIVALENTS, PlaceholderResolver, calls
from stack_config import ACCOUNT, REGION, make_config

from pipelines.conformance import shapes
from pipelines.stack.template import build

EVERYTHING = make_config(
    notifications={"emails": ["ml-oncall@example.com"]},
    dr={"region": "us-west-2", "bucket": "my-ml-bucket-replica"},
)


def equivalent_calls(body: dict) -> list[tuple[str, tuple[str, str, dict]]]:
    return calls(body, PlaceholderResolver(body, ACCOUNT, REGION))


def test_every_unsupported_type_has_a_checked_equivalent(context) -> None:
    body = build(context(EVERYTHING)).body()
    present = {r["Type"] for r in body["Resources"].values()}
    # moto deploys these; the rest must each have an equivalent call.
    moto_deploys = {
        "AWS::IAM::Role",
        "AWS::IAM::Policy",
        "AWS::Lambda::Function",
        "AWS::Lambda::Permission",
        "AWS::Logs::LogGroup",
        "AWS::SQS::Queue",
        "AWS::SNS::Topic",
        "AWS::Events::Rule",
        "Custom::BucketSettings",
    }
    assert present - moto_deploys == set(EQUIVALENTS)


@pytest.mark.parametrize("kind", sorted(EQUIVALENTS))
def test_the_equivalent_request_passes_botocores_shape(context, kind) -> None:
    body = build(context(EVERYTHING)).body()
    checked = 0
    for logical_id, (service, operation, request) in equivalent_calls(body):
        if body["Resources"][logical_id]["Type"] != kind:
            continue
        violations = shapes.check(service, operation, request)
        assert violations == [], (logical_id, shapes.service_error(violations))
        checked += 1
    assert checked


def test_the_shape_check_catches_a_bad_request(context) -> None:
    body = build(context()).body()
    body["Resources"]["NightlySchedule"]["Properties"]["ScheduleExpressionTimezone"] = "x" * 100
    body["Resources"]["DataArrivalPipe"]["Properties"]["DesiredState"] = "PAUSED"
    found = {
        logical_id: shapes.service_error(shapes.check(*call))
        for logical_id, call in equivalent_calls(body)
        if shapes.check(*call)
    }
    assert set(found) == {"NightlySchedule", "DataArrivalPipe"}
    assert "scheduleExpressionTimezone" in found["NightlySchedule"]
    assert "desiredState" in found["DataArrivalPipe"]
