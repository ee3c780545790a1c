"""Step caching with SageMaker's rules, and nothing kinder.

The key holds the attributes SageMaker compares for the step type ("Default cache key
attributes by pipeline step type" in the developer guide), with expressions resolved, and
the step's name, type and pipeline; nothing else. SageMaker does not look at the data behind
an S3 URI, so neither does the key: an input overwritten in place under an unchanged request
is a cache hit here as it would be there. What the local engine can do that SageMaker cannot
is notice it: every entry records the content fingerprints of the step's inputs (memoised by
file identity, so unchanged big files cost a stat), and a hit whose inputs changed since is
reported (`stale_inputs`), never silently re-run. Only successful runs are reused, the most
recent one within `ExpireAfter`, and only while the outputs it recorded are still in the
store.

`CachingHandler` applies this around a step's handler: a hit is returned without running
it, and every successful run of a cacheable step is recorded, --no-cache runs included.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pipelines.local.manifest import ManifestError, manifest_objects
from pipelines.local.records import CacheEntry
from pipelines.local.state import State
from pipelines.local.step import Outcome, StepHandler, StepRun, job_metadata
from pipelines.local.storage import ArtifactStore, StoreError

KEY_ATTRIBUTES = {
    "Processing": ("AppSpecification", "Environment", "ProcessingInputs"),
    "Training": (
        "AlgorithmSpecification",
        "CheckpointConfig",
        "DebugHookConfig",
        "DebugRuleConfigurations",
        "Environment",
        "HyperParameters",
        "InputDataConfig",
    ),
    "Transform": ("DataProcessing", "Environment", "ModelName", "TransformInput"),
}
CACHEABLE_TYPES = tuple(KEY_ATTRIBUTES)
# Without ExpireAfter SageMaker keeps an entry usable indefinitely.
NEVER_EXPIRES = "P100Y"

_DURATION = re.compile(
    r"^P(?:(?P<years>\d+(?:\.\d+)?)Y)?(?:(?P<months>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
# Calendar units have no fixed length; these are the usual approximations.
_UNIT_SECONDS = {
    "years": 365 * 86400,
    "months": 30 * 86400,
    "weeks": 7 * 86400,
    "days": 86400,
    "hours": 3600,
    "minutes": 60,
    "seconds": 1,
}


class CacheConfigError(ValueError):
    """A CacheConfig cannot be used (e.g. an ExpireAfter that is not a duration)."""


def parse_expire_after(text: str) -> timedelta:
    """ISO-8601 durations ("P30D", "PT1H", "P1DT12H") and SageMaker's short forms
    ("30d", "5y", "T16m", "30dT5h")."""
    raw = str(text).strip()
    normalized = raw.upper()
    if not normalized.startswith("P"):
        normalized = "P" + normalized
    match = _DURATION.match(normalized)
    if not match or normalized in ("P", "PT") or normalized.endswith("T"):
        raise CacheConfigError(
            f"CacheConfig ExpireAfter {raw!r} is not a duration like 'P30D', 'PT1H' or '30dT5h'"
        )
    seconds = sum(float(v) * _UNIT_SECONDS[k] for k, v in match.groupdict().items() if v)
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class CacheHit:
    source_execution_id: str
    source_execution_arn: str
    properties: dict[str, Any]
    # The input fingerprints the reused run recorded (empty for entries from before them).
    inputs: dict[str, str]


def input_locations(step_type: str, arguments: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every S3 location the step's job reads (data channels and code), with its S3DataType."""
    locations: list[tuple[str, str]] = []
    if step_type == "Processing":
        for item in arguments.get("ProcessingInputs") or []:
            source = item.get("S3Input") or {}
            if isinstance(source.get("S3Uri"), str):
                locations.append((source["S3Uri"], source.get("S3DataType") or "S3Prefix"))
    elif step_type == "Training":
        for channel in arguments.get("InputDataConfig") or []:
            source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
            if isinstance(source.get("S3Uri"), str):
                locations.append((source["S3Uri"], source.get("S3DataType") or "S3Prefix"))
        submit = (arguments.get("HyperParameters") or {}).get("sagemaker_submit_directory")
        if isinstance(submit, str) and submit.startswith("s3://"):
            locations.append((submit, "S3Prefix"))
    return locations


def input_fingerprints(
    step_type: str, arguments: Mapping[str, Any], store: ArtifactStore
) -> dict[str, str]:
    """The content of every input, by URI: for a manifest, the manifest and what it lists."""
    fingerprints = {}
    for uri, data_type in input_locations(step_type, arguments):
        try:
            if data_type == "ManifestFile":
                fingerprints[uri] = _manifest_fingerprint(store, uri)
            else:
                fingerprints[uri] = store.fingerprint(uri)
        except (StoreError, OSError):
            fingerprints[uri] = "unreadable"
    return fingerprints


def _manifest_fingerprint(store: ArtifactStore, uri: str) -> str:
    try:
        objects = manifest_objects(store, uri)
    except ManifestError:
        return "unreadable"
    digest = hashlib.sha256(store.file_digest(store.path_for(uri)).encode() + b"\n")
    for object_uri, relative in objects:
        path = store.path_for(object_uri)
        content = store.file_digest(path) if path.is_file() else "missing"
        digest.update(relative.encode() + b"\0" + content.encode() + b"\n")
    return digest.hexdigest()


def stale_inputs(recorded: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """Inputs whose content differs from what the reused run read (same URI, new bytes)."""
    return sorted(
        uri for uri, value in current.items() if uri in recorded and recorded[uri] != value
    )


def stale_warning(step_name: str, source_execution_id: str, changed: list[str]) -> str:
    shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
    return (
        f"{step_name} reused execution {source_execution_id}'s result although {shown} "
        "changed since: SageMaker would reuse it too (its cache key is the request, not the "
        "data). To retrain, put new data under a new key (SnapshotInput does this for "
        "InputDataUrl) or start with --no-cache."
    )


def cache_key(
    *,
    pipeline_name: str,
    step_name: str,
    step_type: str,
    arguments: Mapping[str, Any],
) -> str:
    """The step's signature: SageMaker's key attributes for its type, and nothing else."""
    attributes = {name: arguments.get(name) for name in KEY_ATTRIBUTES.get(step_type, ())}
    document = {
        "pipeline": pipeline_name,
        "step": step_name,
        "type": step_type,
        "attributes": attributes,
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def output_uris(step_type: str, properties: Mapping[str, Any]) -> list[str]:
    """What a successful run left in the store, so a hit can check it is still there."""
    if step_type == "Processing":
        outputs = (properties.get("ProcessingOutputConfig") or {}).get("Outputs") or []
        return [o["S3Output"]["S3Uri"] for o in outputs if "S3Output" in o]
    if step_type == "Training":
        model = (properties.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
        return [model] if model else []
    return []


def lookup(
    state: State, store: ArtifactStore, key: str, expire_after: timedelta, now: float
) -> CacheHit | None:
    for entry in state.cache_entries(key, now - expire_after.total_seconds()):
        if all(_still_there(store, uri) for uri in entry.outputs):
            return CacheHit(entry.execution_id, entry.execution_arn, entry.properties, entry.inputs)
    return None


def _still_there(store: ArtifactStore, uri: str) -> bool:
    try:
        return store.path_for(uri).exists()
    except ValueError:
        return False


def record(
    state: State,
    *,
    key: str,
    pipeline_name: str,
    step_name: str,
    step_type: str,
    execution_id: str,
    execution_arn: str,
    properties: Mapping[str, Any],
    now: float,
    inputs: Mapping[str, str] | None = None,
) -> None:
    state.put_cache_entry(
        CacheEntry(
            cache_key=key,
            pipeline_name=pipeline_name,
            step_name=step_name,
            execution_id=execution_id,
            execution_arn=execution_arn,
            created_time=now,
            properties=dict(properties),
            outputs=output_uris(step_type, properties),
            inputs=dict(inputs or {}),
        )
    )


def is_cacheable(step_type: str, spec: Mapping[str, Any]) -> bool:
    """A step whose CacheConfig enables caching, of a type SageMaker caches."""
    config = spec.get("CacheConfig") or {}
    return bool(config.get("Enabled")) and step_type in CACHEABLE_TYPES


class CachingHandler:
    """A step handler behind the step cache of one execution.

    `no_cache` (--no-cache) skips lookups only: the run is still recorded for later ones.
    """

    def __init__(
        self,
        inner: StepHandler,
        *,
        state: State,
        store: ArtifactStore,
        pipeline_name: str,
        execution_id: str,
        execution_arn: str,
        no_cache: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.inner = inner
        self.resolve_arguments = inner.resolve_arguments
        self.job_kind = inner.job_kind
        self.state = state
        self.store = store
        self.pipeline_name = pipeline_name
        self.execution_id = execution_id
        self.execution_arn = execution_arn
        self.no_cache = no_cache
        self._clock = clock

    def run(self, run: StepRun) -> Outcome:
        node = run.node
        if not is_cacheable(node.type, node.spec):
            return self.inner.run(run)
        key = cache_key(
            pipeline_name=self.pipeline_name,
            step_name=node.name,
            step_type=node.type,
            arguments=run.arguments,
        )
        if not self.no_cache:
            config = node.spec.get("CacheConfig") or {}
            expire = parse_expire_after(config.get("ExpireAfter") or NEVER_EXPIRES)
            run.record.metadata["CacheKey"] = key
            hit = lookup(self.state, self.store, key, expire, self._clock())
            if hit is not None:
                return self._reuse(run, hit)
        # What the job is about to read, recorded with the entry, so that a later hit can
        # tell whether the content changed under the same request.
        inputs = input_fingerprints(node.type, run.arguments, self.store)
        outcome = self.inner.run(run)
        record(
            self.state,
            key=key,
            pipeline_name=self.pipeline_name,
            step_name=node.name,
            step_type=node.type,
            execution_id=self.execution_id,
            execution_arn=self.execution_arn,
            properties=outcome.properties,
            now=self._clock(),
            inputs=inputs,
        )
        return outcome

    def _reuse(self, run: StepRun, hit: CacheHit) -> Outcome:
        node, step = run.node, run.record
        step.cache_source_arn = hit.source_execution_arn
        step.cache_source_id = hit.source_execution_id
        step.attempts = 0
        # The reused job is the source execution's; no job of this execution ran.
        step.job_name = hit.properties.get("ProcessingJobName") or hit.properties.get(
            "TrainingJobName"
        )
        metadata = job_metadata(node.type, hit.properties)
        # Same request, so SageMaker would reuse this result too; say so when the content
        # behind an input changed since (what would be stale on SageMaker), don't re-run.
        current = input_fingerprints(node.type, run.arguments, self.store)
        changed = stale_inputs(hit.inputs, current)
        if changed:
            metadata["CacheWarning"] = {
                "Message": stale_warning(node.name, hit.source_execution_id, changed),
                "ChangedInputs": changed,
            }
        source = self.state.get_step(hit.source_execution_id, node.name)
        return Outcome(
            hit.properties,
            metadata,
            job_dir=source.job_dir if source else None,
            logs=source.logs if source else [],
        )
