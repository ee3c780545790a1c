"""Runs one execution of a pipeline definition: scheduling, caching, retries, state, events.

Steps are dispatched by their definition `Type` through `HANDLERS` (add Lambda, CreateModel,
Transform ... there). Ready steps run on a thread pool bounded by the pipeline's parallelism
limit; a step is ready when every step it references or depends on has succeeded and, for
a branch step, when its condition took that branch. After a failure no new step starts, the
running ones finish, and the execution ends Failed with the reason.
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
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pipelines import execution_variables
from pipelines.arns import sagemaker_arn
from pipelines.code_assets import MODEL_CONTENT_DIGEST
from pipelines.local import cache as step_cache
from pipelines.local import executor, failures, lambda_step, retry
from pipelines.local.events import LOCAL_ACCOUNT, EventLog
from pipelines.local.expressions import (
    Context,
    ExpressionError,
    evaluate_all,
    property_at,
    resolve,
)
from pipelines.local.faults import Fault, FaultPlan
from pipelines.local.graph import StepGraph, StepNode, build_graph
from pipelines.local.lambda_runtime import LambdaRuntime
from pipelines.local.registry import ModelRegistry, RegistryError
from pipelines.local.state import State
from pipelines.local.storage import ArtifactStore, StoreError, join_uri

# SageMaker step statuses, plus NotExecuted for steps the execution never reached (a branch
# not taken, or anything after a failure): SageMaker simply does not list those.
STARTING, EXECUTING, SUCCEEDED, FAILED, STOPPED = (
    "Starting",
    "Executing",
    "Succeeded",
    "Failed",
    "Stopped",
)
NOT_EXECUTED = "NotExecuted"
RETRYING = "Retrying"  # progress only: the step is waiting to start its next attempt
TERMINAL = (SUCCEEDED, FAILED, STOPPED, NOT_EXECUTED)
CLIENT_ERROR = "ClientError"
# Step metadata key (state only, not in events): the attempts that failed and were retried.
RETRIED_ATTEMPTS = "RetriedAttempts"
FAIL_STEP = "FailStep"
# Step metadata entries holding a warning ({"Message": ...}) for the summary and describe.
WARNING_KEYS = ("CacheWarning", "FaultWarning")


class StepFailed(Exception):
    """A step attempt failed; `kind` decides whether a retry policy applies."""

    def __init__(self, reason: str, kind: str = CLIENT_ERROR) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


@dataclass
class StepRecord:
    name: str
    type: str
    position: int
    display_name: str | None = None
    status: str = "Pending"
    attempts: int = 0
    start: float | None = None
    end: float | None = None
    failure_reason: str | None = None
    cache_source_arn: str | None = None
    cache_source_id: str | None = None
    properties: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    arguments: Any = None
    job_name: str | None = None
    job_dir: str | None = None
    logs: list[str] = field(default_factory=list)
    outcome: bool | None = None  # Condition steps: the branch taken

    @property
    def cache_warning(self) -> str | None:
        """Set on a cache hit whose inputs changed content since the reused run."""
        return (self.metadata.get("CacheWarning") or {}).get("Message")

    @property
    def warnings(self) -> list[str]:
        """What the run must say about this step: a stale cache hit, an unfired fault."""
        return [
            message
            for key in WARNING_KEYS
            if (message := (self.metadata.get(key) or {}).get("Message"))
        ]

    @property
    def duration(self) -> float | None:
        if self.start is None:
            return None
        return (self.end or time.time()) - self.start


@dataclass
class StepUpdate:
    execution_id: str
    step: StepRecord
    status: str
    message: str | None = None
    retry_delay: float | None = None


@dataclass
class ExecutionResult:
    execution_id: str
    execution_arn: str
    pipeline_name: str
    status: str
    failure_reason: str | None  # as SageMaker words it (DescribePipelineExecution)
    start: float
    end: float
    parameters: dict[str, Any]
    steps: dict[str, StepRecord]
    definition: dict[str, Any]
    failure_detail: str | None = None  # the project's explanation: which step, and why
    outcome_detail: str | None = None  # the project's words for a succeeded outcome

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCEEDED

    @property
    def duration(self) -> float:
        return self.end - self.start


class Listener(Protocol):
    def execution_started(self, execution_id: str, steps: Sequence[StepRecord]) -> None: ...

    def step_changed(self, update: StepUpdate) -> None: ...

    def execution_finished(self, result: ExecutionResult) -> None: ...


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
    ) -> None:
        self.store = store
        self.state = state
        self.events = events
        self.registry = registry
        self.jobs_root = Path(jobs_root)
        self.region = region
        self.clock = clock
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


@dataclass
class StepRun:
    """What a handler gets for one attempt of one step."""

    execution: _Execution
    node: StepNode
    record: StepRecord
    arguments: Any
    attempt: int

    @property
    def engine(self) -> Engine:
        return self.execution.engine


@dataclass
class Outcome:
    properties: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    job_dir: str | None = None
    logs: list[str] = field(default_factory=list)
    condition: bool | None = None


@dataclass(frozen=True)
class StepHandler:
    run: Callable[[StepRun], Outcome]
    # Condition steps resolve only their Conditions: their branches resolve when they run.
    resolve_arguments: bool = True
    # The job kind for the job-name ARN prefix ("processing-job", "training-job") or None.
    job_kind: str | None = None


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
        self._property_files: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
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
            property_file=self._read_property_file,
            json_at=self._read_json,
        )

    # -- lifecycle ----------------------------------------------------------------------

    def run(self) -> ExecutionResult:
        engine = self.engine
        engine.state.create_execution(
            {
                "execution_id": self.id,
                "execution_arn": self.arn,
                "pipeline_name": self.pipeline_name,
                "pipeline_arn": self.pipeline_arn,
                "status": EXECUTING,
                "parameters": self.parameters,
                "definition_hash": definition_hash(self.definition),
                "start_time": self.start,
                "options": {
                    "no_cache": self.options.no_cache,
                    "faults": [f"{f.step}={f.kind}:{f.times}" for f in self.options.faults],
                    "max_parallel_steps": self.options.max_parallel_steps,
                },
            }
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
        workers = max(1, self.options.max_parallel_steps)
        running: dict[Future, str] = {}
        failed = False
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"exec-{self.id}") as pool:
            try:
                while True:
                    self._mark_unreachable()
                    if not failed and not self.cancel.is_set():
                        for name in self._ready(set(running.values())):
                            if len(running) >= workers:
                                break
                            running[pool.submit(self._run_step, self.graph[name])] = name
                    if not running:
                        break
                    done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for future in done:
                        name = running.pop(future)
                        future.result()  # _run_step records failures itself; re-raise bugs
                        if self.records[name].status in (FAILED, STOPPED):
                            failed = True
            except BaseException:
                self.cancel.set()
                raise

    def _ready(self, running: set[str]) -> list[str]:
        ready = []
        for name in self.order:
            record = self.records[name]
            if record.status != "Pending" or name in running:
                continue
            node = self.graph[name]
            if all(
                self.records[d].status == SUCCEEDED for d in node.depends_on
            ) and self._branch_taken(node):
                ready.append(name)
        return ready

    def _branch_taken(self, node: StepNode) -> bool:
        if node.branch is None:
            return True
        condition, wanted = node.branch
        return self.records[condition].outcome is wanted

    def _mark_unreachable(self) -> None:
        """Steps whose upstream did not run (or whose branch was not taken) never will."""
        changed = True
        while changed:
            changed = False
            for name in self.order:
                record = self.records[name]
                if record.status != "Pending":
                    continue
                node = self.graph[name]
                upstream = [self.records[d].status for d in node.depends_on]
                branch_skipped = (
                    node.branch is not None
                    and self.records[node.branch[0]].status == SUCCEEDED
                    and not self._branch_taken(node)
                )
                if branch_skipped or NOT_EXECUTED in upstream:
                    record.status = NOT_EXECUTED
                    self._save_step(record)
                    self._notify(record, NOT_EXECUTED)
                    changed = True

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

    def _run_step(self, node: StepNode) -> None:
        record = self.records[node.name]
        handler = HANDLERS.get(node.type)
        record.start = self.engine.clock()
        self._transition(record, STARTING)
        try:
            if handler is None:
                raise StepFailed(
                    f"step type {node.type} is not supported by the local engine "
                    f"(supported: {', '.join(sorted(HANDLERS))})"
                )
            self._transition(record, EXECUTING)
            job_name = executor.job_name(self.id, node.name) if handler.job_kind else None
            record.job_name = job_name
            arguments = node.spec.get("Arguments", {})
            if handler.resolve_arguments:
                variables = execution_variables.step_values(node.type, job_name)
                arguments = resolve(arguments, self._step_context(variables))
            record.arguments = arguments
            outcome = self._cached(node, record, arguments)
            if outcome is None:
                self._refuse_what_sagemaker_refuses(node, arguments, record.job_name)
                # What the job is about to read: recorded with the cache entry, so a later
                # hit can tell whether the content changed under the same request.
                inputs = self._input_fingerprints(node, arguments)
                outcome = self._attempts(node, record, handler, arguments)
                self._remember(node, record, arguments, outcome, inputs)
            self._succeed(record, outcome)
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

    def _refuse_what_sagemaker_refuses(
        self, node: StepNode, arguments: Any, job_name: str | None
    ) -> None:
        """The real request, once other steps' properties are known, checked as the service
        checks it (the start only had placeholders for them)."""
        from pipelines.conformance.preflight import job_refusal

        memo = Path(self.engine.state.path).parent / "conformance"
        refusal = job_refusal(node.spec, arguments, job_name, self.parameters, memo)
        if refusal is not None:
            raise StepFailed(refusal)

    def _step_context(self, variables: Mapping[str, Any]) -> Context:
        return Context(
            parameters=self.context.parameters,
            execution=self.context.execution,
            steps=self.properties,
            property_file=self._read_property_file,
            json_at=self._read_json,
            step_variables=variables,
        )

    def _attempts(
        self, node: StepNode, record: StepRecord, handler: StepHandler, arguments: Any
    ) -> Outcome:
        tracker = retry.RetryTracker(retry.policies_from_step(node.spec))
        while True:
            record.attempts += 1
            started, logs_before, job = self.engine.clock(), len(record.logs), None
            try:
                fault = self.faults.take(node.name)
                if fault is not None:
                    raise StepFailed(fault.message, fault.kind)
                if handler.job_kind and record.attempts > 1:
                    # Every attempt is a new SageMaker job with its own name.
                    record.job_name = executor.job_name(self.id, node.name)
                job = record.job_name
                return handler.run(StepRun(self, node, record, arguments, record.attempts))
            except StepFailed as failure:
                delay = tracker.next_delay(failure.kind)
                if delay is None:
                    raise
                # The step's own fields describe its last attempt only: keep each retried one.
                record.metadata.setdefault(RETRIED_ATTEMPTS, []).append(
                    {
                        "Attempt": record.attempts,
                        "JobName": job,  # None: it failed before a job started
                        "FailureReason": failure.reason,
                        "ExceptionType": failure.kind,
                        "StartTime": started,
                        "EndTime": self.engine.clock(),
                        "Logs": record.logs[logs_before:],
                    }
                )
                record.failure_reason = failure.reason
                self._save_step(record)
                self._notify(
                    record,
                    RETRYING,
                    message=f"{failure.kind}: {failure.reason}",
                    retry_delay=delay,
                )
                if self.cancel.wait(delay):
                    raise executor.Cancelled() from None
                record.failure_reason = None
                self._transition(record, EXECUTING, event=False)

    def _cacheable(self, node: StepNode) -> bool:
        config = node.spec.get("CacheConfig") or {}
        return bool(config.get("Enabled")) and node.type in step_cache.CACHEABLE_TYPES

    def _input_fingerprints(self, node: StepNode, arguments: Any) -> dict[str, str]:
        if not self._cacheable(node):
            return {}
        return step_cache.input_fingerprints(node.type, arguments, self.engine.store)

    def _cached(self, node: StepNode, record: StepRecord, arguments: Any) -> Outcome | None:
        config = node.spec.get("CacheConfig") or {}
        if self.options.no_cache or not self._cacheable(node):
            return None
        expire = step_cache.parse_expire_after(config.get("ExpireAfter") or "P100Y")
        record.metadata["CacheKey"] = key = step_cache.cache_key(
            pipeline_name=self.pipeline_name,
            step_name=node.name,
            step_type=node.type,
            arguments=arguments,
        )
        hit = step_cache.lookup(
            self.engine.state, self.engine.store, key, expire, self.engine.clock()
        )
        if hit is None:
            return None
        record.cache_source_arn = hit.source_execution_arn
        record.cache_source_id = hit.source_execution_id
        record.attempts = 0
        # The reused job is the source execution's; no job of this execution ran.
        record.job_name = hit.properties.get("ProcessingJobName") or hit.properties.get(
            "TrainingJobName"
        )
        metadata = _job_metadata(node.type, hit.properties)
        # Same request, so SageMaker would reuse this result too; say so when the content
        # behind an input changed since (what would be stale on SageMaker), don't re-run.
        current = step_cache.input_fingerprints(node.type, arguments, self.engine.store)
        changed = step_cache.stale_inputs(hit.inputs, current)
        if changed:
            metadata["CacheWarning"] = {
                "Message": step_cache.stale_warning(node.name, hit.source_execution_id, changed),
                "ChangedInputs": changed,
            }
        source = self.engine.state.list_steps(hit.source_execution_id)
        job_dir = next((s["job_dir"] for s in source if s["step_name"] == node.name), None)
        logs = next((s["logs"] for s in source if s["step_name"] == node.name), [])
        return Outcome(hit.properties, metadata, job_dir=job_dir, logs=logs or [])

    def _remember(
        self,
        node: StepNode,
        record: StepRecord,
        arguments: Any,
        outcome: Outcome,
        inputs: Mapping[str, str],
    ) -> None:
        key = record.metadata.get("CacheKey")
        if not self._cacheable(node):
            return
        if key is None:  # --no-cache skipped the lookup; later runs may still reuse this one
            key = step_cache.cache_key(
                pipeline_name=self.pipeline_name,
                step_name=node.name,
                step_type=node.type,
                arguments=arguments,
            )
        step_cache.record(
            self.engine.state,
            key=key,
            pipeline_name=self.pipeline_name,
            step_name=node.name,
            step_type=node.type,
            execution_id=self.id,
            execution_arn=self.arn,
            properties=outcome.properties,
            now=self.engine.clock(),
            inputs=inputs,
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
        self.engine.state.upsert_step(
            self.id,
            record.name,
            step_type=record.type,
            status=record.status,
            attempts=record.attempts,
            start_time=record.start,
            end_time=record.end,
            failure_reason=record.failure_reason,
            cache_source_arn=record.cache_source_arn,
            job_name=record.job_name,
            job_dir=record.job_dir,
            arguments=record.arguments,
            properties=record.properties,
            metadata=record.metadata,
            logs=record.logs,
            position=record.position,
        )

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

    # -- property files -----------------------------------------------------------------

    def _read_property_file(self, step: str, name: str) -> Any:
        key = (step, name)
        with self._lock:
            if key in self._property_files:
                return self._property_files[key]
        node = self.graph[step]
        spec = next(
            (p for p in node.spec.get("PropertyFiles") or [] if p.get("PropertyFileName") == name),
            None,
        )
        if spec is None:
            raise ExpressionError(f"step {step} declares no PropertyFile named {name!r}")
        output = property_at(
            self.properties[step],
            f"ProcessingOutputConfig.Outputs['{spec['OutputName']}'].S3Output.S3Uri",
            f"Steps.{step}",
        )
        uri = join_uri(output, spec["FilePath"])
        try:
            document = self._read_json(uri)
        except ExpressionError as exc:
            raise ExpressionError(f"PropertyFile {name} of step {step}: {exc}") from None
        with self._lock:
            self._property_files[key] = document
        return document

    def _read_json(self, uri: str) -> Any:
        try:
            data = self.engine.store.read_bytes(uri)
        except StoreError as exc:
            raise ExpressionError(str(exc)) from None
        try:
            return json.loads(data)
        except ValueError as exc:
            raise ExpressionError(f"{uri} is not valid JSON: {exc}") from None


# -- handlers ---------------------------------------------------------------------------


def _job_outcome(run: StepRun, result: executor.JobResult) -> Outcome:
    run.record.job_dir = str(result.job_dir) if result.job_dir else run.record.job_dir
    run.record.logs = [*run.record.logs, *result.logs]
    if not result.succeeded:
        raise StepFailed(result.failure_reason or "the job failed", result.kind or CLIENT_ERROR)
    return Outcome(
        result.description,
        _job_metadata(run.node.type, result.description),
        job_dir=str(result.job_dir),
        logs=run.record.logs,
    )


def _job(
    runner: Callable[[executor.JobEnvironment, str, Any, int], executor.JobResult],
) -> Callable[[StepRun], Outcome]:
    """A handler that runs one SageMaker job (processing or training) per attempt."""

    def run_job(run: StepRun) -> Outcome:
        name = run.record.job_name = run.record.job_name or executor.job_name(
            run.execution.id, run.node.name
        )
        try:
            result = runner(run.execution.jobs, name, run.arguments, run.attempt)
        except executor.JobError as exc:
            raise StepFailed(str(exc)) from None
        return _job_outcome(run, result)

    return run_job


def _condition(run: StepRun) -> Outcome:
    conditions = (run.node.spec.get("Arguments") or {}).get("Conditions") or []
    evaluations = evaluate_all(conditions, run.execution._step_context({}))
    outcome = all(e.result for e in evaluations)
    properties = {
        "Outcome": "True" if outcome else "False",
        "Evaluations": [e.as_dict() for e in evaluations],
        "Summary": "; ".join(e.describe() for e in evaluations),
    }
    return Outcome(properties, {"Condition": {"Outcome": properties["Outcome"]}}, condition=outcome)


def _fail(run: StepRun) -> Outcome:
    message = (run.arguments or {}).get("ErrorMessage") or ""
    run.record.metadata["Fail"] = {"ErrorMessage": str(message)}
    # A Fail step's FailureReason is its ErrorMessage; without one it has none.
    raise StepFailed(str(message), FAIL_STEP)


_REGISTER_HANDLED = {
    "ModelPackageGroupName",
    "InferenceSpecification",
    "ModelApprovalStatus",
    "ModelMetrics",
    "ModelPackageDescription",
    "CustomerMetadataProperties",
}


def _register_model(run: StepRun) -> Outcome:
    arguments = run.arguments or {}
    group = arguments.get("ModelPackageGroupName")
    if not group:
        raise StepFailed("RegisterModel needs ModelPackageGroupName (versioned packages only)")
    specification = arguments.get("InferenceSpecification") or {}
    store = run.engine.store
    for container in specification.get("Containers") or []:
        url = container.get("ModelDataUrl")
        if url and not store.exists(url):
            raise StepFailed(
                f"ValidationException: model data {url} does not exist in the local store"
            )
    metrics = _drop_empty(arguments.get("ModelMetrics") or {})
    evaluation = None
    statistics = ((metrics.get("ModelQuality") or {}).get("Statistics") or {}).get("S3Uri")
    if statistics:
        try:
            evaluation = json.loads(store.read_bytes(statistics))
        except (StoreError, ValueError):
            evaluation = None  # SageMaker does not read the file either; the summary says so
    extra = {
        k: v
        for k, v in arguments.items()
        if k not in _REGISTER_HANDLED and v not in (None, "None", {}, [])
    }
    described, created = run.engine.registry.register_once(
        group,
        inference_specification=specification,
        approval_status=arguments.get("ModelApprovalStatus") or "PendingManualApproval",
        model_metrics=metrics,
        evaluation_metrics=evaluation,
        description=arguments.get("ModelPackageDescription"),
        customer_metadata=arguments.get("CustomerMetadataProperties"),
        source_execution_arn=run.execution.arn,
        extra=extra,
    )
    metadata: dict[str, Any] = {"RegisterModel": {"Arn": described["ModelPackageArn"]}}
    if not created:
        # Another execution registered these very files after FindRegisteredModel looked,
        # past its claim. Only the local registry's lock catches that; say SageMaker would not.
        source = (described.get("MetadataProperties") or {}).get("GeneratedBy", "")
        metadata["AlreadyRegistered"] = {
            "Message": (
                f"version {described['ModelPackageVersion']} already holds this model "
                f"(the same {MODEL_CONTENT_DIGEST}, registered by execution "
                f"{source.rsplit('/', 1)[-1] or 'unknown'} while this one ran): nothing new "
                "was registered. On SageMaker, where no lock spans executions and only "
                "FindRegisteredModel's claim stands in the way, this run would have "
                "registered a duplicate version"
            )
        }
    return Outcome(described, metadata)


def _lambda(run: StepRun) -> Outcome:
    spec = run.node.spec
    job_dir = run.execution.jobs.jobs_root / f"lambda-{run.node.name}-{run.attempt}"
    try:
        outputs, logs = lambda_step.invoke(
            arn=spec.get("FunctionArn", ""),
            event=run.arguments or {},
            outputs=spec.get("OutputParameters") or [],
            functions=run.engine.lambda_functions,
            runtime=run.engine.lambda_runtime,
            state_db=run.engine.state.path,
            job_dir=job_dir,
            region=run.engine.region,
            cancel=run.execution.jobs.cancel,
            store_root=run.engine.store.root,
        )
    except lambda_step.LambdaStepError as exc:
        raise StepFailed(str(exc)) from None
    run.record.logs = [*run.record.logs, *logs]
    return Outcome(
        {"OutputParameters": outputs},
        {"Lambda": {"Arn": spec.get("FunctionArn"), "OutputParameters": outputs}},
        job_dir=str(job_dir),
        logs=run.record.logs,
    )


def _drop_empty(value: Any) -> Any:
    if isinstance(value, dict):
        cleaned = {k: _drop_empty(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in ({}, [], None)}
    return value


HANDLERS: dict[str, StepHandler] = {
    "Processing": StepHandler(_job(executor.run_processing_job), job_kind="processing-job"),
    "Training": StepHandler(_job(executor.run_training_job), job_kind="training-job"),
    "Condition": StepHandler(_condition, resolve_arguments=False),
    "Fail": StepHandler(_fail),
    "RegisterModel": StepHandler(_register_model),
    "Lambda": StepHandler(_lambda),
}


def _job_metadata(step_type: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    if step_type == "Processing" and "ProcessingJobArn" in properties:
        return {"ProcessingJob": {"Arn": properties["ProcessingJobArn"]}}
    if step_type == "Training" and "TrainingJobArn" in properties:
        return {"TrainingJob": {"Arn": properties["TrainingJobArn"]}}
    return {}


def _event_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """PipelineExecutionStepMetadata in the events' camelCase ("processingJob": {"arn"})."""

    def camel(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k[:1].lower() + k[1:]: camel(v) for k, v in value.items()}
        return value

    return camel(metadata)
