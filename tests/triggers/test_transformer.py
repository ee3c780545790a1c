"""Input transformers rendered locally, against the EventBridge guide's examples and the
project's own templates."""

from __future__ import annotations

import json

import pytest
from trigger_samples import AWS_ACCOUNT, load_sample

from pipelines.eventbridge.notify import notifications_for
from pipelines.eventbridge.patterns import data_arrival_rule
from pipelines.eventbridge.transformer import render, render_text

# The EC2 example of "Transforming target input" in the EventBridge user guide.
EC2_EVENT = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2015-11-11T21:29:54Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
    "detail": {"instance-id": "i-0123456789", "state": "RUNNING"},
}
PATHS = {"timestamp": "$.time", "instance": "$.detail.instance-id", "state": "$.detail.state"}


@pytest.mark.parametrize(
    ("template", "output"),
    [
        ('"instance <instance> is in <state>"', '"instance i-0123456789 is in RUNNING"'),
        (
            '{"instance" : <instance>, "state": "<state>"}',
            '{"instance" : "i-0123456789", "state": "RUNNING"}',
        ),
        ('{"state": [ 9, <state>, true ]}', '{"state": [ 9, "RUNNING", true ]}'),
        ('"<aws.events.rule-name> triggered"', '"example triggered"'),
        (
            '{"ruleArn" : <aws.events.rule-arn>}',
            '{"ruleArn" : "arn:aws:events:us-east-2:123456789012:rule/example"}',
        ),
    ],
)
def test_the_guide_examples_render_as_documented(template, output) -> None:
    transformer = {"InputPathsMap": PATHS, "InputTemplate": template}
    rendered = render(
        transformer,
        EC2_EVENT,
        rule_name="example",
        rule_arn="arn:aws:events:us-east-2:123456789012:rule/example",
    )
    assert rendered == output


def test_a_path_missing_from_the_event_defines_no_variable() -> None:
    transformer = {
        "InputPathsMap": {"reason": "$.detail.failureReason"},
        "InputTemplate": '{"text": "reason: <reason>", "raw": <reason>}',
    }
    assert json.loads(render(transformer, EC2_EVENT)) == {"text": "reason: ", "raw": None}


def test_the_data_arrival_transformer_builds_the_s3_uri_of_the_new_object() -> None:
    rule = data_arrival_rule("retraining-test-bucket", "fraud-detection-retraining/incoming/")
    body = json.loads(render(rule.input_transformer, load_sample("s3_object_created")))

    assert body == {
        "InputDataUrl": "s3://retraining-test-bucket/fraud-detection-retraining/incoming/"
        "2021-11-12/transactions.csv",
        "sourceEventId": "17793124-05d4-b198-2fde-7ededc63b103",
        "sourceEventTime": "2021-11-12T00:00:00Z",
    }


def test_failure_messages_carry_the_reason_from_the_step_event(config) -> None:
    (step,) = notifications_for(config, load_sample("step_failed"), AWS_ACCOUNT)
    (execution,) = notifications_for(config, load_sample("execution_failed"), AWS_ACCOUNT)
    (metric,) = notifications_for(config, load_sample("metric_below_threshold"), AWS_ACCOUNT)

    assert step.rule == "fraud-detection-retraining-step-failed"
    assert step.message == (
        "Pipeline fraud-detection-retraining: step Train (Training) FAILED at "
        "2021-03-15T16:10:10Z in execution arn:aws:sagemaker:us-east-1:123456789012:pipeline/"
        "fraud-detection-retraining/execution/p4jn9xou8a8s. Failure reason: ClientError: "
        "Please ensure the label column is_fraud is present in the training data."
    )
    assert execution.message.startswith(
        "Pipeline fraud-detection-retraining: execution arn:aws:sagemaker:us-east-1:"
        "123456789012:pipeline/fraud-detection-retraining/execution/p4jn9xou8a8s FAILED "
        "(started 2021-03-15T16:03:13Z, ended 2021-03-15T16:10:10Z)."
    )
    assert metric.message.endswith(
        "Model not registered: accuracy 0.8412 is below the threshold 0.9 (MetricThreshold)."
    )


def test_model_package_messages_name_version_and_approval(config) -> None:
    (registered,) = notifications_for(config, load_sample("model_package_registered"), AWS_ACCOUNT)
    (approved,) = notifications_for(config, load_sample("model_package_approved"), AWS_ACCOUNT)

    assert registered.message.startswith(
        "Model package fraud-detection-models version 2 is PendingManualApproval (arn:aws:"
    )
    assert "registered by arn:aws:sagemaker:us-east-1:123456789012:pipeline/" in registered.message
    assert "version 2 is Approved" in approved.message


def test_render_text_unwraps_a_string_template_only() -> None:
    assert render_text({"InputTemplate": '"plain <x>"', "InputPathsMap": {}}, {}) == "plain "
    assert render_text({"InputTemplate": '{"a": 1}', "InputPathsMap": {}}, {}) == '{"a": 1}'
