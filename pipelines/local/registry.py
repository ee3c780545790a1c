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
that version is returned. The check and the insert are one write transaction, so identical
executions registering at the same moment get one version between them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pipelines import arns
from pipelines.local.events import LOCAL_ACCOUNT, EventLog
from pipelines.local.state import State
from pipelines.model_metadata import MODEL_CONTENT_DIGEST

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
        with self.state.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO model_package_groups VALUES (?, ?, ?, ?)",
                (group, self.group_arn(group), description, time.time()),
            )
        return self.describe_group(group)

    def describe_group(self, group: str) -> dict[str, Any]:
        row = (
            self.state.connection()
            .execute("SELECT * FROM model_package_groups WHERE group_name = ?", (group,))
            .fetchone()
        )
        if row is None:
            raise RegistryError(f"model package group {group!r} does not exist locally")
        return {
            "ModelPackageGroupName": row["group_name"],
            "ModelPackageGroupArn": row["group_arn"],
            "ModelPackageGroupDescription": row["description"],
            "CreationTime": _iso(row["creation_time"]),
            "ModelPackageGroupStatus": "Completed",
        }

    def list_groups(self) -> list[dict[str, Any]]:
        rows = (
            self.state.connection()
            .execute("SELECT group_name FROM model_package_groups ORDER BY group_name")
            .fetchall()
        )
        return [self.describe_group(r[0]) for r in rows]

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
        digest = (customer_metadata or {}).get(MODEL_CONTENT_DIGEST)
        now = time.time()
        containers = inference_specification.get("Containers") or []
        model_data_url = containers[0].get("ModelDataUrl") if containers else None
        with self.state.transaction() as conn:
            # Under the write lock: two identical executions cannot both miss each other.
            held = (
                digest
                and conn.execute(
                    "SELECT version FROM model_packages WHERE group_name = ? AND json_extract("
                    f"package_json, '$.CustomerMetadataProperties.{MODEL_CONTENT_DIGEST}') = ? "
                    "ORDER BY version LIMIT 1",
                    (group, digest),
                ).fetchone()
            )
            if held:
                return self.describe(held[0], group), False
            # Version numbers are allocated inside the write lock: concurrent executions
            # registering into one group get distinct, gap-free versions.
            version = conn.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM model_packages WHERE group_name = ?",
                (group,),
            ).fetchone()[0]
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
            conn.execute(
                "INSERT INTO model_packages (group_name, version, package_arn, status, "
                "approval_status, creation_time, last_modified_time, model_data_url, "
                "source_execution_arn, package_json, metrics_json) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    group,
                    version,
                    package["ModelPackageArn"],
                    "Completed",
                    approval_status,
                    now,
                    now,
                    model_data_url,
                    source_execution_arn,
                    json.dumps(package, sort_keys=True, default=str),
                    json.dumps(evaluation_metrics) if evaluation_metrics is not None else None,
                ),
            )
        described = self.describe(version, group)
        self._publish(described)
        return described, True

    def describe(self, version: int | str, group: str | None = None) -> dict[str, Any]:
        """DescribeModelPackage for a version number (in `group`) or a package ARN."""
        row = self._row(version, group)
        package = json.loads(row["package_json"])
        package.update(
            ModelApprovalStatus=row["approval_status"],
            CreationTime=_iso(row["creation_time"]),
            LastModifiedTime=_iso(row["last_modified_time"]),
            ModelDataUrl=row["model_data_url"],
        )
        if row["approval_description"]:
            package["ApprovalDescription"] = row["approval_description"]
        if row["metrics_json"]:
            package["EvaluationMetrics"] = json.loads(row["metrics_json"])
        return package

    def list(
        self, group: str | None = None, approval_status: str | None = None
    ) -> list[dict[str, Any]]:
        """Newest first; each a DescribeModelPackage document."""
        query = "SELECT group_name, version FROM model_packages"
        clauses, params = [], []
        if group:
            clauses.append("group_name = ?")
            params.append(group)
        if approval_status:
            _check_status(approval_status)
            clauses.append("approval_status = ?")
            params.append(approval_status)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY creation_time DESC, version DESC"
        rows = self.state.connection().execute(query, params).fetchall()
        return [self.describe(r["version"], r["group_name"]) for r in rows]

    def latest(self, group: str, approval_status: str | None = "Approved") -> dict[str, Any] | None:
        """The highest version in `group` with that approval status (any, if None)."""
        query = "SELECT version FROM model_packages WHERE group_name = ?"
        params: list[Any] = [group]
        if approval_status:
            _check_status(approval_status)
            query += " AND approval_status = ?"
            params.append(approval_status)
        row = (
            self.state.connection()
            .execute(query + " ORDER BY version DESC LIMIT 1", params)
            .fetchone()
        )
        return self.describe(row[0], group) if row else None

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
        with self.state.transaction() as conn:
            conn.execute(
                "UPDATE model_packages SET approval_status = ?, approval_description = ?, "
                "last_modified_time = ? WHERE group_name = ? AND version = ?",
                (status, description, time.time(), row["group_name"], row["version"]),
            )
        described = self.describe(row["version"], row["group_name"])
        self._publish(described)
        return described

    # -- internals ----------------------------------------------------------------------

    def _row(self, version: int | str, group: str | None):
        conn = self.state.connection()
        text = str(version).strip()
        if text.startswith("arn:"):
            row = conn.execute(
                "SELECT * FROM model_packages WHERE package_arn = ?", (text,)
            ).fetchone()
            if row is None:
                raise RegistryError(f"no local model package {text}")
            return row
        try:
            number = int(text)
        except ValueError:
            raise RegistryError(f"{version!r} is not a model package version or ARN") from None
        if group is None:
            rows = conn.execute(
                "SELECT * FROM model_packages WHERE version = ?", (number,)
            ).fetchall()
            if len(rows) > 1:
                groups = ", ".join(r["group_name"] for r in rows)
                raise RegistryError(f"version {number} exists in several groups ({groups})")
            row = rows[0] if rows else None
        else:
            row = conn.execute(
                "SELECT * FROM model_packages WHERE group_name = ? AND version = ?",
                (group, number),
            ).fetchone()
        if row is None:
            where = f" in group {group!r}" if group else ""
            raise RegistryError(f"no local model package version {number}{where}")
        return row

    def _publish(self, package: Mapping[str, Any]) -> None:
        if self.events is not None:
            detail = {k: v for k, v in package.items() if k != "EvaluationMetrics"}
            self.events.model_package_state_change(detail, time.time())


def _check_status(status: str) -> None:
    if status not in APPROVAL_STATUSES:
        raise RegistryError(
            f"approval status {status!r} is not one of {', '.join(APPROVAL_STATUSES)}"
        )
