"""Eight identical local runs started together register one model version (they used to
register eight): every run packs byte-identical model.tar.gz files, Evaluate records their
content digest, FindRegisteredModel finds the version recording it or claims the digest (an
S3 conditional write the local S3 API makes atomic, as S3 does), and only the claimant
registers. The registry's lock behind it (idempotent by digest) has nothing left to catch.

Which of the two holds a run back depends on timing (the shared cache staggers the runs:
most often the version, already registered); either is accepted. The claim's own decisions
are proven on the function (tests/local/test_lambda_step.py, tests/aws/test_champion_lambda.py)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
from processes import RUN_PIPELINE
from waiting import FAILSAFE_SECONDS

from pipelines.code_assets import registry_claims_uri
from pipelines.config import PROJECT_ROOT
from pipelines.local.registry import ModelRegistry
from pipelines.local.state import State
from pipelines.local.storage import ArtifactStore

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
    assert len(executions) == RUNS and {e.status for e in executions} == {"Succeeded"}
    packages = ModelRegistry(state, config.aws.region).list(config.pipeline.model_package_group)
    assert len(packages) == 1, f"{len(packages)} versions registered"
    [package] = packages
    digest = package["CustomerMetadataProperties"]["ModelContentDigest"]

    store = config.local_home / "store"
    models, outcomes, registrant = set(), [], None
    for execution in executions:
        steps = {s.name: s for s in state.list_steps(execution.execution_id)}
        archive = steps["Train"].properties["ModelArtifacts"]["S3ModelArtifacts"]
        models.add(hashlib.sha256((store / archive[5:]).read_bytes()).digest())
        evaluation = steps["Evaluate"].properties["ProcessingOutputConfig"]["Outputs"][0]
        folder = store / evaluation["S3Output"]["S3Uri"][5:]
        report = json.loads((folder / "evaluation.json").read_bytes())
        assert report["evaluation"]["model"]["content_digest"] == digest
        found = steps["FindRegisteredModel"].properties["OutputParameters"]
        register = steps["RegisterModel"]
        if register.status != "Succeeded":
            outcomes.append(
                "held back: a version records it"
                if found["RegisteredVersion"] == "1"
                else f"held back: claimed by {found['ClaimedBy']}"
            )
        elif register.metadata.get("AlreadyRegistered"):
            outcomes.append("deduplicated under the registry's lock")
        else:
            outcomes.append("registered")
            registrant = execution.execution_arn
            assert found["ClaimedBy"] == registrant
    # Trained separately, packed byte for byte the same (or reused from the cache).
    assert len(models) == 1
    assert outcomes.count("registered") == 1, outcomes
    # Every other run was held back by FindRegisteredModel (the version, or the registrant's
    # claim): none got as far as the registry's lock.
    held = {"held back: a version records it", f"held back: claimed by {registrant}"}
    assert set(outcomes) - {"registered"} <= held, outcomes
    # The claim is an object anyone can read: the registrant's.
    group = config.pipeline.model_package_group
    claim_uri = f"{registry_claims_uri(config, config.target('local'))}{group}/{digest}.json"
    claim = json.loads(ArtifactStore(store).read_bytes(claim_uri))
    assert claim["ExecutionArn"] == registrant
