"""Change sets, waiting and reporting: a thin layer over CloudFormation's own API.

CloudFormation does the work this project used to do by hand: it diffs the template against
the stack (the change set is the plan), creates, updates and deletes in dependency order,
rolls everything back when one resource fails, and refuses a second deployment while one is
running. This module asks for the change set, prints it, executes it, streams the stack's
events while it waits, and on failure names the resources that failed and why (the first
failures, not the cancellations they caused).
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

Printer = Callable[[str], None]

CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
SUCCEEDED = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE", "IMPORT_COMPLETE")
ROLLED_BACK = ("ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_COMPLETE")
# A failed creation leaves an empty stack in ROLLBACK_COMPLETE: it must be deleted before
# the stack can be created again. A stack only reviewed (a plan) is REVIEW_IN_PROGRESS.
EMPTY_SHELLS = ("ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS")
# What a resource reports when CloudFormation stopped it because another one failed.
CANCELLED = ("Resource creation cancelled", "Resource update cancelled")
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
_SYMBOLS = {"Add": "+", "Modify": "~", "Remove": "-", "Import": "<", "Dynamic": "?"}


class StackBusyError(RuntimeError):
    """Another operation is running on the stack (CloudFormation's own lock)."""


class StackFailedError(RuntimeError):
    """The operation failed; CloudFormation rolled back what it could."""

    def __init__(self, stack: str, status: str, failures: Sequence[str]) -> None:
        self.stack, self.status, self.failures = stack, status, list(failures)
        super().__init__(f"stack {stack} ended {status}: " + "; ".join(self.failures))


@dataclass
class ChangeSet:
    stack: str
    arn: str
    kind: str  # "CREATE" or "UPDATE"
    changes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.changes


@dataclass
class Outcome:
    status: str
    outputs: dict[str, str] = field(default_factory=dict)


class CloudFormation:
    def __init__(
        self,
        client: Any,
        *,
        out: Printer = print,
        poll_seconds: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.out = out
        self.poll_seconds = poll_seconds
        self.sleep = sleep

    # -- reading ---------------------------------------------------------------------------

    def describe(self, stack: str) -> dict[str, Any] | None:
        """DescribeStacks for `stack`, or None when there is none (or it was deleted)."""
        try:
            found = self.client.describe_stacks(StackName=stack)["Stacks"]
        except ClientError as exc:
            if "does not exist" in exc.response["Error"].get("Message", ""):
                return None
            raise
        live = [s for s in found if s["StackStatus"] != "DELETE_COMPLETE"]
        return live[0] if live else None

    def status(self, stack: str) -> str | None:
        described = self.describe(stack)
        return described["StackStatus"] if described else None

    def resources(self, stack: str) -> list[dict[str, Any]]:
        pages = self.client.get_paginator("list_stack_resources").paginate(StackName=stack)
        return [r for page in pages for r in page["StackResourceSummaries"]]

    def retained(self, stack: str) -> set[str]:
        """Logical IDs the stack keeps when deleted (DeletionPolicy Retain)."""
        body = self.client.get_template(StackName=stack)["TemplateBody"]
        if isinstance(body, str):
            body = json.loads(body)
        return {
            logical_id
            for logical_id, resource in body.get("Resources", {}).items()
            if resource.get("DeletionPolicy") == "Retain"
        }

    # -- change sets -----------------------------------------------------------------------

    def create_change_set(
        self,
        stack: str,
        *,
        template_url: str | None = None,
        template_body: str | None = None,
        tags: Mapping[str, str],
        role_arn: str = "",
        description: str = "",
    ) -> ChangeSet:
        status = self.status(stack)
        if status and status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
            raise StackBusyError(
                f"stack {stack} is {status}: another operation is running on it; wait for it "
                "to finish (CloudFormation allows one at a time)"
            )
        if status == "ROLLBACK_COMPLETE":
            self.out(
                f"Stack {stack} is ROLLBACK_COMPLETE (an earlier creation failed and left it "
                "empty): deleting it first."
            )
            self.delete(stack)
            status = None
        if status and status.endswith("_FAILED"):
            raise StackFailedError(
                stack,
                status,
                [
                    "fix or delete the stack first (CloudFormation console, or "
                    f"`aws cloudformation delete-stack --stack-name {stack}`): it cannot be "
                    "updated in this state"
                ],
            )
        kind = "UPDATE" if status and status != "REVIEW_IN_PROGRESS" else "CREATE"
        request: dict[str, Any] = {
            "StackName": stack,
            "ChangeSetName": "run-pipeline-"
            + datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S%fZ"),
            "ChangeSetType": kind,
            "Capabilities": CAPABILITIES,
            "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
        }
        if description:
            request["Description"] = description[:1024]
        if template_url:
            request["TemplateURL"] = template_url
        else:
            request["TemplateBody"] = template_body
        if role_arn:
            request["RoleARN"] = role_arn
        arn = self.client.create_change_set(**request)["Id"]
        change_set = ChangeSet(stack, arn, kind)
        while True:
            described = self.client.describe_change_set(ChangeSetName=arn, StackName=stack)
            state = described["Status"]
            if state == "CREATE_COMPLETE":
                break
            if state == "FAILED":
                reason = described.get("StatusReason", "")
                if any(text in reason for text in NO_CHANGES):
                    return change_set  # empty: nothing to do
                raise StackFailedError(stack, "change set FAILED", [reason])
            self.sleep(self.poll_seconds)
        change_set.changes = list(self._changes(arn, stack, described))
        return change_set

    def _changes(self, arn: str, stack: str, first: dict[str, Any]) -> Iterator[dict[str, Any]]:
        page = first
        while True:
            for change in page.get("Changes", []):
                if "ResourceChange" in change:
                    yield change["ResourceChange"]
            token = page.get("NextToken")
            if not token:
                return
            page = self.client.describe_change_set(
                ChangeSetName=arn, StackName=stack, NextToken=token
            )

    def discard(self, change_set: ChangeSet) -> None:
        """Drop a change set that will not run (and the empty stack a CREATE one made)."""
        if change_set.kind == "CREATE":
            self.client.delete_stack(StackName=change_set.stack)
        else:
            self.client.delete_change_set(ChangeSetName=change_set.arn, StackName=change_set.stack)

    def execute(self, change_set: ChangeSet) -> Outcome:
        since = self._latest_event(change_set.stack)
        self.client.execute_change_set(ChangeSetName=change_set.arn, StackName=change_set.stack)
        return self._wait(change_set.stack, since)

    def delete(self, stack: str, role_arn: str = "") -> Outcome:
        since = self._latest_event(stack)
        request = {"StackName": stack}
        if role_arn:
            request["RoleARN"] = role_arn
        self.client.delete_stack(**request)
        return self._wait(stack, since, deleting=True)

    # -- waiting ---------------------------------------------------------------------------

    def _latest_event(self, stack: str) -> str | None:
        try:
            events = self.client.describe_stack_events(StackName=stack)["StackEvents"]
        except ClientError as exc:
            if "does not exist" in exc.response["Error"].get("Message", ""):
                return None
            raise
        return events[0]["EventId"] if events else None

    def _events_after(self, stack: str, since: str | None, seen: set[str]) -> list[dict]:
        """New events, oldest first."""
        fresh: list[dict] = []
        pages = self.client.get_paginator("describe_stack_events").paginate(StackName=stack)
        try:
            for page in pages:
                for event in page["StackEvents"]:
                    if event["EventId"] == since:
                        return list(reversed(fresh))
                    if event["EventId"] not in seen:
                        fresh.append(event)
        except ClientError as exc:
            if "does not exist" not in exc.response["Error"].get("Message", ""):
                raise
        return list(reversed(fresh))

    def _wait(self, stack: str, since: str | None, deleting: bool = False) -> Outcome:
        # Deleted stacks are described by their ID only: remember it while it exists.
        described = self.describe(stack)
        stack_id = described["StackId"] if described else stack
        seen: set[str] = set()
        history: list[dict] = []
        while True:
            for event in self._events_after(stack_id, since, seen):
                seen.add(event["EventId"])
                history.append(event)
                self.out(_event_line(event))
            described = self._describe_id(stack_id)
            status = described["StackStatus"] if described else "DELETE_COMPLETE"
            if not status.endswith("_IN_PROGRESS"):
                break
            self.sleep(self.poll_seconds)
        if status in SUCCEEDED and (status == "DELETE_COMPLETE") == deleting:
            outputs = {
                o["OutputKey"]: o["OutputValue"] for o in (described or {}).get("Outputs", [])
            }
            return Outcome(status, outputs)
        raise StackFailedError(stack, status, root_causes(history, described))

    def _describe_id(self, stack_id: str) -> dict[str, Any] | None:
        try:
            return self.client.describe_stacks(StackName=stack_id)["Stacks"][0]
        except ClientError as exc:
            if "does not exist" in exc.response["Error"].get("Message", ""):
                return None
            raise


def root_causes(events: Sequence[Mapping[str, Any]], stack: Mapping[str, Any] | None) -> list[str]:
    """The failures that started it, oldest first: each failed resource with its reason,
    leaving out the resources CloudFormation cancelled because of them."""
    causes = [
        f"{e['LogicalResourceId']} ({e['ResourceType']}): {e.get('ResourceStatusReason', '?')}"
        for e in events
        if e.get("ResourceStatus", "").endswith("_FAILED")
        and e.get("ResourceType") != "AWS::CloudFormation::Stack"
        and not any(text in e.get("ResourceStatusReason", "") for text in CANCELLED)
    ]
    if not causes and stack and stack.get("StackStatusReason"):
        causes.append(stack["StackStatusReason"])
    return causes or ["CloudFormation gave no reason; see the stack's events"]


def _event_line(event: Mapping[str, Any]) -> str:
    line = (
        f"  {event['ResourceStatus']:<28} {event['ResourceType']:<34} {event['LogicalResourceId']}"
    )
    reason = event.get("ResourceStatusReason")
    if reason and event["ResourceStatus"].endswith("_FAILED"):
        line += f": {reason}"
    return line


def format_changes(change_set: ChangeSet) -> list[str]:
    lines = []
    counts = {"Add": 0, "Modify": 0, "Remove": 0}
    replaced = 0
    for change in sorted(
        change_set.changes,
        key=lambda c: ("Add Modify Remove".find(c["Action"]), c["LogicalResourceId"]),
    ):
        action = change["Action"]
        counts[action] = counts.get(action, 0) + 1
        line = (
            f"  {_SYMBOLS.get(action, '?')} {action:<7} {change['ResourceType']:<34} "
            f"{change['LogicalResourceId']}"
        )
        if action == "Modify":
            names = sorted(
                {
                    detail["Target"]["Name"]
                    for detail in change.get("Details", [])
                    if detail.get("Target", {}).get("Name")
                }
            )
            what = ", ".join(names) or ", ".join(change.get("Scope", []))
            if what:
                line += f"  (changes: {what})"
            if change.get("Replacement") in ("True", "Conditional"):
                replaced += 1
                line += "  REPLACED" if change["Replacement"] == "True" else "  may be replaced"
        lines.append(line)
    summary = f"{counts['Add']} to add, {counts['Modify']} to modify, {counts['Remove']} to remove"
    if replaced:
        summary += f" ({replaced} replaced or possibly replaced)"
    lines.append(summary)
    return lines
