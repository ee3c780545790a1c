"""lambdas/bucket_settings.py, the stack's Custom::BucketSettings, against moto's S3: it
merges what the project needs into a bucket it does not own, takes back only what it
added, and reports every outcome to CloudFormation's response URL (a local HTTP server
here, recording what CloudFormation would receive)."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from moto_account import REGION

from pipelines.config import PROJECT_ROOT

BUCKET = "artifacts-bucket"
REPLICA = "artifacts-replica"
ROLE = "arn:aws:iam::123456789012:role/fraud-detection-retraining-replication"
PREFIX = "fraud-detection-retraining-dr-"
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/fraud/0b0c"


class CloudFormationEndpoint:
    """Records the responses PUT to the pre-signed URL."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll keeps shutdown (each test's teardown) quick.
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/response?signature=x"


@pytest.fixture
def cloudformation() -> Iterator[CloudFormationEndpoint]:
    endpoint = CloudFormationEndpoint()
    yield endpoint
    endpoint.server.shutdown()
    endpoint.server.server_close()


@pytest.fixture
def handler():
    path = PROJECT_ROOT / "lambdas" / "bucket_settings.py"
    spec = importlib.util.spec_from_file_location("bucket_settings", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


@pytest.fixture
def s3(aws, s3_settings_as_aws_reports_them):
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    client.create_bucket(Bucket=REPLICA)
    client.put_bucket_versioning(Bucket=REPLICA, VersioningConfiguration={"Status": "Enabled"})
    return client


def rules(*prefixes: str) -> list[dict[str, str]]:
    return [
        {
            "Id": f"{PREFIX}{n}",
            "Prefix": prefix,
            "Priority": str(n),
            "DestinationBucket": f"arn:aws:s3:::{REPLICA}",
            "StorageClass": "STANDARD",
        }
        for n, prefix in enumerate(prefixes, start=1)
    ]


def call(handler, cloudformation, request: str, *, physical_id=None, old=None, **properties):
    event = {
        "RequestType": request,
        "ResponseURL": cloudformation.url,
        "StackId": STACK_ID,
        "RequestId": f"request-{len(cloudformation.received)}",
        "LogicalResourceId": "ArtifactsBucketSettings",
        "ResourceType": "Custom::BucketSettings",
        "ResourceProperties": {
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:x",
            "BucketName": BUCKET,
            "EventBridge": "true",
            "RuleIdPrefix": PREFIX,
            **properties,
        },
    }
    if physical_id:
        event["PhysicalResourceId"] = physical_id
    if old is not None:
        event["OldResourceProperties"] = old
    handler(event, None)
    return cloudformation.received[-1]


def queue_notification() -> dict:
    return {
        "QueueConfigurations": [
            {
                "Id": "someone-elses",
                "QueueArn": f"arn:aws:sqs:{REGION}:123456789012:unrelated",
                "Events": ["s3:ObjectRemoved:*"],
            }
        ]
    }


def notifications(s3) -> dict:
    found = s3.get_bucket_notification_configuration(Bucket=BUCKET)
    found.pop("ResponseMetadata")
    return found


def test_eventbridge_goes_on_beside_other_notifications_and_off_again(s3, handler, cloudformation):
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET, NotificationConfiguration=queue_notification()
    )

    created = call(handler, cloudformation, "Create")

    assert created["Status"] == "SUCCESS", created["Reason"]
    assert created["PhysicalResourceId"] == f"{BUCKET}|eventbridge-was-off"
    assert "EventBridgeConfiguration" in notifications(s3)
    assert [q["Id"] for q in notifications(s3)["QueueConfigurations"]] == ["someone-elses"]

    deleted = call(handler, cloudformation, "Delete", physical_id=created["PhysicalResourceId"])

    assert deleted["Status"] == "SUCCESS"
    assert "EventBridgeConfiguration" not in notifications(s3)
    assert [q["Id"] for q in notifications(s3)["QueueConfigurations"]] == ["someone-elses"]


def test_eventbridge_that_was_on_before_stays_on(s3, handler, cloudformation) -> None:
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    created = call(handler, cloudformation, "Create")
    assert created["PhysicalResourceId"] == f"{BUCKET}|eventbridge-was-on"

    # Data arrival turned off in pipeline.toml: the update leaves someone else's setting.
    updated = call(
        handler,
        cloudformation,
        "Update",
        physical_id=created["PhysicalResourceId"],
        old={"EventBridge": "true"},
        EventBridge="false",
    )
    assert updated["PhysicalResourceId"] == created["PhysicalResourceId"]
    call(handler, cloudformation, "Delete", physical_id=created["PhysicalResourceId"])

    assert "EventBridgeConfiguration" in notifications(s3)


def test_an_update_turning_data_arrival_off_turns_eventbridge_off(s3, handler, cloudformation):
    created = call(handler, cloudformation, "Create")
    call(
        handler,
        cloudformation,
        "Update",
        physical_id=created["PhysicalResourceId"],
        old={"EventBridge": "true"},
        EventBridge="false",
    )
    assert "EventBridgeConfiguration" not in notifications(s3)


def test_replication_rules_are_merged_and_taken_back(s3, handler, cloudformation) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    theirs = {
        "ID": "audit-copy",
        "Priority": 3,
        "Status": "Enabled",
        "Filter": {"Prefix": "audit/"},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {"Bucket": f"arn:aws:s3:::{REPLICA}", "StorageClass": "STANDARD"},
    }
    s3.put_bucket_replication(
        Bucket=BUCKET, ReplicationConfiguration={"Role": ROLE, "Rules": [theirs]}
    )

    created = call(
        handler,
        cloudformation,
        "Create",
        ReplicationRoleArn=ROLE,
        ReplicationRules=rules("fraud/executions/", "fraud/incoming/"),
    )

    assert created["Status"] == "SUCCESS", created["Reason"]
    configuration = s3.get_bucket_replication(Bucket=BUCKET)["ReplicationConfiguration"]
    assert configuration["Role"] == ROLE
    by_id = {r["ID"]: r for r in configuration["Rules"]}
    assert by_id["audit-copy"]["Filter"] == {"Prefix": "audit/"}
    assert by_id[f"{PREFIX}1"]["Filter"] == {"Prefix": "fraud/executions/"}
    # Priorities stay unique: the project's come after everyone else's.
    assert [by_id[f"{PREFIX}{n}"]["Priority"] for n in (1, 2)] == [4, 5]
    # A delete in the source stays there: the replica survives a mistaken delete.
    assert by_id[f"{PREFIX}2"]["DeleteMarkerReplication"] == {"Status": "Disabled"}

    call(
        handler,
        cloudformation,
        "Delete",
        physical_id=created["PhysicalResourceId"],
        RuleIdPrefix=PREFIX,
    )

    remaining = s3.get_bucket_replication(Bucket=BUCKET)["ReplicationConfiguration"]["Rules"]
    assert [r["ID"] for r in remaining] == ["audit-copy"]


def test_replication_turns_versioning_on_and_delete_removes_the_configuration(
    s3, handler, cloudformation
):
    created = call(
        handler,
        cloudformation,
        "Create",
        EventBridge="false",
        ReplicationRoleArn=ROLE,
        ReplicationRules=rules("fraud/executions/"),
    )
    assert created["Status"] == "SUCCESS", created["Reason"]
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"

    call(handler, cloudformation, "Delete", physical_id=created["PhysicalResourceId"])

    with pytest.raises(s3.exceptions.ClientError, match="ReplicationConfigurationNotFound"):
        s3.get_bucket_replication(Bucket=BUCKET)
    # Versioning is never turned off again (S3 could only suspend it).
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"


def test_another_replication_role_is_a_failure_that_names_it(s3, handler, cloudformation):
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    other = "arn:aws:iam::123456789012:role/backup-replication"
    s3.put_bucket_replication(
        Bucket=BUCKET,
        ReplicationConfiguration={
            "Role": other,
            "Rules": [
                {
                    "ID": "backup",
                    "Priority": 1,
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "DeleteMarkerReplication": {"Status": "Disabled"},
                    "Destination": {"Bucket": f"arn:aws:s3:::{REPLICA}"},
                }
            ],
        },
    )

    response = call(
        handler, cloudformation, "Create", ReplicationRoleArn=ROLE, ReplicationRules=rules("x/")
    )

    assert response["Status"] == "FAILED"
    assert f"bucket {BUCKET} already replicates with role {other}" in response["Reason"]
    assert "one replication role per bucket" in response["Reason"]
    assert [
        r["ID"]
        for r in s3.get_bucket_replication(Bucket=BUCKET)["ReplicationConfiguration"]["Rules"]
    ] == ["backup"]


def test_a_missing_bucket_fails_the_create_and_its_rollback_delete_succeeds(
    aws, handler, cloudformation
):
    created = call(handler, cloudformation, "Create", BucketName="no-such-artifacts")

    assert created["Status"] == "FAILED"
    assert "NoSuchBucket" in created["Reason"]
    # CloudFormation then deletes the failed resource during rollback: nothing to undo.
    deleted = call(handler, cloudformation, "Delete", physical_id=created["PhysicalResourceId"])
    assert deleted["Status"] == "SUCCESS"
    # And a bucket deleted since: its settings went with it.
    gone = call(
        handler, cloudformation, "Delete", physical_id="no-such-artifacts|eventbridge-was-off"
    )
    assert gone["Status"] == "SUCCESS"
