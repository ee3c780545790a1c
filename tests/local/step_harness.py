"""What the step-handler and policy tests share: services over a temporary home, and a
StepRun for one step spec, without an execution around it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pipelines.local.executor import JobEnvironment
from pipelines.local.expressions import Context
from pipelines.local.graph import StepNode
from pipelines.local.lambda_runtime import LambdaRuntime
from pipelines.local.records import StepRecord
from pipelines.local.registry import ModelRegistry
from pipelines.local.state import State
from pipelines.local.step import StepRun, StepServices
from pipelines.local.storage import ArtifactStore

REGION = "us-east-1"
EXECUTION_ID = "exec1"
EXECUTION_ARN = f"arn:aws:sagemaker:{REGION}:000000000000:pipeline/p/execution/{EXECUTION_ID}"


def make_services(
    root: Path,
    *,
    parameters: Mapping[str, Any] | None = None,
    steps: dict[str, dict[str, Any]] | None = None,
    property_file: Callable[[str, str], Any] | None = None,
    lambda_functions: Mapping[str, Path] | None = None,
) -> StepServices:
    state = State(root / "state.db")
    store = ArtifactStore(root / "store", digests=state)

    def context(variables: Mapping[str, Any]) -> Context:
        return Context(
            parameters=dict(parameters or {}),
            execution={},
            steps=steps if steps is not None else {},
            property_file=property_file or _no_property_files,
            json_at=lambda uri: None,
            step_variables=variables,
        )

    return StepServices(
        execution_id=EXECUTION_ID,
        execution_arn=EXECUTION_ARN,
        region=REGION,
        jobs=JobEnvironment(store=store, jobs_root=root / "jobs", region=REGION, account="0"),
        store=store,
        registry=ModelRegistry(state, REGION),
        state_db=state.path,
        lambda_functions=dict(lambda_functions or {}),
        lambda_runtime=LambdaRuntime(root / "lambda-runtimes", keep_warm_seconds=0),
        context=context,
    )


def _no_property_files(step: str, name: str) -> Any:
    raise AssertionError(f"unexpected PropertyFile read: {step}.{name}")


def step_run(services: StepServices, spec: Mapping[str, Any], arguments: Any = None) -> StepRun:
    """A run of the step `spec` (its Arguments unless `arguments` are given)."""
    node = StepNode(spec["Name"], spec["Type"], spec)
    record = StepRecord(node.name, node.type, 0)
    chosen = spec.get("Arguments", {}) if arguments is None else arguments
    return StepRun(node, record, chosen, services)
