"""Eight identical local runs started together register one model version (they used to
register eight): every run packs byte-identical model.tar.gz files, Evaluate records their
content digest, and registration is idempotent by that digest under the registry's lock."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
from processes import RUN_PIPELINE
from waiting import FAILSAFE_SECONDS

from pipelines.config import PROJECT_ROOT
from pipelines.local.state import State

pytestmark = pytest.mark.slow

RUNS = 8


def test_eight_identical_runs_started_together_register_one_version(
    make_project, small_sample
) -> None:
    config = make_project()
    command = [
        sys.executable,
        RUN_PIPELINE,
        "--config",
        str(config.root / "pipeline.toml"),
        "--param",
        f"InputDataUrl={small_sample}",
        "--param",
        "MetricThreshold=0",
    ]
    runs = [
        subprocess.Popen(
            command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(RUNS)
    ]
    outputs = [run.communicate(timeout=FAILSAFE_SECONDS)[0] for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output

    state = State(config.local_home / "state.db")
    executions = state.list_executions()
    assert len(executions) == RUNS and {e["status"] for e in executions} == {"Succeeded"}
    packages = state.connection().execute("SELECT package_json FROM model_packages").fetchall()
    assert len(packages) == 1, f"{len(packages)} versions registered"
    package = json.loads(packages[0][0])
    digest = package["CustomerMetadataProperties"]["ModelContentDigest"]

    store = config.local_home / "store"
    models, outcomes = set(), []
    for execution in executions:
        steps = {s["step_name"]: s for s in state.list_steps(execution["execution_id"])}
        archive = steps["Train"]["properties"]["ModelArtifacts"]["S3ModelArtifacts"]
        models.add(hashlib.sha256((store / archive[5:]).read_bytes()).digest())
        evaluation = steps["Evaluate"]["properties"]["ProcessingOutputConfig"]["Outputs"][0]
        folder = store / evaluation["S3Output"]["S3Uri"][5:]
        report = json.loads((folder / "evaluation.json").read_bytes())
        assert report["evaluation"]["model"]["content_digest"] == digest
        register = steps["RegisterModel"]
        if register["status"] != "Succeeded":
            outcomes.append("held back: FindRegisteredModel found it")
        elif (register["metadata"] or {}).get("AlreadyRegistered"):
            outcomes.append("deduplicated under the registry's lock")
        else:
            outcomes.append("registered")
    # Trained separately, packed byte for byte the same (or reused from the cache).
    assert len(models) == 1
    assert outcomes.count("registered") == 1, outcomes
