"""Project configuration: `pipeline.toml`, overridden by environment variables.

Everything here is plain data. Pipeline parameters (what can change per execution) are
declared in `definition.py`; this file holds what is fixed per deployment.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from pipelines import project_files
from pipelines.errors import UsageError

# The checkout, or the copy of its files an installed wheel carries (pipelines/project_files.py).
PROJECT_ROOT = project_files.BUNDLED_ROOT
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "pipeline.toml"

PROBLEM_TYPES = ("binary_classification", "regression")
METRICS_BY_PROBLEM_TYPE = {
    "binary_classification": (
        "average_precision",
        "auc",
        "log_loss",
        "accuracy",
        "precision",
        "recall",
        "f1",
    ),
    "regression": ("mse", "rmse", "mae", "r2"),
}
# The metrics where a smaller value is a better model: higher_is_better must be false.
LOWER_IS_BETTER = frozenset({"log_loss", "mse", "rmse", "mae"})
THRESHOLD_OBJECTIVES = ("f1", "cost", "min_precision")
CLASS_WEIGHTS = ("none", "balanced")
APPROVAL_STATUSES = ("Approved", "Rejected", "PendingManualApproval")
TARGETS = ("local", "sagemaker")
# The sub-table of [pricing] with the orchestrators' prices (not instance types).
ORCHESTRATION_PRICING = "orchestration"


class ConfigError(UsageError, ValueError):
    """The configuration file or an override is invalid; the message names the field."""


@dataclass(frozen=True)
class PipelineSettings:
    name: str
    model_package_group: str
    problem_type: str
    label_column: str
    metric: str
    metric_threshold: float
    higher_is_better: bool
    sample_data: str
    s3_prefix: str
    sklearn_image_version: str
    model_approval_status: str
    cache_expire_after: str
    max_runtime_seconds: int
    max_parallel_steps: int
    champion_margin: float = 0.0


@dataclass(frozen=True)
class QualityGateSettings:
    """[quality_gate]: how Evaluate decides, what Preprocess refuses, how Train picks its
    operating point. Build-time settings, passed to the jobs as literal arguments."""

    # The permutation test and the paired bootstrap behind every comparison (baseline,
    # champion): their level, how many shuffles and resamples, and their seed.
    confidence_level: float = 0.95
    resamples: int = 1000
    random_seed: int = 0
    # Preprocess refuses a split with fewer rows than this of either class.
    min_class_count: int = 10
    # The decision threshold, chosen on the validation split: "f1", "cost" (a missed
    # positive costs cost_ratio false alarms) or "min_precision".
    threshold_objective: str = "f1"
    cost_ratio: float = 10.0
    min_precision: float = 0.5
    # "none" or "balanced" (scikit-learn's class_weight for the classifier).
    class_weight: str = "none"


@dataclass(frozen=True)
class AwsSettings:
    region: str
    bucket: str
    role_arn: str
    local_bucket: str
    local_role_arn: str
    lambda_role_arn: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InstanceSettings:
    processing_type: str
    processing_count: int
    training_type: str
    inference_type: str
    # Must be 1 (see _validate): kept so existing pipeline.toml files stay valid.
    training_count: int = 1


@dataclass(frozen=True)
class Hyperparameters:
    learning_rate: float
    max_iter: int
    max_leaf_nodes: int
    l2_regularization: float


@dataclass(frozen=True)
class RetrySettings:
    interval_seconds: int
    backoff_rate: float
    max_attempts: int
    job_interval_seconds: int
    job_max_attempts: int


@dataclass(frozen=True)
class LocalSettings:
    home: str
    # Idle seconds a Lambda execution environment stays warm for the next run; 0: none.
    lambda_keep_warm_seconds: float = 300.0


@dataclass(frozen=True)
class Target:
    """Where a definition is built for: the bucket and role it names."""

    name: str
    region: str
    bucket: str
    role_arn: str

    @property
    def account_id(self) -> str:
        """The account of the execution role: where the project's Lambda functions live."""
        parts = self.role_arn.split(":")
        if len(parts) < 6 or parts[2] != "iam" or not parts[4].isdigit():
            raise ConfigError(f"role ARN {self.role_arn!r} is not an IAM role ARN")
        return parts[4]


@dataclass(frozen=True)
class ProjectConfig:
    path: Path
    pipeline: PipelineSettings
    aws: AwsSettings
    instances: InstanceSettings
    hyperparameters: Hyperparameters
    retry: RetrySettings
    local: LocalSettings
    # Sections owned by other modules (triggers, notifications, deployment, pricing, stack,
    # dr, orchestrator, drift), parsed and validated where they are used.
    extra: Mapping[str, Any] = field(default_factory=dict)
    quality_gate: QualityGateSettings = field(default_factory=QualityGateSettings)

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def local_home(self) -> Path:
        home = Path(self.local.home)
        return home if home.is_absolute() else project_files.writable_root(self.root) / home

    @property
    def sample_data_path(self) -> Path:
        return project_files.project_file(self.root, self.pipeline.sample_data)

    def target(self, name: str) -> Target:
        """The bucket and role a definition for `name` ("local" or "sagemaker") uses."""
        if name == "local":
            return Target(name, self.aws.region, self.aws.local_bucket, self.aws.local_role_arn)
        if name != "sagemaker":
            raise ConfigError(f"unknown target {name!r}; expected one of {', '.join(TARGETS)}")
        missing = [
            f"{key} (pipeline.toml [aws].{key} or {env})"
            for key, env, value in (
                ("bucket", "PIPELINE_BUCKET", self.aws.bucket),
                ("role_arn", "PIPELINE_ROLE_ARN", self.aws.role_arn),
            )
            if not value
        ]
        if missing:
            raise ConfigError("--target sagemaker needs " + " and ".join(missing))
        return Target(name, self.aws.region, self.aws.bucket, self.aws.role_arn)


_SECTIONS = {
    "pipeline": PipelineSettings,
    "aws": AwsSettings,
    "instances": InstanceSettings,
    "hyperparameters": Hyperparameters,
    "retry": RetrySettings,
    "local": LocalSettings,
    "quality_gate": QualityGateSettings,
}
_EXTRA_SECTIONS = (
    "triggers",
    "notifications",
    "deployment",
    "pricing",
    "stack",
    "dr",
    "orchestrator",
    "drift",
)

_ENV_OVERRIDES = {
    "PIPELINE_NAME": ("pipeline", "name"),
    "PIPELINE_BUCKET": ("aws", "bucket"),
    "PIPELINE_ROLE_ARN": ("aws", "role_arn"),
    "PIPELINE_LAMBDA_ROLE_ARN": ("aws", "lambda_role_arn"),
    "AWS_DEFAULT_REGION": ("aws", "region"),
    "AWS_REGION": ("aws", "region"),  # listed last: AWS_REGION wins, as in the AWS SDKs
}


def load_config(
    path: Path | str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> ProjectConfig:
    """Read `pipeline.toml`, apply environment then explicit overrides, and validate."""
    # Absolute, because jobs and Lambda functions run with their own working directory and
    # every project path (scripts, lambdas, the local home) is derived from this one.
    config_path = (Path(path) if path else project_files.find_config()).absolute()
    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{config_path}: configuration file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path}: not valid TOML: {exc}") from exc

    environ = os.environ if environ is None else environ
    for env_name, (section, key) in _ENV_OVERRIDES.items():
        if environ.get(env_name):
            raw.setdefault(section, {})[key] = environ[env_name]
    for section, values in (overrides or {}).items():
        raw.setdefault(section, {}).update({k: v for k, v in values.items() if v is not None})

    unknown = sorted(set(raw) - set(_SECTIONS) - set(_EXTRA_SECTIONS))
    if unknown:
        raise ConfigError(f"{config_path}: unknown section(s) {', '.join(unknown)}")

    sections = {
        name: _build_section(config_path, name, cls, raw.get(name, {}))
        for name, cls in _SECTIONS.items()
    }
    config = ProjectConfig(
        path=config_path,
        extra={name: raw[name] for name in _EXTRA_SECTIONS if name in raw},
        **sections,
    )
    _validate(config)
    return config


def _build_section(config_path: Path, name: str, cls: type, values: Mapping[str, Any]):
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{config_path}: unknown key(s) in [{name}]: {', '.join(unknown)}")
    kwargs = {}
    for key, spec in known.items():
        if key not in values:
            if spec.default is not MISSING or spec.default_factory is not MISSING:
                continue
            raise ConfigError(f"{config_path}: [{name}].{key} is missing")
        kwargs[key] = _coerce(config_path, f"[{name}].{key}", spec.type, values[key])
    return cls(**kwargs)


def _coerce(config_path: Path, where: str, type_name: str, value: Any) -> Any:
    """Check a value against the dataclass annotation (strings under __future__ annotations)."""
    try:
        if type_name == "str":
            if not isinstance(value, str):
                raise TypeError
            return value
        if type_name == "bool":
            if not isinstance(value, bool):
                raise TypeError
            return value
        if type_name == "int":
            if isinstance(value, bool | float):
                raise TypeError
            return int(value)
        if type_name == "float":
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if type_name.startswith("dict"):
            if not isinstance(value, Mapping):
                raise TypeError
            return {str(k): str(v) for k, v in value.items()}
    except (TypeError, ValueError):
        pass
    raise ConfigError(f"{config_path}: {where} must be {type_name}, got {value!r}")


def _validate(config: ProjectConfig) -> None:
    p = config.pipeline
    where = str(config.path)
    if p.problem_type not in PROBLEM_TYPES:
        raise ConfigError(
            f"{where}: [pipeline].problem_type {p.problem_type!r} is not one of "
            f"{', '.join(PROBLEM_TYPES)}"
        )
    metrics = METRICS_BY_PROBLEM_TYPE[p.problem_type]
    if p.metric not in metrics:
        raise ConfigError(
            f"{where}: [pipeline].metric {p.metric!r} is not a {p.problem_type} metric "
            f"({', '.join(metrics)})"
        )
    if p.higher_is_better == (p.metric in LOWER_IS_BETTER):
        raise ConfigError(
            f"{where}: [pipeline].higher_is_better = {str(p.higher_is_better).lower()} "
            f"contradicts metric {p.metric!r}, for which a "
            f"{'smaller' if p.metric in LOWER_IS_BETTER else 'larger'} value is better"
        )
    _validate_quality_gate(where, config.quality_gate)
    if p.champion_margin < 0:
        raise ConfigError(
            f"{where}: [pipeline].champion_margin must be >= 0, got {p.champion_margin}"
        )
    if p.model_approval_status not in APPROVAL_STATUSES:
        raise ConfigError(
            f"{where}: [pipeline].model_approval_status {p.model_approval_status!r} is not one "
            f"of {', '.join(APPROVAL_STATUSES)}"
        )
    if config.local.lambda_keep_warm_seconds < 0:
        raise ConfigError(
            f"{where}: [local].lambda_keep_warm_seconds must be >= 0, got "
            f"{config.local.lambda_keep_warm_seconds}"
        )
    for label, value in (
        ("[pipeline].max_runtime_seconds", config.pipeline.max_runtime_seconds),
        ("[instances].processing_count", config.instances.processing_count),
        ("[instances].training_count", config.instances.training_count),
        ("[pipeline].max_parallel_steps", config.pipeline.max_parallel_steps),
        ("[retry].max_attempts", config.retry.max_attempts),
        ("[retry].job_max_attempts", config.retry.job_max_attempts),
    ):
        if value < 1:
            raise ConfigError(f"{where}: {label} must be at least 1, got {value}")
    if config.instances.training_count != 1:
        raise ConfigError(
            f"{where}: [instances].training_count must be 1, got "
            f"{config.instances.training_count}: scikit-learn's HistGradientBoosting trains "
            "on one instance, so more would each fit the same model and be billed for it "
            "(the SDK's own SKLearn estimator refuses instance_count > 1 for this reason). "
            "Preprocess scales out instead: [instances].processing_count"
        )
    _validate_retry(where, config.retry)


def _validate_retry(where: str, retry: RetrySettings) -> None:
    """SageMaker's limits for retry policies ("Retry Policy for Pipeline Steps"), checked here
    so a bad value is a configuration error, not the SDK's assertion while building."""
    from pipelines.conformance.definition_rules import INTERVAL_SECONDS_MAX, MAX_ATTEMPTS_MAX

    for label, value, limit in (
        ("[retry].max_attempts", retry.max_attempts, MAX_ATTEMPTS_MAX),
        ("[retry].job_max_attempts", retry.job_max_attempts, MAX_ATTEMPTS_MAX),
        ("[retry].interval_seconds", retry.interval_seconds, INTERVAL_SECONDS_MAX),
        ("[retry].job_interval_seconds", retry.job_interval_seconds, INTERVAL_SECONDS_MAX),
    ):
        if not 0 <= value <= limit:
            raise ConfigError(
                f"{where}: {label} must be 0 to {limit} (SageMaker's limit), got {value}"
            )
    if retry.backoff_rate < 0:
        raise ConfigError(f"{where}: [retry].backoff_rate must be >= 0, got {retry.backoff_rate}")


def _validate_quality_gate(where: str, gate: QualityGateSettings) -> None:
    problems = []
    if not 0 < gate.confidence_level < 1:
        problems.append(f"confidence_level must be between 0 and 1, got {gate.confidence_level}")
    if gate.resamples < 100:
        problems.append(f"resamples must be at least 100, got {gate.resamples}")
    if gate.min_class_count < 1:
        problems.append(f"min_class_count must be at least 1, got {gate.min_class_count}")
    if gate.threshold_objective not in THRESHOLD_OBJECTIVES:
        problems.append(
            f"threshold_objective {gate.threshold_objective!r} is not one of "
            f"{', '.join(THRESHOLD_OBJECTIVES)}"
        )
    if not gate.cost_ratio > 0:
        problems.append(f"cost_ratio must be > 0, got {gate.cost_ratio}")
    if not 0 < gate.min_precision <= 1:
        problems.append(f"min_precision must be in (0, 1], got {gate.min_precision}")
    if gate.class_weight not in CLASS_WEIGHTS:
        problems.append(
            f"class_weight {gate.class_weight!r} is not one of {', '.join(CLASS_WEIGHTS)}"
        )
    if problems:
        raise ConfigError(f"{where}: [quality_gate]." + problems[0])


def load_pricing(config: ProjectConfig) -> dict[str, float]:
    """`[pricing]`: USD per instance-hour by instance type, for the local cost report.

    Optional like the other extra sections: no table means every job is "unpriced".
    Keys may be quoted ("ml.m5.large" = 0.115) or bare; bare TOML keys with dots are
    nested tables, flattened back to the instance type here.
    """
    where = f"{config.path}: [pricing]"
    raw = config.extra.get("pricing", {})
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a table of instance type = USD per hour")
    # [pricing.orchestration] holds the orchestrators' prices (pipelines/view/cost.py).
    raw = {key: value for key, value in raw.items() if key != ORCHESTRATION_PRICING}
    prices: dict[str, float] = {}
    for instance_type, value in _flatten(raw).items():
        if not instance_type.startswith("ml."):
            raise ConfigError(
                f'{where}: key {instance_type!r} is not a SageMaker instance type ("ml.<family>'
                '.<size>", quoted in TOML)'
            )
        # bool is an int in Python (`true` is not a price); TOML also allows nan and inf.
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 <= value < float("inf")
        ):
            raise ConfigError(
                f'{where}."{instance_type}" must be a non-negative number of USD per '
                f"instance-hour, got {value!r}"
            )
        prices[instance_type] = float(value)
    return prices


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat
