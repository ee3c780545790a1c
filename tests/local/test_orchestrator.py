"""The engine on small hand-written definitions with standard-library job scripts.

These pin the behaviour the project's own pipeline does not exercise on every run:
parallel branches within the limit, DependsOn, timeouts, the training-toolkit contract,
retry exhaustion, unsupported steps and unresolved references.
"""

from __future__ import annotations

import itertools
import json
import textwrap
from pathlib import Path

from waiting import FAILSAFE_SECONDS, POLL_SECONDS, wait_until

from pipelines.local.events import read_events
from pipelines.local.faults import parse_faults
from pipelines.local.orchestrator import Engine, RunOptions

BUCKET = "s3://bucket"
ROLE = "arn:aws:iam::000000000000:role/Test"
# What every CreateProcessingJob / CreateTrainingJob needs: the engine checks each request as
# SageMaker does before the job runs.
CLUSTER = {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}
TRAINING_REQUIRED = {
    "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
    "ResourceConfig": CLUSTER,
    "RoleArn": ROLE,
    "StoppingCondition": {"MaxRuntimeInSeconds": 60},
}


def script(engine: Engine, name: str, body: str) -> str:
    uri = f"{BUCKET}/code/{name}"
    engine.store.put_bytes(textwrap.dedent(body).encode(), uri)
    return uri


def processing(name: str, code: str, *, inputs=(), outputs=(), args=(), **extra) -> dict:
    step = {
        "Name": name,
        "Type": "Processing",
        "Arguments": {
            "ProcessingResources": {"ClusterConfig": CLUSTER},
            "RoleArn": ROLE,
            "AppSpecification": {
                "ImageUri": "image",
                "ContainerEntrypoint": [
                    "python3",
                    f"/opt/ml/processing/input/code/{code.rsplit('/', 1)[-1]}",
                ],
                **({"ContainerArguments": list(args)} if args else {}),
            },
            "ProcessingInputs": [
                *(
                    {
                        "InputName": n,
                        "S3Input": {
                            "S3Uri": uri,
                            "LocalPath": f"/opt/ml/processing/{n}",
                            "S3DataType": "S3Prefix",
                            "S3InputMode": "File",
                        },
                    }
                    for n, uri in inputs
                ),
                {
                    "InputName": "code",
                    "S3Input": {
                        "S3Uri": code,
                        "LocalPath": "/opt/ml/processing/input/code",
                        "S3DataType": "S3Prefix",
                        "S3InputMode": "File",
                    },
                },
            ],
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": n,
                        "S3Output": {
                            "S3Uri": {
                                "Std:Join": {
                                    "On": "/",
                                    "Values": [
                                        BUCKET,
                                        {"Get": "Execution.PipelineExecutionId"},
                                        name,
                                        n,
                                    ],
                                }
                            },
                            "LocalPath": f"/opt/ml/processing/{n}",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                    for n in outputs
                ]
            },
        },
    }
    step["Arguments"].update(extra.pop("arguments", {}))
    step.update(extra)
    return step


def output_of(step: str, name: str) -> dict:
    return {"Get": f"Steps.{step}.ProcessingOutputConfig.Outputs['{name}'].S3Output.S3Uri"}


def definition(*steps: dict, parameters=()) -> dict:
    return {"Version": "2020-12-01", "Parameters": list(parameters), "Steps": list(steps)}


# Each step marks its arrival, then waits until `count` steps have arrived: the steps can
# only finish if that many ran at the same time.
MEETING = f"""
import pathlib, sys, time
folder, name, count = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
(folder / name).touch()
deadline = time.monotonic() + {FAILSAFE_SECONDS}  # a failsafe, not a margin
while len(list(folder.iterdir())) < count:
    if time.monotonic() > deadline:
        sys.exit(f"{{name}}: fewer than {{count}} steps ever ran at the same time")
    time.sleep({POLL_SECONDS})
"""


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals open at one instant (an end before a start at ties)."""
    moments = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, change in moments:
        running += change
        peak = max(peak, running)
    return peak


def test_independent_steps_run_in_parallel_within_the_limit(engine: Engine, tmp_path: Path) -> None:
    code = script(engine, "meet.py", MEETING)
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    steps = [processing(f"S{i}", code, args=[str(meeting), f"S{i}", "2"]) for i in range(3)]
    result = engine.run(definition(*steps), "p", {}, RunOptions(max_parallel_steps=2))
    # Two steps met (so they ran together), and the limit kept the third out meanwhile.
    assert result.succeeded, result.failure_reason
    intervals = [(s.start, s.end) for s in result.steps.values()]
    assert most_at_once(intervals) == 2

    quick = script(engine, "quick.py", "print('done')\n")
    steps = [processing(f"S{i}", quick) for i in range(3)]
    result = engine.run(definition(*steps), "p", {}, RunOptions(max_parallel_steps=1))
    assert result.succeeded, result.failure_reason
    intervals = sorted((s.start, s.end) for s in result.steps.values())
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(intervals))


def test_depends_on_and_data_flow_between_steps(engine: Engine) -> None:
    writer = script(
        engine,
        "write.py",
        """
        import pathlib, sys
        out = "/opt/ml/processing/out/value.txt".replace("/opt/ml", sys.argv[1])
        pathlib.Path(out).write_text("42")
    """,
    )
    reader = script(
        engine,
        "read.py",
        """
        import pathlib, sys
        root = sys.argv[1]
        value = pathlib.Path(root + "/processing/in/value.txt").read_text()
        pathlib.Path(root + "/processing/out/copy.txt").write_text(value + "!")
    """,
    )
    last = script(engine, "last.py", "print('last')\n")
    steps = [
        processing("Write", writer, outputs=["out"], args=["/opt/ml"]),
        processing(
            "Read",
            reader,
            inputs=[("in", output_of("Write", "out"))],
            outputs=["out"],
            args=["/opt/ml"],
        ),
        processing("Last", last, DependsOn=["Read"]),
    ]
    result = engine.run(definition(*steps), "p", {}, RunOptions(max_parallel_steps=4))
    assert result.succeeded, result.failure_reason
    copy = result.steps["Read"].properties["ProcessingOutputConfig"]["Outputs"][0]
    assert engine.store.read_bytes(copy["S3Output"]["S3Uri"] + "/copy.txt") == b"42!"
    assert result.steps["Last"].start >= result.steps["Read"].end


def test_max_runtime_stops_the_job_and_its_children(engine: Engine, tmp_path: Path) -> None:
    child_pid = tmp_path / "child.pid"
    code = script(
        engine,
        "hang.py",
        f"""
        import pathlib, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
        pathlib.Path({str(child_pid)!r}).write_text(str(child.pid))
        time.sleep(3600)
    """,
    )
    # The job must have started its child before the limit strikes, or there is nothing
    # to prove: on a machine too busy for that, the limit doubles and the run is redone.
    limit = 1
    while True:
        child_pid.unlink(missing_ok=True)
        stopping = {"StoppingCondition": {"MaxRuntimeInSeconds": limit}}
        result = engine.run(definition(processing("Hang", code, arguments=stopping)), "p", {})
        # The job sleeps for an hour: that the run came back at all is the limit at work.
        assert result.status == "Failed"
        assert f"MaxRuntimeInSeconds ({limit} s)" in result.failure_detail
        if child_pid.exists() or limit >= 64:
            break
        limit *= 2
    assert child_pid.exists(), "the job never got to start its child"
    pid = int(child_pid.read_text())
    wait_until(lambda: not _running(pid), f"the job's child (pid {pid}) is killed with it")


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # a zombie has exited; only its parent has not reaped it yet


def test_a_crash_is_an_algorithm_error_with_the_last_stderr_lines_and_not_retried(
    engine: Engine, tmp_path: Path
) -> None:
    code = script(engine, "crash.py", "raise SystemExit('ERROR: column x is broken')\n")
    step = processing(
        "Crash",
        code,
        RetryPolicies=[
            {
                "ExceptionType": ["Step.THROTTLING", "SageMaker.JOB_INTERNAL_ERROR"],
                "IntervalSeconds": 0,
                "MaxAttempts": 3,
            }
        ],
    )
    result = engine.run(definition(step), "p", {})
    crash = result.steps["Crash"]
    assert crash.status == "Failed"
    assert crash.attempts == 1
    assert crash.failure_reason == "AlgorithmError: ERROR: column x is broken"
    # SageMaker's FailureReason for the execution, and the explanation beside it.
    assert result.failure_reason == "Step failure: One or multiple steps failed."
    assert result.failure_detail == "Step Crash failed: AlgorithmError: ERROR: column x is broken"
    events, _ = read_events(tmp_path / "events.jsonl")
    finished = [e["detail"] for e in events if "currentPipelineExecutionStatus" in e["detail"]]
    assert finished[-1]["failureReason"] == "Step failure: One or multiple steps failed."
    assert finished[-1]["failureDetail"] == result.failure_detail
    stderr = Path(crash.logs[1])
    assert stderr.name == "stderr.log" and "column x" in stderr.read_text()


def test_injected_faults_retry_then_exhaust(engine: Engine, tmp_path: Path) -> None:
    code = script(engine, "ok.py", "print('ok')\n")
    step = processing(
        "Job",
        code,
        RetryPolicies=[
            {
                "ExceptionType": ["SageMaker.CAPACITY_ERROR"],
                "IntervalSeconds": 0,
                "BackoffRate": 2.0,
                "MaxAttempts": 2,
            }
        ],
    )
    faults = parse_faults(["Job=CAPACITY_ERROR:2"], {"Job": "Processing"})
    result = engine.run(definition(step), "p", {}, RunOptions(faults=faults))
    assert result.succeeded and result.steps["Job"].attempts == 3
    # Each retried attempt is kept with its reason (the step's fields hold the last one);
    # an injected fault fails before any job starts, so it has no job and no log.
    row = engine.state.get_step(result.execution_id, "Job")
    retried = row.metadata["RetriedAttempts"]
    assert [a["Attempt"] for a in retried] == [1, 2]
    assert all(a["FailureReason"].startswith("CapacityError: ") for a in retried)
    assert all(a["ExceptionType"] == "SageMaker.CAPACITY_ERROR" for a in retried)
    assert all(a["JobName"] is None and a["Logs"] == [] for a in retried)
    assert retried[0]["StartTime"] <= retried[0]["EndTime"] <= retried[1]["StartTime"]
    assert row.failure_reason is None and len(row.logs) == 2  # the third attempt's
    # State only: the events carry SageMaker's step metadata, nothing more.
    assert "RetriedAttempts" not in (tmp_path / "events.jsonl").read_text()
    faults = parse_faults(["Job=CAPACITY_ERROR:3"], {"Job": "Processing"})
    result = engine.run(definition(step), "p", {}, RunOptions(faults=faults, no_cache=True))
    assert result.status == "Failed" and result.steps["Job"].attempts == 3
    assert "CapacityError" in result.failure_detail
    # A kind no policy names fails at once.
    faults = parse_faults(["Job=THROTTLING"], {"Job": "Processing"})
    result = engine.run(definition(step), "p", {}, RunOptions(faults=faults, no_cache=True))
    assert result.steps["Job"].attempts == 1 and "ThrottlingException" in result.failure_detail


TRAIN = """
import json, os, sys
env = {k: v for k, v in os.environ.items() if k.startswith("SM_")}
out = os.environ["SM_MODEL_DIR"]
json.dump({"argv": sys.argv[1:], "env": env, "cwd": os.getcwd(),
           "files": sorted(os.listdir(os.environ["SM_CHANNEL_TRAIN"]))},
          open(os.path.join(out, "seen.json"), "w"))
open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "extra.txt"), "w").write("x")
"""


def test_training_follows_the_toolkit_contract(engine: Engine, tmp_path: Path) -> None:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = TRAIN.encode()
        info = tarfile.TarInfo("train.py")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    engine.store.put_bytes(buffer.getvalue(), f"{BUCKET}/code/sourcedir.tar.gz")
    engine.store.put_bytes(b"rows", f"{BUCKET}/data/train/part-0.csv")
    step = {
        "Name": "Train",
        "Type": "Training",
        "Arguments": {
            **TRAINING_REQUIRED,
            "HyperParameters": {
                "sagemaker_program": "train.py",
                "sagemaker_submit_directory": f"{BUCKET}/code/sourcedir.tar.gz",
                "max-iter": {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.MaxIter"}]}},
                "label-column": "is_fraud",
            },
            "InputDataConfig": [
                {
                    "ChannelName": "train",
                    "DataSource": {
                        "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"{BUCKET}/data/train"}
                    },
                    "ContentType": "text/csv",
                }
            ],
            "OutputDataConfig": {"S3OutputPath": f"{BUCKET}/out/Train"},
        },
    }
    parameters = [{"Name": "MaxIter", "Type": "Integer", "DefaultValue": 200}]
    result = engine.run(definition(step, parameters=parameters), "p", {"MaxIter": 50})
    assert result.succeeded, result.failure_reason
    train = result.steps["Train"].properties
    model_uri = train["ModelArtifacts"]["S3ModelArtifacts"]
    assert model_uri == f"{BUCKET}/out/Train/{train['TrainingJobName']}/output/model.tar.gz"
    assert engine.store.exists(model_uri.replace("model.tar.gz", "output.tar.gz"))
    with tarfile.open(engine.store.path_for(model_uri)) as archive:
        seen = json.load(archive.extractfile("seen.json"))
    assert seen["argv"] == ["--label-column", "is_fraud", "--max-iter", "50"]
    assert seen["files"] == ["part-0.csv"]
    env = seen["env"]
    assert json.loads(env["SM_HPS"]) == {"label-column": "is_fraud", "max-iter": 50}
    assert json.loads(env["SM_CHANNELS"]) == ["train"]
    assert env["SM_CHANNEL_TRAIN"].endswith("/opt/ml/input/data/train")
    assert env["SM_MODEL_DIR"].endswith("/opt/ml/model")
    assert env["SM_MODULE_NAME"] == "train"
    assert json.loads(env["SM_USER_ARGS"]) == seen["argv"]
    assert json.loads(env["SM_TRAINING_ENV"])["hyperparameters"]["max-iter"] == 50
    assert seen["cwd"].endswith("/opt/ml/code")
    config_dir = Path(env["SM_INPUT_CONFIG_DIR"])
    assert json.loads((config_dir / "hyperparameters.json").read_text())["max-iter"] == "50"
    assert "train" in json.loads((config_dir / "inputdataconfig.json").read_text())
    assert json.loads((config_dir / "resourceconfig.json").read_text())["hosts"] == ["algo-1"]


def test_training_failure_file_becomes_the_reason(engine: Engine) -> None:
    import io
    import tarfile

    body = (
        b"import os\n"
        b"open(os.environ['SM_OUTPUT_DIR'] + '/failure', 'w').write('bad label')\n"
        b"raise SystemExit(2)\n"
    )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("train.py")
        info.size = len(body)
        archive.addfile(info, io.BytesIO(body))
    engine.store.put_bytes(buffer.getvalue(), f"{BUCKET}/code/fail.tar.gz")
    step = {
        "Name": "Train",
        "Type": "Training",
        "Arguments": {
            **TRAINING_REQUIRED,
            "HyperParameters": {
                "sagemaker_program": "train.py",
                "sagemaker_submit_directory": f"{BUCKET}/code/fail.tar.gz",
            },
            "OutputDataConfig": {"S3OutputPath": f"{BUCKET}/out"},
        },
    }
    result = engine.run(definition(step), "p", {})
    assert result.steps["Train"].failure_reason == "AlgorithmError: bad label"
    assert result.steps["Train"].properties is None


def test_unsupported_steps_and_missing_inputs_fail_clearly(engine: Engine) -> None:
    transform = {"Name": "Score", "Type": "Transform", "Arguments": {}}
    result = engine.run(definition(transform), "p", {})
    assert "step type Transform is not supported" in result.failure_detail
    code = script(engine, "ok.py", "print('ok')\n")
    step = processing("Read", code, inputs=[("data", f"{BUCKET}/nothing/here")])
    result = engine.run(definition(step), "p", {})
    assert "No S3 objects found under S3 URL" in result.failure_detail
    assert f"{BUCKET}/nothing/here" in result.failure_detail


def test_events_and_state_follow_every_transition(engine: Engine, tmp_path: Path) -> None:
    code = script(engine, "ok.py", "print('ok')\n")
    result = engine.run(definition(processing("Job", code)), "p", {})
    events, _ = read_events(tmp_path / "events.jsonl")
    step_events = [e["detail"]["currentStepStatus"] for e in events if "stepName" in e["detail"]]
    assert step_events == ["Starting", "Executing", "Succeeded"]
    assert [
        e["detail"]["currentPipelineExecutionStatus"]
        for e in events
        if "stepName" not in e["detail"]
    ] == ["Executing", "Succeeded"]
    succeeded = events[-2]["detail"]
    assert succeeded["metadata"]["processingJob"]["arn"].startswith(
        f"arn:aws:sagemaker:us-east-1:000000000000:processing-job/pipelines-{result.execution_id}-job-"
    )
    stored = engine.state.get_execution(result.execution_id)
    assert stored.status == "Succeeded" and stored.end_time >= stored.start_time
    (step,) = engine.state.list_steps(result.execution_id)
    assert step.status == "Succeeded" and step.job_name.startswith("pipelines-")


def test_a_hit_on_changed_content_under_the_same_request_is_reused_and_reported(
    engine: Engine, tmp_path: Path
) -> None:
    """SageMaker's key is the request: an input overwritten in place is still a hit there,
    so it is one here too, and the engine says loudly what would be stale on SageMaker."""
    from pipelines.app.progress import PlainProgress, summarize

    code = script(
        engine,
        "count.py",
        """
        import pathlib, sys
        rows = pathlib.Path(sys.argv[1], "in.csv").read_text().splitlines()
        pathlib.Path(sys.argv[2], "count.txt").write_text(str(len(rows)))
        """,
    )
    data = f"{BUCKET}/data/in.csv"
    engine.store.put_bytes(b"1\n2\n", data)
    step = processing(
        "Count",
        code,
        inputs=[("data", data)],
        outputs=["out"],
        args=["/opt/ml/processing/data", "/opt/ml/processing/out"],
        CacheConfig={"Enabled": True, "ExpireAfter": "P30D"},
    )
    first = engine.run(definition(step), "p", {})
    assert first.succeeded, first.failure_reason
    assert first.steps["Count"].cache_warning is None

    again = engine.run(definition(step), "p", {})  # same content: a plain hit
    assert again.steps["Count"].cache_source_id == first.execution_id
    assert again.steps["Count"].cache_warning is None

    engine.store.put_bytes(b"1\n2\n3\n", data)
    lines: list[str] = []
    stale = engine.run(definition(step), "p", {}, RunOptions(listener=PlainProgress(lines.append)))
    record = stale.steps["Count"]
    assert stale.succeeded and record.cache_source_id == first.execution_id
    assert record.attempts == 0  # not re-run
    out = record.properties["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert engine.store.read_bytes(out + "/count.txt") == b"2"  # the old result, as on SageMaker
    expected = (
        f"Count reused execution {first.execution_id}'s result although {data} changed since: "
        "SageMaker would reuse it too (its cache key is the request, not the data)"
    )
    assert record.cache_warning.startswith(expected)
    assert any(expected in line and "Succeeded" in line for line in lines)
    summary = summarize(stale, engine.store)
    assert f"WARNING: {record.cache_warning}" in summary.details
    assert summary.steps[0][-1] == f"hit ({first.execution_id}, inputs changed)"
    [step_row] = engine.state.list_steps(stale.execution_id)
    assert step_row.metadata["CacheWarning"]["ChangedInputs"] == [data]
    events, _ = read_events(tmp_path / "events.jsonl")
    [event] = [
        e["detail"]
        for e in events
        if e["detail"].get("pipelineExecutionArn", "").endswith(stale.execution_id)
        and e["detail"].get("currentStepStatus") == "Succeeded"
    ]
    assert event["cacheHitResult"]["sourcePipelineExecutionArn"] == first.execution_arn
    assert event["metadata"]["cacheWarning"]["message"] == record.cache_warning


def test_a_request_sagemaker_would_refuse_fails_the_step_before_its_job_starts(
    engine: Engine, tmp_path: Path
) -> None:
    code = script(engine, "ok.py", "print('ok')\n")
    step = processing(
        "Job",
        code,
        arguments={
            "ProcessingResources": {
                "ClusterConfig": {**CLUSTER, "InstanceType": {"Get": "Parameters.Kind"}}
            }
        },
        RetryPolicies=[{"ExceptionType": ["Step.THROTTLING"], "MaxAttempts": 2}],
    )
    parameters = [{"Name": "Kind", "Type": "String", "DefaultValue": "ml.m5.xlarge"}]
    result = engine.run(definition(step, parameters=parameters), "p", {"Kind": "ml.tiny"})
    job = result.steps["Job"]
    assert job.status == "Failed"
    assert job.failure_reason.startswith(
        "ClientError: Failed to invoke sagemaker:CreateProcessingJob. Error Details: 1 "
        "validation error detected: Value 'ml.tiny' at "
        "'processingResources.clusterConfig.instanceType' failed to satisfy constraint: Member "
        "must satisfy enum value set: [ml.t3.medium, "
    )
    assert job.failure_reason.endswith("[value from parameter Kind = 'ml.tiny']")
    assert job.logs == [] and not (tmp_path / "jobs" / result.execution_id).exists()
    assert result.failure_detail.startswith("Step Job failed: ClientError: Failed to invoke")
