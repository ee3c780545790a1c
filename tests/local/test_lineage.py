"""An execution's data lineage, read from the snapshot step's outputs and its record."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.local.lineage import describe_lines, format_bytes, load_snapshot, summary_line
from pipelines.local.storage import ArtifactStore

RECORD = "s3://bucket/p/snapshots/abc/snapshot.json"
OUTPUTS = {
    "ManifestUri": "s3://bucket/p/snapshots/abc/manifest.json",
    "SnapshotUri": RECORD,
    "Fingerprint": "abc",
    "ObjectCount": 12,
    "TotalBytes": 2_500_000,
}


def steps(outputs: dict | None = OUTPUTS) -> list[tuple[str, dict | None]]:
    return [
        ("ResolveChampion", {"OutputParameters": {"ChampionVersion": "none"}}),
        ("SnapshotInput", {"OutputParameters": outputs} if outputs else None),
        ("Train", {"ModelArtifacts": {}}),
    ]


def test_the_snapshot_comes_from_the_step_outputs_and_the_record(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    objects = [
        {"key": f"dt=2024-06-{day:02d}/part.csv", "size": 1, "etag": f'"{day}"'}
        for day in range(1, 13)
    ]
    record = {
        "source": "s3://bucket/incoming/",
        "partition_window": 2,
        "partitions": ["2024-06-11", "2024-06-12"],
        "objects": objects,
        "ignored": {"count": 1, "examples": [{"key": "README.txt", "reason": "not a data file"}]},
    }
    store.put_bytes(json.dumps(record).encode(), RECORD)
    snapshot = load_snapshot(store, steps())
    assert snapshot["step"] == "SnapshotInput" and not snapshot["record_missing"]
    assert snapshot["objects"] == objects and snapshot["source"] == "s3://bucket/incoming/"
    line = summary_line(snapshot)
    assert line.startswith("Data snapshot abc: 12 objects, 2.5 MB from s3://bucket/incoming/")
    assert "(partitions 2024-06-11, 2024-06-12)" in line and OUTPUTS["ManifestUri"] in line
    lines = describe_lines(snapshot, head=10)
    assert "  Window       newest 2 partition(s): 2024-06-11, 2024-06-12" in lines
    assert sum(line.startswith("    dt=") for line in lines) == 10
    assert lines[-1] == "    ... and 2 more (--json lists all)"


def test_without_a_record_the_outputs_still_tell_the_lineage(tmp_path: Path) -> None:
    snapshot = load_snapshot(ArtifactStore(tmp_path / "store"), steps())
    assert snapshot["record_missing"] and snapshot["fingerprint"] == "abc"
    assert describe_lines(snapshot)[-1] == "  (the snapshot record is no longer in the local store)"
    assert load_snapshot(ArtifactStore(tmp_path / "store"), steps(None)) is None


def test_byte_counts_read_like_a_person_writes_them() -> None:
    assert [format_bytes(n) for n in (0, 999, 1000, 3_252_990, 7 * 10**9)] == [
        "0 B",
        "999 B",
        "1.0 KB",
        "3.3 MB",
        "7.0 GB",
    ]
