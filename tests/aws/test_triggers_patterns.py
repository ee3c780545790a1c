"""The project's event patterns replayed through moto's EventBridge on the same AWS-shaped
samples and near misses the local matcher is tested on: both must agree on every pair.

moto does not implement TestEventPattern, so each pattern becomes a real rule with an SQS
target and each event is sent with PutEvents; a message in a rule's queue means a match.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import boto3
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "triggers"))

from trigger_samples import (
    AWS_ACCOUNT,
    EXPECTED,
    NAMES,
    load_sample,
    near_misses,
)

from pipelines.config import load_config
from pipelines.eventbridge.matcher import matches
from pipelines.eventbridge.patterns import approval_rule, data_arrival_rule, notification_rules
from pipelines.eventbridge.transformer import render

REGION = "us-east-1"
BUCKET = "retraining-test-bucket"


def put(events, event: dict) -> None:
    response = events.put_events(
        Entries=[
            {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Detail": json.dumps(event["detail"]),
                "Resources": event["resources"],
            }
        ]
    )
    assert response["FailedEntryCount"] == 0


def drain(sqs, url: str) -> list[str]:
    bodies = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def rules(aws):
    """Every project rule (data arrival + notifications) with an SQS queue as its target."""
    config = load_config()
    specs = [data_arrival_rule(BUCKET, "fraud-detection-retraining/incoming/")]
    specs += notification_rules(config, AWS_ACCOUNT)
    specs.append(approval_rule(config))
    events = boto3.client("events", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    queues = {}
    for spec in specs:
        url = sqs.create_queue(QueueName=f"probe-{spec.purpose}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(Name=f"probe-{spec.purpose}", EventPattern=spec.pattern_json)
        events.put_targets(Rule=f"probe-{spec.purpose}", Targets=[{"Id": "q", "Arn": arn}])
        queues[spec.purpose] = url
    return {s.purpose: s for s in specs}, queues, events, sqs


def moto_matches(rules, event: dict) -> set[str]:
    _, queues, events, sqs = rules
    put(events, event)
    return {purpose for purpose, url in queues.items() if drain(sqs, url)}


def test_moto_and_the_local_matcher_agree_on_samples_and_near_misses(rules) -> None:
    specs = rules[0]
    cases = [(name, load_sample(name)) for name in NAMES] + near_misses()
    for label, event in cases:
        local = {p for p, spec in specs.items() if matches(spec.pattern, event)}
        assert moto_matches(rules, event) == local, label
        if label in EXPECTED:
            assert local == EXPECTED[label], label


def test_the_data_arrival_input_transformer_output_is_what_eventbridge_delivers(aws) -> None:
    spec = data_arrival_rule(BUCKET, "fraud-detection-retraining/incoming/")
    events = boto3.client("events", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="probe-transformed")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="probe-transformed", EventPattern=spec.pattern_json)
    events.put_targets(
        Rule="probe-transformed",
        Targets=[{"Id": "q", "Arn": arn, "InputTransformer": spec.input_transformer}],
    )
    sample = load_sample("s3_object_created")

    put(events, sample)

    (body,) = drain(sqs, url)
    delivered = json.loads(body)
    assert delivered["InputDataUrl"] == (
        f"s3://{BUCKET}/fraud-detection-retraining/incoming/2021-11-12/transactions.csv"
    )
    # moto stamps its own event id and time; the rest is the local rendering verbatim.
    local = json.loads(render(spec.input_transformer, sample))
    assert delivered.keys() == local.keys()
    assert delivered["InputDataUrl"] == local["InputDataUrl"]


def test_moto_delivers_a_mixed_case_pipelines_events_in_either_arn_spelling(aws, tmp_path):
    from trigger_samples import write_config

    config = load_config(write_config(tmp_path, pipeline={"name": "FraudRetraining"}))
    (spec,) = [
        r for r in notification_rules(config, AWS_ACCOUNT) if r.purpose == "execution-failed"
    ]
    events = boto3.client("events", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="probe-mixed-case")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="probe-mixed-case", EventPattern=spec.pattern_json)
    events.put_targets(Rule="probe-mixed-case", Targets=[{"Id": "q", "Arn": arn}])
    sample = load_sample("execution_failed")
    for name, delivered in (("fraudretraining", 1), ("FraudRetraining", 1), ("other", 0)):
        event = json.loads(json.dumps(sample).replace("fraud-detection-retraining", name))
        put(events, event)
        assert len(drain(sqs, url)) == delivered, name


def test_the_drift_alarm_rule_matches_cloudwatchs_event_on_moto_as_locally(aws) -> None:
    """CloudWatch's documented "CloudWatch Alarm State Change" event (the sample) into ALARM
    starts a retraining run; the same alarm going OK, or another alarm, does not."""
    from pipelines.drift.monitoring import retrain_rule

    spec = retrain_rule(load_config(), AWS_ACCOUNT)
    events = boto3.client("events", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="probe-drift-retrain")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="probe-drift-retrain", EventPattern=spec.pattern_json)
    events.put_targets(Rule="probe-drift-retrain", Targets=[{"Id": "q", "Arn": arn}])
    alarm = load_sample("alarm_state_change")
    calm = json.loads(json.dumps(alarm))
    calm["detail"]["state"]["value"] = "OK"
    other = json.loads(json.dumps(alarm).replace("retraining-data-drift", "retraining-latency"))
    for event, expected in ((alarm, True), (calm, False), (other, False)):
        put(events, event)
        assert bool(drain(sqs, url)) is expected
        assert matches(spec.pattern, event) is expected
