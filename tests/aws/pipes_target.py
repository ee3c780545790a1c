"""What an EventBridge Pipe with an SQS source hands a Step Functions target, from the
EventBridge user guide (moto stores pipes but runs none):

- each message as the SQS source's record (the guide's page on SQS queues as pipe sources):
  messageId, receiptHandle, body, attributes, messageAttributes, md5OfBody, eventSource,
  eventSourceARN, awsRegion;
- a body holding JSON is parsed, so paths read into it, `$.body.key` ("Amazon EventBridge
  Pipes input transformation", implicit body data parsing);
- the target's InputTemplate applied to each record: `<$.path>` placeholders, a value inside a
  JSON string inserted as its raw text and outside one as JSON (same page), which are the
  EventBridge rules' substitution rules, rendered here by pipelines/eventbridge/transformer.py;
- the batch sent to a Step Functions target as one JSON array, "even if the batch size is 1"
  ("Amazon EventBridge Pipes batching and concurrency").
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from typing import Any

from pipelines.eventbridge.transformer import render

_PATH = re.compile(r"<(\$[A-Za-z0-9_.\-\[\]*]*)>")


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """The source record of one ReceiveMessage message (asked with AttributeNames=["All"])."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": dict(message.get("MessageAttributes", {})),
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def transformed(template: str, record: Mapping[str, Any]) -> Any:
    """The InputTemplate's output for one record, as JSON."""
    parsed = dict(record)
    with contextlib.suppress(ValueError):  # a body that is not JSON stays a string
        parsed["body"] = json.loads(record["body"])
    names: dict[str, str] = {}

    def variable(match: re.Match[str]) -> str:
        names.setdefault(match.group(1), f"path{len(names)}")
        return f"<{names[match.group(1)]}>"

    rewritten = _PATH.sub(variable, template)
    paths = {name: path for path, name in names.items()}
    return json.loads(render({"InputPathsMap": paths, "InputTemplate": rewritten}, parsed))


def step_functions_input(template: str, records: list[Mapping[str, Any]]) -> str:
    """The execution input the pipe starts a Step Functions state machine with."""
    return json.dumps([transformed(template, record) for record in records])
