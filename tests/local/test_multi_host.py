"""Jobs on more than one instance: one process per host with SageMaker's contract for it.

Hand-written definitions with standard-library scripts, as in test_orchestrator.py: each
host must see its own resourceconfig.json and its own share of a ShardedByS3Key input,
every host's output is published, and any host's failure fails the job.
"""

from __future__ import annotations

import io
import json
import tarfile
import textwrap
from pathlib import Path

from test_orchestrator import BUCKET, ROLE, definition, processing, script

from pipelines.local.orchestrator import Engine

REPORT = """
import json, pathlib, sys
root = pathlib.Path(sys.argv[1])
config = json.loads((root / "config" / "resourceconfig.json").read_text())
host = config["current_host"]
data = root / "processing" / "data"
files = sorted(p.name for p in data.iterdir())
rows = [line for name in files for line in (data / name).read_text().splitlines()]
print(f"{host} has {len(files)} files")
(root / "processing" / "out" / f"seen-{host}.json").write_text(
    json.dumps({"config": config, "files": files, "rows": rows}))
"""


def sharded_step(engine: Engine, name: str, body: str, count: int = 2, **extra) -> dict:
    step = processing(
        name,
        script(engine, f"{name}.py", body),
        inputs=[("data", f"{BUCKET}/data")],
        outputs=["out"],
        args=["/opt/ml"],
        arguments={
            "ProcessingResources": {
                "ClusterConfig": {
                    "InstanceCount": count,
                    "InstanceType": "ml.m5.xlarge",
                    "VolumeSizeInGB": 30,
                }
            },
            **extra,
        },
    )
    data = step["Arguments"]["ProcessingInputs"][0]["S3Input"]
    data["S3DataDistributionType"] = "ShardedByS3Key"
    return step


def put_parts(engine: Engine, count: int) -> list[str]:
    names = [f"part-{i}.csv" for i in range(count)]
    for i, name in enumerate(names):
        engine.store.put_bytes(f"row-{i}-a\nrow-{i}-b\n".encode(), f"{BUCKET}/data/{name}")
    return names


def output_uri(result, step: str) -> str:
    outputs = result.steps[step].properties["ProcessingOutputConfig"]["Outputs"]
    return outputs[0]["S3Output"]["S3Uri"]


def test_each_host_gets_its_resourceconfig_and_its_own_shard(engine: Engine) -> None:
    names = put_parts(engine, 5)
    result = engine.run(definition(sharded_step(engine, "Shard", REPORT)), "p", {})
    assert result.succeeded, result.failure_detail
    out = output_uri(result, "Shard")
    seen = {
        host: json.loads(engine.store.read_bytes(f"{out}/seen-{host}.json"))
        for host in ("algo-1", "algo-2")
    }
    for host, report in seen.items():
        assert report["config"] == {"current_host": host, "hosts": ["algo-1", "algo-2"]}
    # Every object on exactly one host, about half each; every row once.
    assert sorted(seen["algo-1"]["files"] + seen["algo-2"]["files"]) == names
    assert not set(seen["algo-1"]["files"]) & set(seen["algo-2"]["files"])
    assert {len(r["files"]) for r in seen.values()} == {2, 3}
    rows = seen["algo-1"]["rows"] + seen["algo-2"]["rows"]
    assert sorted(rows) == sorted(f"row-{i}-{x}" for i in range(5) for x in "ab")
    # A folder and logs per host; the code input (FullyReplicated) reached both.
    job_dir = Path(result.steps["Shard"].job_dir)
    for host in ("algo-1", "algo-2"):
        assert (job_dir / host / "opt" / "ml" / "processing" / "input" / "code").is_dir()
        stdout = job_dir / "logs" / "attempt-1" / host / "stdout.log"
        assert stdout.read_text().startswith(f"{host} has ")
    summary = json.loads((job_dir / "hosts.json").read_text())
    assert [(h["host"], h["exit_code"]) for h in summary] == [("algo-1", 0), ("algo-2", 0)]
    assert all(h["peak_rss_mb"] > 0 for h in summary)


def test_a_host_without_objects_gets_an_empty_folder(engine: Engine) -> None:
    put_parts(engine, 1)
    result = engine.run(definition(sharded_step(engine, "Shard", REPORT)), "p", {})
    assert result.succeeded, result.failure_detail
    out = output_uri(result, "Shard")
    assert json.loads(engine.store.read_bytes(f"{out}/seen-algo-2.json"))["files"] == []


def test_one_failing_host_fails_the_job_with_its_reason(engine: Engine) -> None:
    put_parts(engine, 2)
    body = """
    import json, pathlib, sys
    root = pathlib.Path(sys.argv[1])
    host = json.loads((root / "config" / "resourceconfig.json").read_text())["current_host"]
    (root / "processing" / "out" / "x.txt").write_text(host)
    if host == "algo-2":
        (root / "output" / "message").write_text("bad rows in part-1.csv")
        sys.exit(1)
    """
    result = engine.run(definition(sharded_step(engine, "Shard", body)), "p", {})
    record = result.steps["Shard"]
    assert record.status == "Failed"
    assert record.failure_reason == "AlgorithmError: bad rows in part-1.csv (host algo-2 of 2)"
    # Nothing of a failed job is published.
    assert all("Shard/out" not in uri for uri in engine.store.list(f"{BUCKET}/"))
    # The logs that explain the failure come last (the view shows the last ones).
    assert record.logs[-1].endswith("algo-2/stderr.log")


def test_hosts_writing_one_name_with_different_bytes_fail_the_job(engine: Engine) -> None:
    put_parts(engine, 2)
    body = """
    import json, pathlib, sys
    root = pathlib.Path(sys.argv[1])
    host = json.loads((root / "config" / "resourceconfig.json").read_text())["current_host"]
    (root / "processing" / "out" / "same.txt").write_text("same")
    (root / "processing" / "out" / "result.txt").write_text(host)
    """
    result = engine.run(definition(sharded_step(engine, "Clash", body)), "p", {})
    reason = result.steps["Clash"].failure_reason
    assert reason.startswith("AlgorithmError: hosts algo-1 and algo-2 both wrote 'result.txt'")
    assert "output out (/opt/ml/processing/out)" in reason
    assert all("Clash/out" not in uri for uri in engine.store.list(f"{BUCKET}/"))


def test_max_runtime_stops_every_host(engine: Engine, tmp_path: Path) -> None:
    put_parts(engine, 2)
    pids = tmp_path / "pids"
    pids.mkdir()
    body = f"""
    import os, pathlib, time
    pathlib.Path({str(pids)!r}, str(os.getpid())).write_text("")
    time.sleep(60)
    """
    step = sharded_step(engine, "Hang", body, StoppingCondition={"MaxRuntimeInSeconds": 2})
    result = engine.run(definition(step), "p", {})
    assert "MaxRuntimeInSeconds (2 s)" in result.failure_detail
    for pid_file in pids.iterdir():
        assert not Path(f"/proc/{pid_file.name}").exists() or "State:\tZ" in (
            Path(f"/proc/{pid_file.name}/status").read_text()
        )


TRAIN = """
import json, os, pathlib
host = os.environ["SM_CURRENT_HOST"]
config_file = pathlib.Path(os.environ["SM_INPUT_CONFIG_DIR"], "resourceconfig.json")
config = json.loads(config_file.read_text())
model = pathlib.Path(os.environ["SM_MODEL_DIR"])
(model / f"part-{host}.json").write_text(json.dumps({
    "hosts": json.loads(os.environ["SM_HOSTS"]),
    "config_host": config["current_host"],
    "config_hosts": config["hosts"],
    "files": sorted(os.listdir(os.environ["SM_CHANNEL_TRAIN"])),
}))
(model / "shared.txt").write_text(os.environ.get("SHARED", "same"))
if os.environ.get("CLASH"):
    (model / "model.joblib").write_text(host)
"""


def training_step(engine: Engine, body: str, count: int, **environment: str) -> dict:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = textwrap.dedent(body).encode()
        info = tarfile.TarInfo("train.py")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    engine.store.put_bytes(buffer.getvalue(), f"{BUCKET}/code/multi.tar.gz")
    return {
        "Name": "Train",
        "Type": "Training",
        "Arguments": {
            "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
            "HyperParameters": {
                "sagemaker_program": "train.py",
                "sagemaker_submit_directory": f"{BUCKET}/code/multi.tar.gz",
            },
            "InputDataConfig": [
                {
                    "ChannelName": "train",
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": f"{BUCKET}/data",
                            "S3DataDistributionType": "ShardedByS3Key",
                        }
                    },
                }
            ],
            "OutputDataConfig": {"S3OutputPath": f"{BUCKET}/out/Train"},
            "ResourceConfig": {
                "InstanceType": "ml.m5.xlarge",
                "InstanceCount": count,
                "VolumeSizeInGB": 30,
            },
            "RoleArn": ROLE,
            "Environment": environment,
            "StoppingCondition": {"MaxRuntimeInSeconds": 120},
        },
    }


def test_training_hosts_get_the_toolkit_contract_and_one_model_tarball(engine: Engine) -> None:
    put_parts(engine, 2)
    result = engine.run(definition(training_step(engine, TRAIN, 2)), "p", {})
    assert result.succeeded, result.failure_detail
    model_uri = result.steps["Train"].properties["ModelArtifacts"]["S3ModelArtifacts"]
    with tarfile.open(engine.store.path_for(model_uri)) as archive:
        # SageMaker aggregates every host's /opt/ml/model into the one model.tar.gz.
        assert sorted(archive.getnames()) == ["part-algo-1.json", "part-algo-2.json", "shared.txt"]
        parts = {
            host: json.load(archive.extractfile(f"part-{host}.json"))
            for host in ("algo-1", "algo-2")
        }
    assert parts["algo-1"]["files"] == ["part-0.csv"]
    assert parts["algo-2"]["files"] == ["part-1.csv"]
    for host, part in parts.items():
        assert part["hosts"] == part["config_hosts"] == ["algo-1", "algo-2"]
        assert part["config_host"] == host


def test_training_hosts_writing_one_model_file_fail_the_job(engine: Engine) -> None:
    put_parts(engine, 2)
    result = engine.run(definition(training_step(engine, TRAIN, 2, CLASH="1")), "p", {})
    reason = result.steps["Train"].failure_reason
    assert reason.startswith(
        "AlgorithmError: hosts algo-1 and algo-2 both wrote 'model.joblib' to /opt/ml/model"
    )
    assert result.steps["Train"].properties is None
