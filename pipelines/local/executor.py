"""Processing and training jobs as local subprocesses, with SageMaker's container contract.

A job gets a folder whose `opt/ml` mirrors the container's `/opt/ml`: every `/opt/ml/...`
in the entrypoint, arguments and environment is rewritten to it. Inputs are hard-linked
from the store (S3Prefix and ManifestFile semantics), outputs are published to the store
after a successful run, and the result is a SageMaker-shaped Describe*Job document.
`python3`/`python` run with this interpreter; stdout and stderr go straight to per-attempt
log files (no pipes, so no copying of job output through the engine).

A job on N instances runs N processes (see hosts.py): each host has its own folder
(`<job>/algo-1/opt/ml`, ...), its resourceconfig.json, its share of every input (by the
input's S3DataDistributionType) and its logs (`<job>/logs/attempt-K/<host>/`); the job
fails when any host fails, with that host's reason.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import string
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.arns import sagemaker_arn
from pipelines.local import hosts as cluster
from pipelines.local import job_env
from pipelines.local.hosts import Cancelled  # noqa: F401 - callers catch executor.Cancelled
from pipelines.local.manifest import (
    ManifestError,
    describe_missing,
    manifest_objects,
    missing_objects,
)
from pipelines.local.retry import ALGORITHM_ERROR
from pipelines.local.storage import (
    ArtifactStore,
    StoreError,
    extract_tarball_safely,
    join_uri,
    write_tarball_reproducibly,
)

CONTAINER_ROOT = "/opt/ml"
_OPT_ML = re.compile(r"(?<![\w.])/opt/ml(?=/|$)")
_MESSAGE_LIMIT = 1024  # SageMaker truncates FailureReason / ExitMessage to 1024 characters
_STDERR_TAIL_LINES = 5


class JobError(RuntimeError):
    """A job could not be set up (bad input location, unsupported option): a client error."""


@dataclass
class JobResult:
    description: dict[str, Any]
    succeeded: bool
    failure_reason: str | None = None
    kind: str | None = None  # retry exception type of the failure, or AlgorithmError
    job_dir: Path | None = None
    logs: list[str] = field(default_factory=list)


def job_name(execution_id: str, step_name: str) -> str:
    """`pipelines-<execution id>-<StepName>-<random>`, as SageMaker Pipelines names jobs."""
    alphabet = string.ascii_lowercase + string.digits
    suffix = "".join(secrets.choice(alphabet) for _ in range(10))
    cleaned = re.sub(r"[^A-Za-z0-9-]", "-", step_name)
    return f"pipelines-{execution_id}-{cleaned}-{suffix}"[:63]


def job_arn(region: str, account: str, kind: str, name: str) -> str:
    return sagemaker_arn(region, account, kind, name)


@dataclass
class JobEnvironment:
    """What every job needs from the engine."""

    store: ArtifactStore
    jobs_root: Path
    region: str
    account: str
    cancel: threading.Event = field(default_factory=threading.Event)
    # Hosts of one job running at once: they share this machine's cores and memory.
    max_parallel_hosts: int = field(default_factory=lambda: os.cpu_count() or 1)


class _Container:
    """Maps container paths to a job folder."""

    def __init__(self, job_dir: Path) -> None:
        self.job_dir = job_dir
        self.root = job_dir / "opt" / "ml"

    def path(self, container_path: str) -> Path:
        if not (container_path == CONTAINER_ROOT or container_path.startswith("/opt/ml/")):
            raise JobError(f"{container_path!r} is not under {CONTAINER_ROOT}")
        relative = container_path[len(CONTAINER_ROOT) :].lstrip("/")
        if ".." in Path(relative).parts:
            raise JobError(f"{container_path!r} leaves {CONTAINER_ROOT}")
        return self.root / relative

    def rewrite(self, value: str) -> str:
        return _OPT_ML.sub(str(self.root).replace("\\", "\\\\"), value)


def _command(entry: Sequence[str]) -> list[str]:
    """The interpreter in the image is this one: `python3 x.py` -> `<sys.executable> x.py`."""
    command = list(entry)
    if command and Path(command[0]).name in ("python", "python3"):
        command[0] = sys.executable
    return command


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except FileNotFoundError:
        return ""


def _stderr_tail(path: str) -> str:
    lines = [line for line in _read_text(Path(path)).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    if errors:
        return errors[-1]
    return "\n".join(lines[-_STDERR_TAIL_LINES:])


def _failure(code: int | None, timed_out: bool, timeout: float | None, message: str) -> str:
    if timed_out:
        return (
            f"{ALGORITHM_ERROR}: the job exceeded MaxRuntimeInSeconds ({timeout:g} s) and "
            "was stopped"
        )
    detail = message or f"the job exited with code {code} and wrote no error message"
    return f"{ALGORITHM_ERROR}: {detail}"[:_MESSAGE_LIMIT]


def _input_objects(
    store: ArtifactStore, uri: str, data_type: str | None, where: str
) -> list[tuple[str, str]]:
    """The objects an input reads, each with its name below the local path, as SageMaker lays
    them out: every object under an S3Prefix (`ArtifactStore.local_name`), or every object a
    ManifestFile lists, by its key relative to the manifest's prefix."""
    if data_type in ("S3Prefix", None):
        try:
            return [(found, store.local_name(uri, found)) for found in store.list(uri)]
        except StoreError as exc:
            raise JobError(f"{where}: {exc}") from exc
    if data_type == "ManifestFile":
        try:
            objects = manifest_objects(store, uri)
        except ManifestError as exc:
            raise JobError(f"ClientError: {where}: {exc}") from None
        missing = missing_objects(store, objects)
        if missing:
            raise JobError(f"ClientError: {where}: {describe_missing(uri, missing)}")
        if not objects:
            raise JobError(f"ClientError: {where}: the manifest file {uri} lists no objects")
        return objects
    raise JobError(
        f"{where}: S3DataType {data_type} is not supported locally (S3Prefix and ManifestFile are)"
    )


def _stage_inputs(
    store: ArtifactStore,
    uri: str,
    dest: Path,
    data_type: str | None,
    where: str,
    *,
    distribution: str = cluster.FULLY_REPLICATED,
    host_index: int = 0,
    host_count: int = 1,
) -> None:
    """List the input's objects, take this host's share (by S3DataDistributionType), then
    place them below `dest` (hard links). An empty share leaves an empty folder, as SageMaker
    leaves a host that gets no objects."""
    objects = _input_objects(store, uri, data_type, where)
    if not objects:
        raise JobError(
            f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data '
            f"source ({where}). Please ensure that the bucket exists in the selected region, "
            "that objects exist under that S3 prefix, and that the role has permission to "
            "read them."
        )
    try:
        share = cluster.share_of(
            objects, distribution or cluster.FULLY_REPLICATED, host_index, host_count
        )
        store.place(share, dest)
    except (StoreError, ValueError) as exc:
        raise JobError(f"{where}: {exc}") from exc


def _base_env(extra: Mapping[str, Any], container: _Container) -> dict[str, str]:
    """The container contract only (job_env): the request's Environment on top of what the
    interpreter needs, never the caller's own environment (AWS keys included)."""
    variables = {}
    for key, value in (extra or {}).items():
        variables[str(key)] = container.rewrite(str(value))
    return job_env.job_environment(container.job_dir / "home", variables)


def _hosts_of(count: Any, where: str) -> list[str]:
    try:
        return cluster.host_names(cluster.instance_count(1 if count is None else count, where))
    except ValueError as exc:
        raise JobError(str(exc)) from None


def _run_hosts(
    jobs: JobEnvironment, job_dir: Path, runs: list[cluster.HostRun], timeout: float | None
) -> tuple[list[cluster.HostResult], cluster.HostResult | None, list[str]]:
    """Every host's process; (results, the failure that ended the job, log paths with the
    failing host's last, so the last lines shown are the ones that explain it)."""
    results = cluster.run_hosts(
        runs, timeout=timeout, cancel=jobs.cancel, max_parallel=jobs.max_parallel_hosts
    )
    cluster.write_host_summary(job_dir / "hosts.json", results)
    failure = cluster.first_failure(results)
    if failure is None and any(r.timed_out for r in results):
        failure = next(r for r in results if r.timed_out)
    ordered = [r for r in results if r is not failure] + ([failure] if failure else [])
    logs = [log for r in ordered for log in r.logs if Path(log).exists()]
    return results, failure, logs


def _on_host(reason: str, failure: cluster.HostResult, host_count: int) -> str:
    # SageMaker's FailureReason does not say which instance failed; the step's reason does.
    if host_count == 1 or failure.timed_out:
        return reason
    return f"{reason} (host {failure.host} of {host_count})"[:_MESSAGE_LIMIT]


# -- processing -------------------------------------------------------------------------


def run_processing_job(
    jobs: JobEnvironment, name: str, arguments: Mapping[str, Any], attempt: int
) -> JobResult:
    job_dir = jobs.jobs_root / name
    started = time.time()
    app = arguments.get("AppSpecification") or {}
    entry = app.get("ContainerEntrypoint")
    if not entry:
        raise JobError("AppSpecification.ContainerEntrypoint is empty; local mode needs one")
    resources = arguments.get("ProcessingResources") or {}
    hosts = _hosts_of(
        (resources.get("ClusterConfig") or {}).get("InstanceCount"),
        "ProcessingResources.ClusterConfig.InstanceCount",
    )
    outputs = (arguments.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    containers: dict[str, _Container] = {}
    runs: list[cluster.HostRun] = []
    for index, host in enumerate(hosts):
        container = containers[host] = _Container(cluster.host_folder(job_dir, host, len(hosts)))
        for item in arguments.get("ProcessingInputs") or []:
            source = item.get("S3Input")
            if source is None:
                raise JobError(f"input {item.get('InputName')}: only S3Input is supported locally")
            if source.get("S3InputMode", "File") != "File":
                raise JobError(f"input {item.get('InputName')}: only File input mode is supported")
            if source.get("S3CompressionType", "None") not in ("None", None):
                raise JobError(
                    f"input {item.get('InputName')}: compressed inputs are not supported"
                )
            _stage_inputs(
                jobs.store,
                source["S3Uri"],
                container.path(source["LocalPath"]),
                source.get("S3DataType", "S3Prefix"),
                f"ProcessingInput {item.get('InputName')}",
                distribution=source.get("S3DataDistributionType", cluster.FULLY_REPLICATED),
                host_index=index,
                host_count=len(hosts),
            )
        for output in outputs:
            container.path(output["S3Output"]["LocalPath"]).mkdir(parents=True, exist_ok=True)
        (container.root / "output").mkdir(parents=True, exist_ok=True)
        config_dir = container.path("/opt/ml/config")
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "processingjobconfig.json").write_text(
            json.dumps({"ProcessingJobName": name, **arguments}, indent=2, default=str)
        )
        (config_dir / "resourceconfig.json").write_text(
            json.dumps(cluster.processing_resource_config(host, hosts), indent=2)
        )
        command = [container.rewrite(str(part)) for part in _command(entry)]
        command += [container.rewrite(str(arg)) for arg in app.get("ContainerArguments") or []]
        runs.append(
            cluster.HostRun(
                host,
                command,
                cwd=container.job_dir,
                env=_base_env(arguments.get("Environment") or {}, container),
                log_dir=cluster.log_folder(job_dir, attempt, host, len(hosts)),
            )
        )
    timeout = (arguments.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
    _, failure, logs = _run_hosts(jobs, job_dir, runs, timeout)
    description: dict[str, Any] = {
        "ProcessingJobName": name,
        "ProcessingJobArn": job_arn(jobs.region, jobs.account, "processing-job", name),
        "ProcessingInputs": arguments.get("ProcessingInputs") or [],
        "ProcessingOutputConfig": {"Outputs": outputs},
        "ProcessingResources": arguments.get("ProcessingResources"),
        "StoppingCondition": arguments.get("StoppingCondition"),
        "AppSpecification": app,
        "Environment": arguments.get("Environment") or {},
        "RoleArn": arguments.get("RoleArn"),
        "CreationTime": started,
        "ProcessingStartTime": started,
    }
    clash = None
    if failure is None:
        try:
            # Every output checked before any is published: a clash publishes nothing.
            published = [
                (
                    output["S3Output"]["S3Uri"],
                    cluster.merge_folders(
                        {h: c.path(output["S3Output"]["LocalPath"]) for h, c in containers.items()},
                        f"output {output.get('OutputName')} ({output['S3Output']['LocalPath']})",
                    ),
                )
                for output in outputs
            ]
        except cluster.HostClash as exc:
            clash = f"{ALGORITHM_ERROR}: {exc}"[:_MESSAGE_LIMIT]
        else:
            for uri, entries in published:
                for relative, path in entries:
                    if path.is_file():
                        jobs.store.put_file(path, join_uri(uri, relative), link=True)
            description.update(ProcessingJobStatus="Completed", ExitMessage="")
            description["ProcessingEndTime"] = time.time()
            return JobResult(description, True, job_dir=job_dir, logs=logs)
    exit_message = ""
    if failure is not None:
        failed_root = containers[failure.host].root
        exit_message = _read_text(failed_root / "output" / "message")[:_MESSAGE_LIMIT]
        reason = _failure(
            failure.exit_code,
            failure.timed_out,
            timeout,
            exit_message or _stderr_tail(failure.stderr),
        )
        step_reason = _on_host(reason, failure, len(hosts))
    else:
        reason = step_reason = clash or f"{ALGORITHM_ERROR}: the job failed"
    description.update(
        ProcessingJobStatus="Failed",
        ExitMessage=exit_message,
        FailureReason=reason,
        ProcessingEndTime=time.time(),
    )
    return JobResult(description, False, step_reason, ALGORITHM_ERROR, job_dir, logs)


# -- training ---------------------------------------------------------------------------


def _decode_hyperparameter(value: Any) -> Any:
    """The training toolkit json-decodes each hyperparameter when it can."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _cli_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _training_host(
    jobs: JobEnvironment,
    name: str,
    arguments: Mapping[str, Any],
    container: _Container,
    host: str,
    hosts: list[str],
    attempt: int,
    log_dir: Path,
) -> cluster.HostRun:
    """One host of a training job: its code, channels, config files and SM_* variables."""
    host_index = hosts.index(host)
    hyperparameters = {str(k): str(v) for k, v in (arguments.get("HyperParameters") or {}).items()}
    program = hyperparameters.get("sagemaker_program")
    submit = hyperparameters.get("sagemaker_submit_directory")
    if not program or not submit:
        raise JobError(
            "HyperParameters need sagemaker_program and sagemaker_submit_directory (the "
            "training-toolkit contract) to run locally"
        )
    code_dir = container.path("/opt/ml/code")
    try:
        tarball = jobs.store.path_for(submit)
        if not tarball.is_file():
            raise JobError(f"sagemaker_submit_directory {submit} is not in the local store")
        extract_tarball_safely(tarball, code_dir)
    except StoreError as exc:
        raise JobError(f"sagemaker_submit_directory {submit}: {exc}") from exc
    if not (code_dir / program).is_file():
        raise JobError(f"sagemaker_program {program!r} is not in {submit}")

    channels: dict[str, str] = {}
    input_config: dict[str, Any] = {}
    for channel in arguments.get("InputDataConfig") or []:
        channel_name = channel["ChannelName"]
        source = (channel.get("DataSource") or {}).get("S3DataSource")
        if source is None:
            raise JobError(f"channel {channel_name}: only S3DataSource is supported locally")
        if channel.get("InputMode", "File") != "File":
            raise JobError(f"channel {channel_name}: only File input mode is supported locally")
        local = container.path(f"/opt/ml/input/data/{channel_name}")
        distribution = source.get("S3DataDistributionType", cluster.FULLY_REPLICATED)
        _stage_inputs(
            jobs.store,
            source["S3Uri"],
            local,
            source.get("S3DataType", "S3Prefix"),
            f"channel {channel_name}",
            distribution=distribution,
            host_index=host_index,
            host_count=len(hosts),
        )
        channels[channel_name] = str(local)
        input_config[channel_name] = {
            "ContentType": channel.get("ContentType"),
            "TrainingInputMode": channel.get("InputMode", "File"),
            "S3DistributionType": distribution,
            "RecordWrapperType": channel.get("RecordWrapperType", "None"),
        }

    resources = arguments.get("ResourceConfig") or {}
    model_dir = container.path("/opt/ml/model")
    output_dir = container.path("/opt/ml/output")
    output_data_dir = output_dir / "data"
    config_dir = container.path("/opt/ml/input/config")
    for folder in (model_dir, output_data_dir, config_dir):
        folder.mkdir(parents=True, exist_ok=True)
    resource_config = cluster.training_resource_config(host, hosts, resources.get("InstanceType"))
    (config_dir / "hyperparameters.json").write_text(json.dumps(hyperparameters, indent=2))
    (config_dir / "inputdataconfig.json").write_text(json.dumps(input_config, indent=2))
    (config_dir / "resourceconfig.json").write_text(json.dumps(resource_config, indent=2))

    user = {
        k: _decode_hyperparameter(v)
        for k, v in hyperparameters.items()
        if not k.startswith("sagemaker_")
    }
    user_args: list[str] = []
    for key in sorted(user):
        user_args += [f"--{key}", _cli_value(user[key])]
    module_name = program[:-3] if program.endswith(".py") else program
    cpus = os.cpu_count() or 1
    training_env = {
        "channel_input_dirs": channels,
        "current_host": host,
        "framework_module": None,
        "hosts": hosts,
        "hyperparameters": user,
        "input_config_dir": str(config_dir),
        "input_data_config": input_config,
        "input_dir": str(container.path("/opt/ml/input")),
        "job_name": name,
        "log_level": int(hyperparameters.get("sagemaker_container_log_level", "20")),
        "model_dir": str(model_dir),
        "module_dir": submit,
        "module_name": module_name,
        "network_interface_name": "eth0",
        "num_cpus": cpus,
        "num_gpus": 0,
        "output_data_dir": str(output_data_dir),
        "output_dir": str(output_dir),
        "resource_config": resource_config,
        "user_entry_point": program,
    }
    sm_env = {
        "SM_MODEL_DIR": str(model_dir),
        "SM_CHANNELS": json.dumps(sorted(channels)),
        "SM_HPS": json.dumps(user),
        "SM_OUTPUT_DATA_DIR": str(output_data_dir),
        "SM_OUTPUT_DIR": str(output_dir),
        "SM_INPUT_DIR": str(container.path("/opt/ml/input")),
        "SM_INPUT_CONFIG_DIR": str(config_dir),
        "SM_INPUT_DATA_CONFIG": json.dumps(input_config),
        "SM_RESOURCE_CONFIG": json.dumps(resource_config),
        "SM_NUM_CPUS": str(cpus),
        "SM_NUM_GPUS": "0",
        "SM_HOSTS": json.dumps(hosts),
        "SM_CURRENT_HOST": host,
        "SM_CURRENT_INSTANCE_TYPE": str(resources.get("InstanceType")),
        "SM_NETWORK_INTERFACE_NAME": "eth0",
        "SM_USER_ARGS": json.dumps(user_args),
        "SM_USER_ENTRY_POINT": program,
        "SM_MODULE_NAME": module_name,
        "SM_MODULE_DIR": submit,
        "SM_LOG_LEVEL": str(training_env["log_level"]),
        "SM_TRAINING_ENV": json.dumps(training_env),
    }
    for channel_name, path in channels.items():
        sm_env[f"SM_CHANNEL_{channel_name.upper()}"] = path
    for key, value in user.items():
        sm_env[f"SM_HP_{key.upper()}"] = _cli_value(value)
    env = _base_env(arguments.get("Environment") or {}, container)
    env.update(sm_env)
    return cluster.HostRun(
        host, [sys.executable, program, *user_args], cwd=code_dir, env=env, log_dir=log_dir
    )


def run_training_job(
    jobs: JobEnvironment, name: str, arguments: Mapping[str, Any], attempt: int
) -> JobResult:
    job_dir = jobs.jobs_root / name
    started = time.time()
    resources = arguments.get("ResourceConfig") or {}
    hosts = _hosts_of(resources.get("InstanceCount"), "ResourceConfig.InstanceCount")
    containers: dict[str, _Container] = {}
    runs = []
    for host in hosts:
        container = containers[host] = _Container(cluster.host_folder(job_dir, host, len(hosts)))
        log_dir = cluster.log_folder(job_dir, attempt, host, len(hosts))
        runs.append(_training_host(jobs, name, arguments, container, host, hosts, attempt, log_dir))
    timeout = (arguments.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
    _, failure, logs = _run_hosts(jobs, job_dir, runs, timeout)
    output_path = (arguments.get("OutputDataConfig") or {}).get("S3OutputPath")
    description: dict[str, Any] = {
        "TrainingJobName": name,
        "TrainingJobArn": job_arn(jobs.region, jobs.account, "training-job", name),
        "AlgorithmSpecification": arguments.get("AlgorithmSpecification"),
        "HyperParameters": {
            str(k): str(v) for k, v in (arguments.get("HyperParameters") or {}).items()
        },
        "InputDataConfig": arguments.get("InputDataConfig") or [],
        "OutputDataConfig": arguments.get("OutputDataConfig"),
        "ResourceConfig": resources,
        "StoppingCondition": arguments.get("StoppingCondition"),
        "RoleArn": arguments.get("RoleArn"),
        "Environment": arguments.get("Environment") or {},
        "CreationTime": started,
        "TrainingStartTime": started,
    }
    clash = None
    if failure is None:
        if not output_path:
            raise JobError("OutputDataConfig.S3OutputPath is missing")
        try:
            # SageMaker packs every host's /opt/ml/model (and /opt/ml/output/data) into
            # one tarball ("How Amazon SageMaker Processes Training Output").
            model_entries = cluster.merge_folders(
                {h: c.path("/opt/ml/model") for h, c in containers.items()}, "/opt/ml/model"
            )
            data_entries = cluster.merge_folders(
                {h: c.path("/opt/ml/output/data") for h, c in containers.items()},
                "/opt/ml/output/data",
            )
        except cluster.HostClash as exc:
            clash = f"{ALGORITHM_ERROR}: {exc}"[:_MESSAGE_LIMIT]
        else:
            artifacts = join_uri(output_path, name, "output")
            model_uri = join_uri(artifacts, "model.tar.gz")
            _publish_tarball(jobs.store, model_entries, model_uri, job_dir / "model.tar.gz")
            _publish_tarball(
                jobs.store,
                data_entries,
                join_uri(artifacts, "output.tar.gz"),
                job_dir / "output.tar.gz",
            )
            end = time.time()
            description.update(
                TrainingJobStatus="Completed",
                SecondaryStatus="Completed",
                ModelArtifacts={"S3ModelArtifacts": model_uri},
                TrainingEndTime=end,
                TrainingTimeInSeconds=int(end - started),
                # Per instance: SageMaker bills it times InstanceCount.
                BillableTimeInSeconds=int(end - started),
            )
            return JobResult(description, True, job_dir=job_dir, logs=logs)
    timed_out = failure is not None and failure.timed_out
    if failure is not None:
        failed_root = containers[failure.host].root
        failure_file = _read_text(failed_root / "output" / "failure")[:_MESSAGE_LIMIT]
        reason = _failure(
            failure.exit_code, timed_out, timeout, failure_file or _stderr_tail(failure.stderr)
        )
        step_reason = _on_host(reason, failure, len(hosts))
    else:
        reason = step_reason = clash or f"{ALGORITHM_ERROR}: the job failed"
    description.update(
        TrainingJobStatus="Failed" if not timed_out else "Stopped",
        SecondaryStatus="Failed" if not timed_out else "MaxRuntimeExceeded",
        FailureReason=reason,
        TrainingEndTime=time.time(),
    )
    return JobResult(description, False, step_reason, ALGORITHM_ERROR, job_dir, logs)


def _publish_tarball(
    store: ArtifactStore, entries: list[tuple[str, Path]], uri: str, local: Path
) -> None:
    # Byte-reproducible (identical training output, identical model.tar.gz), gzip level 1:
    # model folders are mostly already-compressed joblib/parquet data, and the pack happens
    # on every training run.
    write_tarball_reproducibly(entries, local, compresslevel=1)
    store.put_file(local, uri, link=True)
