"""Job inputs with S3DataType=ManifestFile: objects placed by their key relative to the
manifest's prefix, as SageMaker does; a missing manifest or listed object fails the job."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipelines.local import executor
from pipelines.local.state import State
from pipelines.local.storage import ArtifactStore

BUCKET = "s3://bucket"
LIST_INPUTS = """
import json, os, pathlib, sys
root = pathlib.Path(sys.argv[1])
found = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
pathlib.Path(sys.argv[2], "found.json").write_text(json.dumps(found))
"""


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    store = ArtifactStore(tmp_path / "store", digests=State(tmp_path / "state.db"))
    store.put_bytes(LIST_INPUTS.encode(), f"{BUCKET}/code/list.py")
    for key in ("incoming/day1.csv", "incoming/dt=2024-06-02/day2.csv", "incoming/other.csv"):
        store.put_bytes(b"a,b\n1,2\n", f"{BUCKET}/{key}")
    return store


@pytest.fixture
def jobs(store: ArtifactStore, tmp_path: Path) -> executor.JobEnvironment:
    return executor.JobEnvironment(
        store=store, jobs_root=tmp_path / "jobs", region="us-east-1", account="000000000000"
    )


def put_manifest(store: ArtifactStore, entries: list, name: str = "manifest.json") -> str:
    uri = f"{BUCKET}/snapshots/abc/{name}"
    store.put_bytes(json.dumps(entries).encode(), uri)
    return uri


def processing_arguments(manifest_uri: str) -> dict:
    s3_input = {"S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}
    return {
        "AppSpecification": {
            "ImageUri": "image",
            "ContainerEntrypoint": ["python3", "/opt/ml/processing/code/list.py"],
            "ContainerArguments": ["/opt/ml/processing/input/data", "/opt/ml/processing/out"],
        },
        "ProcessingInputs": [
            {
                "InputName": "data",
                "S3Input": {
                    **s3_input,
                    "S3Uri": manifest_uri,
                    "LocalPath": "/opt/ml/processing/input/data",
                    "S3DataType": "ManifestFile",
                },
            },
            {
                "InputName": "code",
                "S3Input": {
                    **s3_input,
                    "S3Uri": f"{BUCKET}/code/list.py",
                    "LocalPath": "/opt/ml/processing/code",
                    "S3DataType": "S3Prefix",
                },
            },
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "out",
                    "S3Output": {
                        "S3Uri": f"{BUCKET}/exec/1/out",
                        "LocalPath": "/opt/ml/processing/out",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
    }


def test_a_manifest_places_exactly_its_objects_by_relative_key(
    store: ArtifactStore, jobs: executor.JobEnvironment
) -> None:
    manifest = put_manifest(
        store, [{"prefix": f"{BUCKET}/incoming/"}, "day1.csv", "dt=2024-06-02/day2.csv"]
    )
    result = executor.run_processing_job(jobs, "job-1", processing_arguments(manifest), 1)
    assert result.succeeded, result.failure_reason
    # other.csv sits under the same prefix but is not in the manifest: not read.
    found = json.loads(store.read_bytes(f"{BUCKET}/exec/1/out/found.json"))
    assert found == ["day1.csv", "dt=2024-06-02/day2.csv"]
    placed = result.job_dir / "opt/ml/processing/input/data/day1.csv"
    assert os.path.samefile(placed, store.path_for(f"{BUCKET}/incoming/day1.csv"))


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (None, r"ClientError: ProcessingInput data: the manifest file .*/missing.json does not"),
        ("not json", "is not valid JSON"),
        (["day1.csv"], r'must be a JSON array starting with \{"prefix"'),
        ([{"prefix": f"{BUCKET}/incoming/"}, 3], "element 1 must be a non-empty key"),
        ([{"prefix": f"{BUCKET}/incoming/"}], "lists no objects"),
        (
            [{"prefix": f"{BUCKET}/incoming/"}, "day1.csv", "gone.csv", "../../etc/passwd"],
            r"lists 2 object\(s\) that do not exist: s3://bucket/incoming/gone.csv, "
            r"s3://bucket/incoming/../../etc/passwd",
        ),
    ],
)
def test_a_bad_manifest_fails_the_job_before_it_runs(
    store: ArtifactStore, jobs: executor.JobEnvironment, entries, message: str
) -> None:
    if entries is None:
        manifest = f"{BUCKET}/snapshots/abc/missing.json"
    elif isinstance(entries, str):
        manifest = f"{BUCKET}/snapshots/abc/bad.json"
        store.put_bytes(entries.encode(), manifest)
    else:
        manifest = put_manifest(store, entries)
    with pytest.raises(executor.JobError, match=message):
        executor.run_processing_job(jobs, "job-1", processing_arguments(manifest), 1)


def test_training_channels_read_manifests_too(
    store: ArtifactStore, jobs: executor.JobEnvironment
) -> None:
    import io
    import tarfile

    program = (
        b"import json, os, pathlib\n"
        b"root = pathlib.Path(os.environ['SM_CHANNEL_TRAIN'])\n"
        b"found = sorted(p.relative_to(root).as_posix() for p in root.rglob('*') if p.is_file())\n"
        b"pathlib.Path(os.environ['SM_MODEL_DIR'], 'found.json').write_text(json.dumps(found))\n"
    )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("train.py")
        info.size = len(program)
        archive.addfile(info, io.BytesIO(program))
    store.put_bytes(buffer.getvalue(), f"{BUCKET}/code/sourcedir.tar.gz")
    manifest = put_manifest(store, [{"prefix": f"{BUCKET}/incoming/"}, "dt=2024-06-02/day2.csv"])
    arguments = {
        "HyperParameters": {
            "sagemaker_program": "train.py",
            "sagemaker_submit_directory": f"{BUCKET}/code/sourcedir.tar.gz",
        },
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": manifest}},
            }
        ],
        "OutputDataConfig": {"S3OutputPath": f"{BUCKET}/exec/1/Train"},
    }
    result = executor.run_training_job(jobs, "train-1", arguments, 1)
    assert result.succeeded, result.failure_reason
    found = json.loads((result.job_dir / "opt/ml/model/found.json").read_text())
    assert found == ["dt=2024-06-02/day2.csv"]
