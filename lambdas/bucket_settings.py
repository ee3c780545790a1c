"""Lambda: the CloudFormation custom resource `Custom::BucketSettings`.

Sets what the project needs on an artifacts bucket the stack does not own (see
pipelines/stack/bucket.py): EventBridge notifications (data arrival) and, for disaster
recovery, versioning plus the project's replication rules. Properties (strings, as
CloudFormation passes them):

    BucketName          the artifacts bucket
    EventBridge         "true" to have S3 send the bucket's events to EventBridge
    RuleIdPrefix        the project's replication rules are those whose ID starts with it
    ReplicationRoleArn  the role S3 replicates with (with ReplicationRules)
    ReplicationRules    [{"Id", "Prefix", "Priority", "DestinationBucket", "StorageClass"}]

Create and Update merge into the bucket's current configuration: other notification
targets and other owners' replication rules are kept as they are. Delete takes back what
this resource added: EventBridge notifications are turned off only if they were off before
the stack turned them on (the physical resource ID records it), the project's replication
rules are removed. Versioning is never turned off again (S3 can only suspend it, and a
versioned bucket's history is worth keeping). Deletions are not replicated (delete markers
stay in the source), so the replica survives a mistaken delete.

Every outcome is reported to CloudFormation's response URL, failures with the reason the
stack events then show. Self-contained: only the standard library and boto3.
"""

from __future__ import annotations

import json
import logging
import urllib.request

import boto3
from botocore.exceptions import ClientError

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

# A reason longer than this is cut: the whole response must stay under 4 KB.
MAX_REASON = 1000
_SEPARATOR = "|"
_FAILED_CREATE = "failed-to-create"
_MISSING = (
    "NoSuchBucket",
    "NoSuchReplicationConfiguration",
    "ReplicationConfigurationNotFoundError",
)


class SettingsError(Exception):
    """The bucket's configuration conflicts with what the stack asks for."""


def handler(event: dict, context: object) -> None:
    request = event["RequestType"]
    physical_id = (
        event.get("PhysicalResourceId") or f"{_FAILED_CREATE}{_SEPARATOR}{event['RequestId']}"
    )
    try:
        s3 = boto3.client("s3")
        if request == "Delete":
            delete(s3, physical_id, event.get("ResourceProperties", {}))
            data: dict = {}
        else:
            physical_id, data = apply(s3, event)
    except Exception as exc:  # every failure must reach CloudFormation, or the stack hangs
        logger.exception("%s failed", request)
        respond(event, "FAILED", physical_id, reason=_reason(exc))
        return
    respond(event, "SUCCESS", physical_id, data=data)


def apply(s3, event: dict) -> tuple[str, dict]:
    """Create or Update: the bucket's settings merged with what the properties ask for."""
    properties = event["ResourceProperties"]
    bucket = properties["BucketName"]
    previous = event.get("PhysicalResourceId", "")
    notifications = _notifications(s3, bucket)
    already_on = "EventBridgeConfiguration" in notifications
    if _same_bucket(previous, bucket):
        # An update of the same bucket: what was there before the stack still counts.
        was_on = previous.rsplit(_SEPARATOR, 1)[1] == "eventbridge-was-on"
    else:
        was_on = already_on
    wanted = properties.get("EventBridge", "false") == "true"
    if wanted and not already_on:
        notifications["EventBridgeConfiguration"] = {}
        _put_notifications(s3, bucket, notifications)
    elif not wanted and already_on and not was_on:
        notifications.pop("EventBridgeConfiguration")
        _put_notifications(s3, bucket, notifications)
    rules = properties.get("ReplicationRules") or []
    _replicate(s3, bucket, properties.get("RuleIdPrefix", ""), properties, rules)
    physical_id = _SEPARATOR.join(
        [bucket, "eventbridge-was-on" if was_on else "eventbridge-was-off"]
    )
    return physical_id, {
        "EventBridge": "on" if wanted else "unchanged",
        "ReplicationRules": len(rules),
    }


def delete(s3, physical_id: str, properties: dict) -> None:
    if physical_id.startswith(_FAILED_CREATE + _SEPARATOR) or _SEPARATOR not in physical_id:
        return  # a create that failed left nothing to take back
    bucket, state = physical_id.rsplit(_SEPARATOR, 1)
    try:
        if state == "eventbridge-was-off":
            notifications = _notifications(s3, bucket)
            if notifications.pop("EventBridgeConfiguration", None) is not None:
                _put_notifications(s3, bucket, notifications)
        _replicate(s3, bucket, properties.get("RuleIdPrefix", ""), properties, [])
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchBucket":
            raise
        logger.info("bucket %s is gone: nothing to take back", bucket)


def _same_bucket(physical_id: str, bucket: str) -> bool:
    return _SEPARATOR in physical_id and physical_id.rsplit(_SEPARATOR, 1)[0] == bucket


def _notifications(s3, bucket: str) -> dict:
    current = s3.get_bucket_notification_configuration(Bucket=bucket)
    return {k: v for k, v in current.items() if k != "ResponseMetadata"}


def _put_notifications(s3, bucket: str, configuration: dict) -> None:
    # Other owners' destinations are passed back unchanged: don't re-validate them.
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration=configuration, SkipDestinationValidation=True
    )


def _replicate(s3, bucket: str, prefix: str, properties: dict, rules: list) -> None:
    """Replace the project's replication rules (those whose ID starts with `prefix`) by
    `rules`, keeping everyone else's."""
    try:
        current = s3.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in _MISSING:
            raise
        current = {"Role": "", "Rules": []}
    others = [
        r for r in current.get("Rules", []) if not (prefix and r.get("ID", "").startswith(prefix))
    ]
    if not rules:
        if len(others) == len(current.get("Rules", [])):
            return  # none of ours to remove
        if others:
            s3.put_bucket_replication(
                Bucket=bucket, ReplicationConfiguration={"Role": current["Role"], "Rules": others}
            )
        else:
            s3.delete_bucket_replication(Bucket=bucket)
        return
    role = properties["ReplicationRoleArn"]
    if others and current.get("Role") != role:
        raise SettingsError(
            f"bucket {bucket} already replicates with role {current.get('Role')} (rules "
            f"{', '.join(r.get('ID', '?') for r in others)}); S3 allows one replication role "
            "per bucket: add the project's prefixes to that configuration instead, or remove it"
        )
    versioning = s3.get_bucket_versioning(Bucket=bucket)
    if versioning.get("Status") != "Enabled":
        # Replication requires a versioned source bucket.
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    base = max((int(r.get("Priority", 0)) for r in others), default=0)
    ours = [
        {
            "ID": rule["Id"],
            "Priority": base + int(rule["Priority"]),
            "Status": "Enabled",
            "Filter": {"Prefix": rule["Prefix"]},
            "DeleteMarkerReplication": {"Status": "Disabled"},
            "Destination": {
                "Bucket": rule["DestinationBucket"],
                "StorageClass": rule.get("StorageClass", "STANDARD"),
            },
        }
        for rule in rules
    ]
    s3.put_bucket_replication(
        Bucket=bucket, ReplicationConfiguration={"Role": role, "Rules": others + ours}
    )


def _reason(exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."


def respond(
    event: dict, status: str, physical_id: str, *, reason: str = "", data: dict | None = None
) -> None:
    """PUT the outcome to the pre-signed response URL CloudFormation waits on."""
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason or f"see the function's log ({status})",
            "PhysicalResourceId": physical_id,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "NoEcho": False,
            "Data": data or {},
        }
    ).encode()
    # The URL is pre-signed without a content type: sending one would break the signature.
    request = urllib.request.Request(
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        logger.info("responded %s: HTTP %s", status, response.status)
