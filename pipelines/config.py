"""Project configuration: `pipeline.toml`, overridden by environment variables.

Everything here is plain data. Pipeline parameters (what can change per execution) are
declared in `definition.py`; this file holds what is fixed per deployment. Every section is
a pydantic model (the core ones here, the others in `pipelines/<feature>/settings.py`),
validated once when the file loads; errors name the file, the key and the value.
"""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from pipelines import project_files
from pipelines.config_fields import Section, at_least, between, describe, one_of, project
from pipelines.errors import UsageError
from pipelines.sagemaker_limits import INTERVAL_SECONDS_MAX, MAX_ATTEMPTS_MAX
from pipelines.settings.deployment import DeploymentSettings
from pipelines.settings.drift import DriftSettings
from pipelines.settings.orchestrator import OrchestratorSettings
from pipelines.settings.stack import DrSettings, StackSettings
from pipelines.settings.triggers import (
    LONGEST_SUFFIX,
    MAX_NAME_LENGTH,
    NotificationSettings,
    TriggerSettings,
)

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
_SAGEMAKER_LIMIT = " (SageMaker's limit)"


class ConfigError(UsageError, ValueError):
    """The configuration file or an override is invalid; the message names the field."""


def _open_unit_interval(value: float) -> float:
    if not 0 < value < 1:
        raise ValueError("must be between 0 and 1 (both excluded)")
    return value


def _positive(value: float) -> float:
    if not value > 0:
        raise ValueError("must be > 0")
    return value


def _share(value: float) -> float:
    if not 0 < value <= 1:
        raise ValueError("must be in (0, 1]")
    return value


def _one_training_instance(value: int) -> int:
    if value != 1:
        raise ValueError(
            f"must be 1, got {value}: scikit-learn's HistGradientBoosting trains on one "
            "instance, so more would each fit the same model and be billed for it (the SDK's "
            "own SKLearn estimator refuses instance_count > 1 for this reason). Preprocess "
            "scales out instead: [instances].processing_count"
        )
    return value


def _tag_values(tags: Any) -> Any:
    if isinstance(tags, Mapping):
        return {
            key: value if isinstance(value, Mapping) else str(value) for key, value in tags.items()
        }
    return tags


def _lower_is_better_rule(metric: str) -> str:
    return "smaller" if metric in LOWER_IS_BETTER else "larger"


class PipelineSettings(Section):
    name: str
    model_package_group: str
    problem_type: Annotated[str, one_of(PROBLEM_TYPES)]
    label_column: str
    metric: str
    metric_threshold: float
    higher_is_better: bool
    sample_data: str
    s3_prefix: str
    sklearn_image_version: str
    model_approval_status: Annotated[str, one_of(APPROVAL_STATUSES)]
    cache_expire_after: str
    max_runtime_seconds: Annotated[int, at_least(1)]
    max_parallel_steps: Annotated[int, at_least(1)]
    champion_margin: Annotated[float, at_least(0)] = 0.0

    @model_validator(mode="after")
    def _metric_and_direction(self) -> PipelineSettings:
        metrics = METRICS_BY_PROBLEM_TYPE[self.problem_type]
        if self.metric not in metrics:
            raise ValueError(
                f"metric {self.metric!r} is not a {self.problem_type} metric ({', '.join(metrics)})"
            )
        if self.higher_is_better == (self.metric in LOWER_IS_BETTER):
            raise ValueError(
                f"higher_is_better = {str(self.higher_is_better).lower()} contradicts metric "
                f"{self.metric!r}, for which a {_lower_is_better_rule(self.metric)} value is "
                "better"
            )
        return self


class QualityGateSettings(Section):
    """[quality_gate]: how Evaluate decides, what Preprocess refuses, how Train picks its
    operating point. Build-time settings, passed to the jobs as literal arguments."""

    # The permutation test and the paired bootstrap behind every comparison (baseline,
    # champion): their level, how many shuffles and resamples, and their seed.
    confidence_level: Annotated[float, AfterValidator(_open_unit_interval)] = 0.95
    resamples: Annotated[int, at_least(100)] = 1000
    random_seed: int = 0
    # Preprocess refuses a split with fewer rows than this of either class.
    min_class_count: Annotated[int, at_least(1)] = 10
    # The decision threshold, chosen on the validation split: "f1", "cost" (a missed
    # positive costs cost_ratio false alarms) or "min_precision".
    threshold_objective: Annotated[str, one_of(THRESHOLD_OBJECTIVES)] = "f1"
    cost_ratio: Annotated[float, AfterValidator(_positive)] = 10.0
    min_precision: Annotated[float, AfterValidator(_share)] = 0.5
    # "none" or "balanced" (scikit-learn's class_weight for the classifier).
    class_weight: Annotated[str, one_of(CLASS_WEIGHTS)] = "none"


class AwsSettings(Section):
    region: str
    bucket: str
    role_arn: str
    local_bucket: str
    local_role_arn: str
    lambda_role_arn: str = ""
    # Tag values are strings on AWS; `version = 2` in TOML means "2".
    tags: Annotated[dict[str, str], BeforeValidator(_tag_values)] = Field(default_factory=dict)


class InstanceSettings(Section):
    processing_type: str
    processing_count: Annotated[int, at_least(1)]
    training_type: str
    inference_type: str
    # Must be 1: kept so existing pipeline.toml files stay valid.
    training_count: Annotated[int, AfterValidator(_one_training_instance)] = 1


class Hyperparameters(Section):
    learning_rate: float
    max_iter: int
    max_leaf_nodes: int
    l2_regularization: float


class RetrySettings(Section):
    """SageMaker's limits for retry policies ("Retry Policy for Pipeline Steps"), checked
    here so a bad value is a configuration error, not the SDK's assertion while building."""

    interval_seconds: Annotated[int, between(0, INTERVAL_SECONDS_MAX, _SAGEMAKER_LIMIT)]
    backoff_rate: Annotated[float, at_least(0)]
    max_attempts: Annotated[int, between(1, MAX_ATTEMPTS_MAX, _SAGEMAKER_LIMIT)]
    job_interval_seconds: Annotated[int, between(0, INTERVAL_SECONDS_MAX, _SAGEMAKER_LIMIT)]
    job_max_attempts: Annotated[int, between(1, MAX_ATTEMPTS_MAX, _SAGEMAKER_LIMIT)]


class LocalSettings(Section):
    home: str
    # Idle seconds a Lambda execution environment stays warm for the next run; 0: none.
    lambda_keep_warm_seconds: Annotated[float, at_least(0)] = 300.0


class _CoreSections(BaseModel):
    """The sections every command needs, validated on their own."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    pipeline: PipelineSettings
    aws: AwsSettings
    instances: InstanceSettings
    hyperparameters: Hyperparameters
    retry: RetrySettings
    local: LocalSettings
    quality_gate: QualityGateSettings


class Sections(BaseModel):
    """The sections other modules own, validated against the core ones (their defaults and
    cross-section rules read `[pipeline]`, `[aws]`, `[instances]`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    triggers: TriggerSettings
    notifications: NotificationSettings
    deployment: DeploymentSettings
    # USD per instance-hour by instance type; [pricing.orchestration] is read by
    # pipelines/view/cost.py (orchestration_prices) from `extra`.
    pricing: Annotated[dict[str, float], BeforeValidator(_instance_prices)]
    stack: StackSettings
    dr: DrSettings
    orchestrator: OrchestratorSettings
    drift: DriftSettings

    @model_validator(mode="before")
    @classmethod
    def _names_fit(cls, data: Any, info: ValidationInfo) -> Any:
        # First: every resource name derived from the pipeline's would be refused too.
        config = project(info)
        longest = config.pipeline.name + LONGEST_SUFFIX if config else ""
        if len(longest) > MAX_NAME_LENGTH:
            raise ValueError(
                f"[pipeline].name {config.pipeline.name!r} is too long for the trigger "
                f"resources: {longest!r} exceeds {MAX_NAME_LENGTH} characters"
            )
        return data


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
    # The other sections as pipeline.toml holds them (triggers, notifications, deployment,
    # pricing, stack, dr, orchestrator, drift); `sections` is them validated.
    extra: Mapping[str, Any] = field(default_factory=dict)
    quality_gate: QualityGateSettings = field(default_factory=QualityGateSettings)

    @functools.cached_property
    def sections(self) -> Sections:
        """The other modules' sections, validated once per configuration (load_config
        validates them; a copy made with dataclasses.replace validates its own)."""
        raw = {name: {} for name in Sections.model_fields} | dict(self.extra)
        try:
            return Sections.model_validate(raw, context={"config": self})
        except ValidationError as exc:
            raise ConfigError(describe(self.path, exc, Sections)) from None

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
    """Read `pipeline.toml`, apply environment then explicit overrides, and validate every
    section."""
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

    unknown = sorted(set(raw) - set(_CoreSections.model_fields) - set(Sections.model_fields))
    if unknown:
        raise ConfigError(f"{config_path}: unknown section(s): {', '.join(unknown)}")
    core = {name: raw.get(name, {}) for name in _CoreSections.model_fields}
    try:
        sections = _CoreSections.model_validate(core)
    except ValidationError as exc:
        raise ConfigError(describe(config_path, exc, _CoreSections)) from None
    config = ProjectConfig(
        path=config_path,
        extra={name: raw[name] for name in Sections.model_fields if name in raw},
        **{name: getattr(sections, name) for name in _CoreSections.model_fields},
    )
    config.sections  # noqa: B018 - every section is checked now, not by the first command to read it
    return config


def load_pricing(config: ProjectConfig) -> dict[str, float]:
    """`[pricing]`: USD per instance-hour by instance type, for the local cost report.

    Optional like the other sections: no table means every job is "unpriced".
    """
    return config.sections.pricing


def _instance_prices(table: Any) -> Any:
    """Keys may be quoted ("ml.m5.large" = 0.115) or bare; bare TOML keys with dots are
    nested tables, flattened back to the instance type here."""
    if not isinstance(table, Mapping):
        return table  # refused as "must be a table"
    # [pricing.orchestration] holds the orchestrators' prices (pipelines/view/cost.py).
    raw = {key: value for key, value in table.items() if key != ORCHESTRATION_PRICING}
    prices: dict[str, float] = {}
    for instance_type, value in _flatten(raw).items():
        if not instance_type.startswith("ml."):
            raise ValueError(
                f'"{instance_type}" is not a SageMaker instance type ("ml.<family>.<size>", '
                "quoted in TOML)"
            )
        # bool is an int in Python (`true` is not a price); TOML also allows nan and inf.
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 <= value < float("inf")
        ):
            raise ValueError(
                f'"{instance_type}" must be a non-negative number of USD per instance-hour, '
                f"got {value!r}"
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
