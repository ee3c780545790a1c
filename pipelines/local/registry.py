"""A persistent local Model Registry with SageMaker's shapes.

Groups and versions live in the engine's SQLite database. `describe()` returns a
DescribeModelPackage document (ModelPackageGroupName, ModelPackageVersion, ModelPackageArn,
ModelPackageStatus, ModelApprovalStatus, CreationTime, LastModifiedTime,
InferenceSpecification, ModelMetrics, MetadataProperties ...) plus two conveniences:
`ModelDataUrl` (the first container's) and `EvaluationMetrics` (the statistics file's
content, read at registration). Times are ISO-8601 UTC strings. Registrations and approval
changes publish "SageMaker Model Package State Change" events.

Registration is idempotent by model content: a package whose CustomerMetadataProperties
carry a ModelContentDigest already held by a version of its group is not registered again;
that version is returned. The check and the insert are one write transaction
(State.add_model_package), so identical executions registering at the same moment get one
version between them. The SQL lives in pipelines.local.state; this module keeps SageMaker's
documents, ARNs and rules.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pipelines import arns
from pipelines.local.events import LOCAL_ACCOUNT, EventLog
from pipelines.local.records import MODEL_CONTENT_DIGEST, ModelPackageGroupRow, ModelPackageRow
from pipelines.local.state import State

APPROVAL_STATUSES = ("Approved", "Rejected", "PendingManualApproval")


class RegistryError(LookupError):
    """A model package or group does not exist, or a request to the registry is invalid."""


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


class ModelRegistry:
    def __init__(self, state: State, region: str, events: EventLog | None = None) -> None:
        self.state = state
        self.region = region
        self.events = events

    # -- ARNs ---------------------------------------------------------------------------

    def _arn(self, resource: str) -> str:
        return arns.arn("sagemaker", self.region, LOCAL_ACCOUNT, resource)

    def group_arn(self, group: str) -> str:
        return self._arn(f"model-package-group/{group.lower()}")

    def package_arn(self, group: str, version: int) -> str:
        return self._arn(f"model-package/{group.lower()}/{version}")

    # -- groups -------------------------------------------------------------------------

    def create_group(self, group: str, description: str = "") -> dict[str, Any]:
        """Create the group if it does not exist (idempotent); DescribeModelPackageGroup."""
        self.state.insert_model_package_group(
            ModelPackageGroupRow(group, self.group_arn(group), description, time.time())
        )
        return self.describe_group(group)

    def describe_group(self, group: str) -> dict[str, Any]:
        row = self.state.model_package_group(group)
        if row is None:
            raise RegistryError(f"model package group {group!r} does not exist locally")
        return _describe_group(row)

    def list_groups(self) -> list[dict[str, Any]]:
        return [_describe_group(row) for row in self.state.model_package_groups()]

    # -- packages -----------------------------------------------------------------------

    def register(
        self,
        group: str,
        *,
        inference_specification: Mapping[str, Any],
        approval_status: str = "PendingManualApproval",
        model_metrics: Mapping[str, Any] | None = None,
        evaluation_metrics: Mapping[str, Any] | None = None,
        description: str | None = None,
        customer_metadata: Mapping[str, str] | None = None,
        source_execution_arn: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A new version in `group` (created if missing), or the version already holding
        the same model (see register_once); returns DescribeModelPackage."""
        return self.register_once(
            group,
            inference_specification=inference_specification,
            approval_status=approval_status,
            model_metrics=model_metrics,
            evaluation_metrics=evaluation_metrics,
            description=description,
            customer_metadata=customer_metadata,
            source_execution_arn=source_execution_arn,
            extra=extra,
        )[0]

    def register_once(
        self,
        group: str,
        *,
        inference_specification: Mapping[str, Any],
        approval_status: str = "PendingManualApproval",
        model_metrics: Mapping[str, Any] | None = None,
        evaluation_metrics: Mapping[str, Any] | None = None,
        description: str | None = None,
        customer_metadata: Mapping[str, str] | None = None,
        source_execution_arn: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """(DescribeModelPackage, True) for a new version; (the version already holding the
        same ModelContentDigest, False) when there is one."""
        _check_status(approval_status)
        self.create_group(group)
        now = time.time()
        containers = inference_specification.get("Containers") or []
        model_data_url = containers[0].get("ModelDataUrl") if containers else None

        def make(version: int) -> ModelPackageRow:
            # Called under the state's write lock with the version number it allocated.
            package: dict[str, Any] = {
                "ModelPackageGroupName": group,
                "ModelPackageVersion": version,
                "ModelPackageArn": self.package_arn(group, version),
                "ModelPackageStatus": "Completed",
                "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
                "ModelApprovalStatus": approval_status,
                "CertifyForMarketplace": False,
                "InferenceSpecification": dict(inference_specification),
            }
            if description:
                package["ModelPackageDescription"] = description
            if model_metrics:
                package["ModelMetrics"] = dict(model_metrics)
            if customer_metadata:
                package["CustomerMetadataProperties"] = dict(customer_metadata)
            if source_execution_arn:
                package["MetadataProperties"] = {"GeneratedBy": source_execution_arn}
            for key, value in (extra or {}).items():
                package.setdefault(key, value)
            return ModelPackageRow(
                group_name=group,
                version=version,
                package_arn=package["ModelPackageArn"],
                status="Completed",
                approval_status=approval_status,
                creation_time=now,
                last_modified_time=now,
                package=package,
                model_data_url=model_data_url,
                source_execution_arn=source_execution_arn,
                evaluation_metrics=None if evaluation_metrics is None else dict(evaluation_metrics),
            )

        row, added = self.state.add_model_package(
            group, make, content_digest=(customer_metadata or {}).get(MODEL_CONTENT_DIGEST)
        )
        # Read back: the document as stored (JSON), as every later describe() returns it.
        described = self.describe(row.version, row.group_name)
        if added:
            self._publish(described)
        return described, added

    def describe(self, version: int | str, group: str | None = None) -> dict[str, Any]:
        """DescribeModelPackage for a version number (in `group`) or a package ARN."""
        return _describe(self._row(version, group))

    def list(
        self, group: str | None = None, approval_status: str | None = None
    ) -> list[dict[str, Any]]:
        """Newest first; each a DescribeModelPackage document."""
        if approval_status:
            _check_status(approval_status)
        return [_describe(row) for row in self.state.model_packages(group, approval_status)]

    def latest(self, group: str, approval_status: str | None = "Approved") -> dict[str, Any] | None:
        """The highest version in `group` with that approval status (any, if None)."""
        if approval_status:
            _check_status(approval_status)
        row = self.state.latest_model_package(group, approval_status)
        return _describe(row) if row else None

    def update_approval(
        self,
        version: int | str,
        status: str,
        group: str | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """UpdateModelPackage(ModelApprovalStatus=...); publishes a state-change event."""
        _check_status(status)
        row = self._row(version, group)
        self.state.update_model_package_approval(
            row.group_name, row.version, status, description, time.time()
        )
        described = self.describe(row.version, row.group_name)
        self._publish(described)
        return described

    # -- internals ----------------------------------------------------------------------

    def _row(self, version: int | str, group: str | None) -> ModelPackageRow:
        text = str(version).strip()
        if text.startswith("arn:"):
            row = self.state.model_package_by_arn(text)
            if row is None:
                raise RegistryError(f"no local model package {text}")
            return row
        try:
            number = int(text)
        except ValueError:
            raise RegistryError(f"{version!r} is not a model package version or ARN") from None
        if group is None:
            rows = self.state.model_packages_numbered(number)
            if len(rows) > 1:
                groups = ", ".join(r.group_name for r in rows)
                raise RegistryError(f"version {number} exists in several groups ({groups})")
            found = rows[0] if rows else None
        else:
            found = self.state.model_package(group, number)
        if found is None:
            where = f" in group {group!r}" if group else ""
            raise RegistryError(f"no local model package version {number}{where}")
        return found

    def _publish(self, package: Mapping[str, Any]) -> None:
        if self.events is not None:
            detail = {k: v for k, v in package.items() if k != "EvaluationMetrics"}
            self.events.model_package_state_change(detail, time.time())


def _describe_group(row: ModelPackageGroupRow) -> dict[str, Any]:
    """DescribeModelPackageGroup."""
    return {
        "ModelPackageGroupName": row.group_name,
        "ModelPackageGroupArn": row.group_arn,
        "ModelPackageGroupDescription": row.description,
        "CreationTime": _iso(row.creation_time),
        "ModelPackageGroupStatus": "Completed",
    }


def _describe(row: ModelPackageRow) -> dict[str, Any]:
    """DescribeModelPackage: the stored document with the columns that change after
    registration (approval) and the two conveniences."""
    package = dict(row.package)
    package.update(
        ModelApprovalStatus=row.approval_status,
        CreationTime=_iso(row.creation_time),
        LastModifiedTime=_iso(row.last_modified_time),
        ModelDataUrl=row.model_data_url,
    )
    if row.approval_description:
        package["ApprovalDescription"] = row.approval_description
    if row.evaluation_metrics is not None:
        package["EvaluationMetrics"] = row.evaluation_metrics
    return package


def _check_status(status: str) -> None:
    if status not in APPROVAL_STATUSES:
        raise RegistryError(
            f"approval status {status!r} is not one of {', '.join(APPROVAL_STATUSES)}"
        )
