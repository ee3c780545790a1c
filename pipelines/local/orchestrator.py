"""Runs one execution of a pipeline definition: state, events and the listener's updates.

The parts live apart: `handlers/` holds one handler per step type, chosen by the step's
`Type`; `cache.CachingHandler` and `retry.RetryingHandler` wrap a handler as policies;
`scheduler.run_graph` starts ready steps on a thread pool bounded by the pipeline's
parallelism limit (a step is ready when every step it references or depends on has
succeeded and, for a branch step, when its condition took that branch). After a failure no
new step starts, the running ones finish, and the execution ends Failed with the reason.
This module ties them to one execution and records what happens.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines import execution_variables
from pipelines.arns import sagemaker_arn
from pipelines.local import cache as step_cache
from pipelines.local import executor, failures, handlers, retry
from pipelines.local.events import LOCAL_ACCOUNT, EventLog
from pipelines.local.expressions import Context, ExpressionError, resolve
from pipelines.local.faults import Fault, FaultPlan
from pipelines.local.graph import StepGraph, StepNode, build_graph
from pipelines.local.lambda_runtime import LambdaRuntime
from pipelines.local.property_files import PropertyFiles
from pipelines.local.records import (  # noqa: F401 - re-exported: the engine's public names
    EXECUTING,
    FAILED,
    NOT_EXECUTED,
    PENDING,
    RETRYING,
    STARTING,
    STOPPED,
    SUCCEEDED,
    TERMINAL,
    WARNING_KEYS,
    ExecutionRecord,
    ExecutionResult,
    ExecutionStatus,
    Listener,
    StepRecord,
    StepUpdate,
)
from pipelines.local.registry import ModelRegistry, RegistryError
from pipelines.local.retry import RETRIED_ATTEMPTS
from pipelines.local.scheduler import run_graph
from pipelines.local.state import State
from pipelines.local.step import (  # noqa: F401 - re-exported
    CLIENT_ERROR,
    FAIL_STEP,
    Outcome,
    StepFailed,
    StepHandler,
    StepRun,
    StepServices,
)
from pipelines.local.storage import ArtifactStore, StoreError

# (step spec, resolved arguments, job name, execution parameters) -> the FailureReason
# SageMaker would give the step's request, or None when it would accept it.
JobCheck = Callable[[Mapping[str, Any], Any, str | None, Mapping[str, Any]], str | None]


@dataclass
class RunOptions:
    no_cache: bool = False
    faults: Sequence[Fault] = ()
    max_parallel_steps: int = 1
    listener: Listener | None = None
    display_name: str | None = None
    # The project's words for a succeeded execution's outcome (e.g. "no drift: training
    # skipped"), recorded in its Succeeded event beside what SageMaker sends.
    describe_outcome: Callable[[ExecutionResult], str | None] | None = None


def definition_hash(definition: Mapping[str, Any]) -> str:
    """Which definition an execution ran: a hash of its canonical JSON (key order and
    whitespace do not count)."""
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def new_execution_id() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(12))


def pipeline_arn(region: str, name: str) -> str:
    return sagemaker_arn(region, LOCAL_ACCOUNT, "pipeline", name)


class Engine:
    """Shared services for executions; one Engine may run several executions at once."""

    def __init__(
        self,
        *,
        store: ArtifactStore,
        state: State,
        events: EventLog,
        registry: ModelRegistry,
        jobs_root: Path,
        region: str,
        clock: Callable[[], float] = time.time,
        lambda_functions: Mapping[str, Path] | None = None,
        lambda_runtime: LambdaRuntime | None = None,
        backoff_wait: Callable[[threading.Event, float], bool] | None = None,
        job_check: JobCheck | None = None,
    ) -> None:
        self.store = store
        self.state = state
        self.events = events
        self.registry = registry
        self.jobs_root = Path(jobs_root)
        self.region = region
        self.clock = clock
        # Sleeps a retry's backoff; True when the execution was stopped meanwhile.
        self.backoff_wait = backoff_wait or _wait_unless_stopped
        # What SageMaker would refuse of a job's request, checked before the job runs (the
        # app gives the conformance check); without one, the engine runs what it is given.
        self.job_check = job_check
        # Function name -> the file holding its `handler`: what Lambda steps may call.
        self.lambda_functions = dict(lambda_functions or {})
        # Without one, every invocation gets a fresh environment that ends with it.
        self.lambda_runtime = lambda_runtime or LambdaRuntime(
            self.jobs_root.parent / "lambda-runtimes", keep_warm_seconds=0
        )

    def run(
        self,
        definition: Mapping[str, Any],
        pipeline_name: str,
        parameters: Mapping[str, Any],
        options: RunOptions | None = None,
    ) -> ExecutionResult:
        graph = build_graph(definition)
        return _Execution(
            self, dict(definition), graph, pipeline_name, dict(parameters), options or RunOptions()
        ).run()


def _wait_unless_stopped(stop: threading.Event, seconds: float) -> bool:
    return stop.wait(seconds)


class _Refusing:
    """Checks the real request, once other steps' properties are known, as the service
    checks it (the start only had placeholders for them); a refusal fails the step before
    any attempt."""

    def __init__(self, inner: StepHandler, check: Callable[[StepRun], str | None]) -> None:
        self.inner = inner
        self.resolve_arguments = inner.resolve_arguments
        self.job_kind = inner.job_kind
        self._check = check

    def run(self, run: StepRun) -> Outcome:
        refusal = self._check(run)
        if refusal is not None:
            raise StepFailed(refusal)
        return self.inner.run(run)


class _Execution:
    def __init__(
        self,
        engine: Engine,
        definition: dict[str, Any],
        graph: StepGraph,
        pipeline_name: str,
        parameters: dict[str, Any],
        options: RunOptions,
    ) -> None:
        self.engine = engine
        self.definition = definition
        self.graph = graph
        self.pipeline_name = pipeline_name
        self.parameters = parameters
        self.options = options
        self.id = new_execution_id()
        self.pipeline_arn = pipeline_arn(engine.region, pipeline_name)
        self.arn = f"{self.pipeline_arn}/execution/{self.id}"
        self.start = engine.clock()
        self.cancel = threading.Event()
        self.faults = FaultPlan(options.faults)
        self.jobs = executor.JobEnvironment(
            store=engine.store,
            jobs_root=engine.jobs_root / self.id,
            region=engine.region,
            account=LOCAL_ACCOUNT,
            cancel=self.cancel,
        )
        self.records = {
            node.name: StepRecord(
                node.name, node.type, node.position, display_name=node.spec.get("DisplayName")
            )
            for node in graph
        }
        self.order = graph.order()
        self.properties: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.property_files = PropertyFiles(graph, engine.store, self.properties)
        self.context = Context(
            parameters=parameters,
            execution=execution_variables.execution_values(
                execution_id=self.id,
                execution_arn=self.arn,
                pipeline_name=pipeline_name,
                pipeline_arn=self.pipeline_arn,
                start=self.start,
            ),
            steps=self.properties,
            property_file=self.property_files.read,
            json_at=self.property_files.json_at,
        )
        self.services = StepServices(
            execution_id=self.id,
            execution_arn=self.arn,
            region=engine.region,
            jobs=self.jobs,
            store=engine.store,
            registry=engine.registry,
            state_db=Path(engine.state.path),
            lambda_functions=engine.lambda_functions,
            lambda_runtime=engine.lambda_runtime,
            context=self._step_context,
        )

    # -- lifecycle ----------------------------------------------------------------------

    def run(self) -> ExecutionResult:
        engine = self.engine
        engine.state.create_execution(
            ExecutionRecord(
                execution_id=self.id,
                execution_arn=self.arn,
                pipeline_name=self.pipeline_name,
                pipeline_arn=self.pipeline_arn,
                status=ExecutionStatus.EXECUTING,
                parameters=self.parameters,
                definition_hash=definition_hash(self.definition),
                start_time=self.start,
                options={
                    "no_cache": self.options.no_cache,
                    "faults": [f"{f.step}={f.kind}:{f.times}" for f in self.options.faults],
                    "max_parallel_steps": self.options.max_parallel_steps,
                },
            )
        )
        engine.events.execution_status_change(
            pipeline_arn=self.pipeline_arn,
            execution_arn=self.arn,
            current=EXECUTING,
            previous=None,
            start_time=self.start,
            end_time=None,
            when=self.start,
            display_name=self.options.display_name,
        )
        if self.options.listener:
            ordered = [self.records[name] for name in self.order]
            self.options.listener.execution_started(self.id, ordered)
        interruption: KeyboardInterrupt | None = None
        try:
            self._schedule()
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (cli.Terminated)
            interruption = exc
            self.cancel.set()
        result = self._finish(stopped=interruption is not None, why=str(interruption or ""))
        if interruption is not None:
            raise interruption
        return result

    def _schedule(self) -> None:
        run_graph(
            self.graph,
            run_step=self._run_step,
            runnable=self._runnable,
            skip=self._skip,
            stop=self.cancel,
            max_parallel=self.options.max_parallel_steps,
            thread_name_prefix=f"exec-{self.id}",
        )

    def _runnable(self, node: StepNode) -> bool:
        if any(self.records[d].status != SUCCEEDED for d in node.depends_on):
            return False
        if node.branch is None:
            return True
        condition, wanted = node.branch
        return self.records[condition].outcome is wanted

    def _skip(self, node: StepNode) -> None:
        """A step whose upstream did not run (or whose branch was not taken) never will."""
        record = self.records[node.name]
        record.status = NOT_EXECUTED
        self._save_step(record)
        self._notify(record, NOT_EXECUTED)

    def _finish(self, stopped: bool, why: str = "") -> ExecutionResult:
        for record in self.records.values():
            if record.status not in TERMINAL:
                record.status = STOPPED if stopped and record.start else NOT_EXECUTED
                record.end = record.end or (self.engine.clock() if record.start else None)
                self._save_step(record)
                self._notify(record, record.status)
        self._warn_of_unfired_faults()
        failed = sorted(
            (r for r in self.records.values() if r.status == FAILED),
            key=lambda r: (r.end or 0, r.position),
        )
        detail = None
        if stopped:
            status, reason = STOPPED, f"the execution was interrupted{f' ({why})' if why else ''}"
        elif failed:
            first = failed[0]
            status, reason = FAILED, failures.EXECUTION_FAILURE_REASON
            detail = failures.explain(first.name, first.type, first.failure_reason)
        else:
            status, reason = SUCCEEDED, None
        end = self.engine.clock()
        self.engine.state.update_execution(
            self.id, status=status, end_time=end, failure_reason=reason
        )
        result = ExecutionResult(
            execution_id=self.id,
            execution_arn=self.arn,
            pipeline_name=self.pipeline_name,
            status=status,
            failure_reason=reason,
            start=self.start,
            end=end,
            parameters=self.parameters,
            steps={name: self.records[name] for name in self.order},
            definition=self.definition,
            failure_detail=detail,
        )
        if status == SUCCEEDED and self.options.describe_outcome:
            try:
                result.outcome_detail = self.options.describe_outcome(result)
            except Exception:  # words only: never worth failing a finished execution over
                self._write_engine_log("describe_outcome", traceback.format_exc())
        self.engine.events.execution_status_change(
            pipeline_arn=self.pipeline_arn,
            execution_arn=self.arn,
            current=status,
            previous=EXECUTING,
            start_time=self.start,
            end_time=end,
            when=end,
            display_name=self.options.display_name,
            failure_reason=reason,
            failure_detail=detail,
            outcome_detail=result.outcome_detail,
        )
        if self.options.listener:
            self.options.listener.execution_finished(result)
        return result

    def _warn_of_unfired_faults(self) -> None:
        for fault, message in self.faults.shortfalls(self.records):
            record = self.records[fault.step]
            record.metadata["FaultWarning"] = {"Message": message}
            self._save_step(record)
            self.engine.events.execution_warning(
                pipeline_arn=self.pipeline_arn,
                execution_arn=self.arn,
                step_name=fault.step,
                kind="InjectedFaultNotFired",
                message=message,
                when=self.engine.clock(),
            )

    # -- one step -----------------------------------------------------------------------

    def _run_step(self, node: StepNode) -> str:
        record = self.records[node.name]
        record.start = self.engine.clock()
        self._transition(record, STARTING)
        try:
            handler = handlers.handler_for(node.type)
            self._transition(record, EXECUTING)
            job_name = executor.job_name(self.id, node.name) if handler.job_kind else None
            record.job_name = job_name
            arguments = node.spec.get("Arguments", {})
            if handler.resolve_arguments:
                variables = execution_variables.step_values(node.type, job_name)
                arguments = resolve(arguments, self._step_context(variables))
            record.arguments = arguments
            policed = self._with_policies(node, handler)
            self._succeed(record, policed.run(StepRun(node, record, arguments, self.services)))
        except StepFailed as failure:
            self._fail(record, failure.reason)
        except (ExpressionError, StoreError, RegistryError, step_cache.CacheConfigError) as exc:
            self._fail(record, str(exc))
        except executor.Cancelled:
            record.end = self.engine.clock()
            record.status = STOPPED
            self._save_step(record)
            self._notify(record, STOPPED)
        except Exception as exc:  # a bug in the engine: fail the step, keep the trace
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            self._write_engine_log(node.name, traceback.format_exc())
            self._fail(record, f"local engine error: {detail}")
        finally:
            # Pool threads end with the execution; their SQLite connections must not linger.
            self.engine.state.release()
        return record.status

    def _with_policies(self, node: StepNode, handler: StepHandler) -> StepHandler:
        """Cache first (a hit runs nothing), then SageMaker's checks of the request, then
        the attempts under the step's retry policies."""
        retrying = retry.RetryingHandler(
            handler,
            retry.policies_from_step(node.spec),
            wait=lambda seconds: self.engine.backoff_wait(self.cancel, seconds),
            clock=self.engine.clock,
            faults=self.faults.take,
            new_job_name=(
                (lambda: executor.job_name(self.id, node.name)) if handler.job_kind else None
            ),
            on_retry=self._retrying,
            on_resume=lambda record: self._transition(record, EXECUTING, event=False),
        )
        return step_cache.CachingHandler(
            _Refusing(retrying, self._refusal),
            state=self.engine.state,
            store=self.engine.store,
            pipeline_name=self.pipeline_name,
            execution_id=self.id,
            execution_arn=self.arn,
            no_cache=self.options.no_cache,
            clock=self.engine.clock,
        )

    def _retrying(self, record: StepRecord, failure: StepFailed, delay: float) -> None:
        self._save_step(record)
        self._notify(
            record, RETRYING, message=f"{failure.kind}: {failure.reason}", retry_delay=delay
        )

    def _refusal(self, run: StepRun) -> str | None:
        check = self.engine.job_check
        if check is None:
            return None
        return check(run.node.spec, run.arguments, run.record.job_name, self.parameters)

    def _step_context(self, variables: Mapping[str, Any]) -> Context:
        return Context(
            parameters=self.context.parameters,
            execution=self.context.execution,
            steps=self.properties,
            property_file=self.property_files.read,
            json_at=self.property_files.json_at,
            step_variables=variables,
        )

    def _succeed(self, record: StepRecord, outcome: Outcome) -> None:
        record.properties = outcome.properties
        record.metadata.update(outcome.metadata)
        record.job_dir = outcome.job_dir or record.job_dir
        record.logs = outcome.logs or record.logs
        record.outcome = outcome.condition
        record.failure_reason = None
        with self._lock:
            self.properties[record.name] = outcome.properties
        record.end = self.engine.clock()
        self._transition(record, SUCCEEDED)

    def _fail(self, record: StepRecord, reason: str) -> None:
        record.failure_reason = reason[:1024] or None
        record.end = self.engine.clock()
        self._transition(record, FAILED)

    def _transition(self, record: StepRecord, status: str, *, event: bool = True) -> None:
        previous = record.status if record.status in (STARTING, EXECUTING) else None
        record.status = status
        self._save_step(record)
        if event:
            public_metadata = {
                k: v for k, v in record.metadata.items() if k not in ("CacheKey", RETRIED_ATTEMPTS)
            }
            self.engine.events.step_status_change(
                pipeline_arn=self.pipeline_arn,
                execution_arn=self.arn,
                step_name=record.name,
                step_type=record.type,
                current=status,
                previous=previous,
                start_time=record.start,
                end_time=record.end if status in TERMINAL else None,
                when=self.engine.clock(),
                metadata=_event_metadata(public_metadata),
                failure_reason=record.failure_reason,
                cache_source_arn=record.cache_source_arn if status == SUCCEEDED else None,
            )
        self._notify(record, status)

    def _save_step(self, record: StepRecord) -> None:
        self.engine.state.save_step(self.id, record)

    def _notify(
        self,
        record: StepRecord,
        status: str,
        message: str | None = None,
        retry_delay: float | None = None,
    ) -> None:
        if self.options.listener:
            self.options.listener.step_changed(
                StepUpdate(self.id, record, status, message=message, retry_delay=retry_delay)
            )

    def _write_engine_log(self, step: str, text: str) -> None:
        path = self.jobs.jobs_root / "engine-errors.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(f"--- {step}\n{text}\n")


def _event_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """PipelineExecutionStepMetadata in the events' camelCase ("processingJob": {"arn"})."""

    def camel(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k[:1].lower() + k[1:]: camel(v) for k, v in value.items()}
        return value

    return camel(metadata)
