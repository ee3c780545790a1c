"""`run_local`: one local execution of the pipeline definition, from the CLI or a test.

It loads the same definition JSON `get_pipeline()` produces (without importing the SDK when
the cached build is current), checks parameters and faults before anything runs, puts the
job code and the bundled sample into the local store at the URIs the definition names,
turns a local `InputDataUrl` path into a store URI, refuses what SageMaker would refuse
(pipelines.conformance: botocore is loaded only when that check has not passed before),
runs the execution and prints progress and a summary. Nothing here imports pandas,
scikit-learn, boto3 or the SDK.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.app import progress
from pipelines.app.outcome import known_models
from pipelines.app.progress import execution_drift
from pipelines.aws.pipeline_request import pipeline_request
from pipelines.code_assets import (
    NO_CHAMPION_MARKER,
    code_uri,
    lambda_functions,
    no_champion_uri,
    sample_data_uri,
)
from pipelines.config import ConfigError, ProjectConfig
from pipelines.definition_cache import load_definition
from pipelines.errors import UsageError
from pipelines.local import home as local_home
from pipelines.local.events import EventLog
from pipelines.local.faults import FaultError, parse_faults
from pipelines.local.graph import DefinitionError, build_graph
from pipelines.local.lambda_runtime import LambdaRuntime
from pipelines.local.orchestrator import (
    Engine,
    ExecutionResult,
    JobCheck,
    Listener,
    RunOptions,
)
from pipelines.local.registry import ModelRegistry
from pipelines.local.state import State
from pipelines.local.storage import ArtifactStore, StoreError
from pipelines.parameters import ParameterError, resolve_parameters

INPUT_PARAMETER = "InputDataUrl"


@dataclass(frozen=True)
class LocalPaths:
    home: Path

    @property
    def state(self) -> Path:
        return self.home / "state.db"

    @property
    def store(self) -> Path:
        return self.home / "store"

    @property
    def jobs(self) -> Path:
        return self.home / "jobs"

    @property
    def events(self) -> Path:
        return self.home / "events.jsonl"

    @property
    def lambda_runtimes(self) -> Path:
        return self.home / "lambda-runtimes"


def open_engine(config: ProjectConfig) -> Engine:
    """The store, state, event log and registry under `config.local_home`."""
    paths = LocalPaths(config.local_home)
    state = State(paths.state)
    events = EventLog(paths.events, config.aws.region)
    return Engine(
        store=ArtifactStore(paths.store, digests=state),
        state=state,
        events=events,
        registry=ModelRegistry(state, config.aws.region, events),
        jobs_root=paths.jobs,
        region=config.aws.region,
        lambda_functions=lambda_functions(config),
        lambda_runtime=LambdaRuntime(paths.lambda_runtimes, config.local.lambda_keep_warm_seconds),
        job_check=conformance_check(paths.home / "conformance"),
    )


def conformance_check(memo_dir: Path) -> JobCheck:
    """The engine's check of each job request against what SageMaker accepts (botocore's
    shapes and SageMaker's documented rules), passes remembered under `memo_dir`."""

    def check(
        spec: Mapping[str, Any], arguments: Any, job_name: str | None, parameters: Mapping[str, Any]
    ) -> str | None:
        # Deferred: ~33 ms of imports (python -X importtime) that only a running step needs,
        # not the commands that open an engine to read executions.
        from pipelines.conformance.preflight import job_refusal

        return job_refusal(spec, arguments, job_name, parameters, memo_dir)

    return check


def stage_input(store: ArtifactStore, config: ProjectConfig, value: str) -> str:
    """A local file or folder given as InputDataUrl, put into the store by content."""
    if value.startswith("s3://"):
        try:
            store.path_for(value)
        except StoreError as exc:
            raise ParameterError(f"parameter {INPUT_PARAMETER}: {exc}") from None
        return value
    path = Path(value).expanduser()
    if not value or not path.exists():
        raise ParameterError(
            f"parameter {INPUT_PARAMETER} must be an s3:// URI or an existing local file or "
            f"folder, got {value!r}"
        )
    if not (path.is_file() or path.is_dir()):
        raise ParameterError(f"parameter {INPUT_PARAMETER}: {value!r} is not a file or folder")
    refuse_input_overlapping_home(path, config.local_home)
    target = config.target("local")
    digest = store.path_digest(path)[:16]
    name = path.resolve().name or "input"
    uri = f"s3://{target.bucket}/{config.pipeline.s3_prefix}/inputs/{digest}/{name}"
    if path.is_file():
        store.put_file(path, uri)
    else:
        store.put_dir(path, uri)
    return uri


def refuse_input_overlapping_home(path: Path, home: Path) -> None:
    """An input that is, holds or lies in the local home would be copied into the store
    inside that home (and again on every run): refuse it before anything is copied."""
    how = local_home.overlap(path, home)
    if how is None:
        return
    explanation = {
        "is": "it is the local home itself",
        "contains": f"it contains the local home {home.resolve()}",
        "is inside": f"it is inside the local home {home.resolve()}",
    }[how]
    raise ParameterError(
        f"parameter {INPUT_PARAMETER}: {path.resolve()} cannot be an input: {explanation} "
        "([local].home), whose artifact store the input would be copied into. Point "
        "InputDataUrl at a file or folder holding only the data, or move [local].home"
    )


def refuse_what_sagemaker_refuses(
    config: ProjectConfig,
    text: str,
    definition: Mapping[str, Any],
    parameters: Mapping[str, Any],
    overrides: Mapping[str, Any],
) -> None:
    """Raise SageMakerWouldRefuse (a ParameterError: exit 2) if the upsert, the start or a
    step's request would be refused. A check that passed is remembered under a key of its
    inputs, so a rerun with the same definition and values does not pay for botocore again."""
    # Deferred, as in conformance_check: 5 modules, ~13 ms of CPU, that the commands opening
    # an engine only to read executions do not need.
    from pipelines.conformance import preflight

    target = config.target("local")
    create = {
        **pipeline_request(config, text, target.role_arn),
        "ClientRequestToken": "local-" + "0" * 32,
    }
    memo = config.local_home / "conformance"
    key = preflight.verdict_key(
        hashlib.sha256(text.encode()).hexdigest(),
        {k: v for k, v in create.items() if k != "PipelineDefinition"},
        dict(parameters),
        dict(overrides),
        config.aws.region,
    )
    if preflight.passed_before(memo, key):
        return
    preflight.check_start(
        definition,
        parameters,
        pipeline_name=config.pipeline.name,
        region=config.aws.region,
        overrides=overrides,
        create_request=create,
    )
    preflight.remember_passed(memo, key)


def execute(
    config: ProjectConfig,
    overrides: Mapping[str, str],
    *,
    no_cache: bool = False,
    faults: Iterable[str] = (),
    listener: Listener | None = None,
    engine: Engine | None = None,
) -> ExecutionResult:
    """Run one execution and return its result (no printing). Raises ParameterError (or its
    SageMakerWouldRefuse) or FaultError before anything runs when an option, the definition
    or a step's request is invalid, and HomeError when the local home cannot be written."""
    engine = engine or open_engine(config)
    if engine.state.read_only:
        raise local_home.read_only(
            config.local_home, "a run writes its state, artifacts and logs there"
        )
    text, code = load_definition(config, "local")
    definition = json.loads(text)
    try:
        graph = build_graph(definition)
    except DefinitionError as exc:
        raise ParameterError(f"the pipeline definition cannot run locally: {exc}") from exc
    fault_list = parse_faults(faults, {node.name: node.type for node in graph})
    parameters = resolve_parameters(definition.get("Parameters", []), dict(overrides))

    target = config.target("local")
    for asset in code.all():
        engine.store.put_bytes(asset.data, code_uri(asset, config, target))
    if config.sample_data_path.is_file():
        engine.store.put_file(config.sample_data_path, sample_data_uri(config, target))
    engine.store.put_bytes(b"", no_champion_uri(config, target) + NO_CHAMPION_MARKER)
    if isinstance(parameters.get(INPUT_PARAMETER), str):
        parameters[INPUT_PARAMETER] = stage_input(engine.store, config, parameters[INPUT_PARAMETER])
    refuse_what_sagemaker_refuses(config, text, definition, parameters, overrides)

    return engine.run(
        definition,
        config.pipeline.name,
        parameters,
        RunOptions(
            no_cache=no_cache,
            faults=fault_list,
            max_parallel_steps=config.pipeline.max_parallel_steps,
            listener=listener,
            describe_outcome=lambda result: _drift_outcome(result, engine),
        ),
    )


def _drift_outcome(result: ExecutionResult, engine: Engine) -> str | None:
    """The Succeeded event's outcomeDetail: whether the run trained, and why (the drift check)."""
    drift = execution_drift(result, engine.store)
    return drift["headline"] if drift else None


def run_local(
    config: ProjectConfig,
    overrides: Mapping[str, str],
    *,
    no_cache: bool = False,
    faults: Iterable[str] = (),
    console: Any = None,
) -> int:
    """Run locally with progress and a summary; 0 if the execution succeeded, else 1."""
    if console is None and sys.stdout.isatty():
        from rich.console import Console

        console = Console()
    if console is not None and console.is_terminal:
        listener: Listener = progress.LiveProgress(console)
    else:
        write = _writer(console)
        listener = progress.PlainProgress(write)
    try:
        engine = open_engine(config)
        result = execute(
            config,
            overrides,
            no_cache=no_cache,
            faults=faults,
            listener=listener,
            engine=engine,
        )
    except FaultError as exc:
        raise UsageError(str(exc)) from exc
    paths = LocalPaths(config.local_home)
    summary = progress.summarize(
        result,
        engine.store,
        events_path=paths.events,
        state_path=paths.state,
        # "already version 1 of <group>" rather than a model's S3 URI, as the page says it.
        known=known_models(engine.registry.list(config.pipeline.model_package_group)),
    )
    progress.print_summary(summary, console, _writer(console))
    _notify(config, console)
    return 0 if result.succeeded else 1


def _notify(config: ProjectConfig, console: Any) -> None:
    """Deliver this run's notifications to the configured local sinks (failures, new models)."""
    # Deferred: EventBridge's matcher and delivery (5 modules, ~8 ms of CPU) only a finished
    # run needs, not the commands opening an engine to read executions.
    from pipelines.eventbridge.notify import deliver_pending

    try:
        deliver_pending(config, stream=console.file if console is not None else None)
    except (ConfigError, OSError) as exc:
        # The run itself is done and recorded; a broken sink must not change its outcome.
        _writer(console)(f"notifications not delivered: {exc}")


def _writer(console: Any):
    if console is None:
        return lambda line: print(line, flush=True)
    return lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True)
