"""An execution's data lineage: the input snapshot its SnapshotInput step took.

The step's output parameters (ManifestUri, SnapshotUri, Fingerprint, ObjectCount,
TotalBytes) are kept with the execution's steps in the state database; the object list is in
the snapshot record the function wrote beside the manifest, immutable under its
fingerprint's key. `executions describe`, the run summary and the view read it from here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pipelines.local.storage import ArtifactStore, StoreError

SNAPSHOT_OUTPUTS = ("ManifestUri", "SnapshotUri", "Fingerprint", "ObjectCount", "TotalBytes")


def snapshot_step(
    steps: Iterable[tuple[str, Mapping[str, Any] | None]],
) -> tuple[str, dict[str, Any]] | None:
    """The (step name, output parameters) of the step that took the input snapshot, from
    (step name, properties) pairs; None when no step did (or it has not run)."""
    for name, properties in steps:
        outputs = (properties or {}).get("OutputParameters") or {}
        if all(key in outputs for key in SNAPSHOT_OUTPUTS):
            return name, dict(outputs)
    return None


def load_snapshot(
    store: ArtifactStore | None, steps: Iterable[tuple[str, Mapping[str, Any] | None]]
) -> dict[str, Any] | None:
    """The snapshot an execution trained on: its outputs plus the record's source, window,
    partitions, objects and ignored objects (`record_missing` when the record is gone)."""
    found = snapshot_step(steps)
    if found is None:
        return None
    step, outputs = found
    snapshot: dict[str, Any] = {
        "step": step,
        "fingerprint": outputs["Fingerprint"],
        "manifest": outputs["ManifestUri"],
        "record": outputs["SnapshotUri"],
        "object_count": outputs["ObjectCount"],
        "total_bytes": outputs["TotalBytes"],
        "record_missing": True,
    }
    if store is None:
        return snapshot
    try:
        record = json.loads(store.read_bytes(outputs["SnapshotUri"]))
    except (StoreError, OSError, ValueError):
        return snapshot
    snapshot.update(
        record_missing=False,
        source=record.get("source"),
        prefix=record.get("prefix"),
        partition_window=record.get("partition_window"),
        partitions=record.get("partitions"),
        created=record.get("created"),
        objects=record.get("objects") or [],
        ignored=record.get("ignored") or {"count": 0, "examples": []},
    )
    return snapshot


def format_bytes(count: int | float) -> str:
    units = ("B", "KB", "MB", "GB")
    size, exponent = float(count), 0
    while size >= 1000 and exponent < len(units) - 1:
        size, exponent = size / 1000, exponent + 1
    return f"{size:.0f} B" if exponent == 0 else f"{size:.1f} {units[exponent]}"


def summary_line(snapshot: Mapping[str, Any]) -> str:
    """One line for the run summary: what the run trained on."""
    count = snapshot["object_count"]
    line = (
        f"Data snapshot {snapshot['fingerprint']}: {count} object{'s' if count != 1 else ''}, "
        f"{format_bytes(snapshot['total_bytes'])}"
    )
    if snapshot.get("source"):
        line += f" from {snapshot['source']}"
    if snapshot.get("partitions"):
        line += f" (partitions {', '.join(snapshot['partitions'])})"
    return f"{line}; manifest {snapshot['manifest']}"


def describe_lines(snapshot: Mapping[str, Any], head: int = 10) -> list[str]:
    """The snapshot for `executions describe`: facts, then the first `head` objects."""
    lines = [
        f"  Fingerprint  {snapshot['fingerprint']}",
        f"  Source       {snapshot.get('source') or '-'}",
        f"  Objects      {snapshot['object_count']} ({format_bytes(snapshot['total_bytes'])})",
        f"  Manifest     {snapshot['manifest']}",
        f"  Record       {snapshot['record']}",
    ]
    if snapshot.get("partition_window"):
        lines.append(
            f"  Window       newest {snapshot['partition_window']} partition(s): "
            f"{', '.join(snapshot.get('partitions') or [])}"
        )
    if snapshot["record_missing"]:
        lines.append("  (the snapshot record is no longer in the local store)")
        return lines
    ignored = snapshot["ignored"]
    if ignored.get("count"):
        lines.append(f"  Ignored      {ignored['count']} object(s), e.g. {ignored['examples'][0]}")
    for item in snapshot["objects"][:head]:
        lines.append(f"    {item['key']}  {item['size']} B  {item['etag']}")
    if len(snapshot["objects"]) > head:
        lines.append(f"    ... and {len(snapshot['objects']) - head} more (--json lists all)")
    return lines
