"""`[stack]` and `[dr]` from pipeline.toml, validated by pydantic (`[orchestrator]` is
`pipelines.orchestrators.settings`'s).

Both sections are optional. Errors name the key, e.g.
"[dr].storage_class must be one of 'STANDARD', ... (got 'COLD')".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipelines import arns
from pipelines.config import ConfigError, ProjectConfig
from pipelines.orchestrators.settings import OrchestratorSettings, load_orchestrator

# CloudFormation stack names: a letter, then letters, digits and hyphens, 128 at most.
_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
# S3 bucket names (general purpose buckets), without the rarely valid dotted forms.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,64}$")
# What S3 replication may write replicas as (PutBucketReplication's Destination.StorageClass).
STORAGE_CLASSES = (
    "STANDARD",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
)
# CloudWatch Logs' allowed retention periods (days).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class StackSettings(_Section):
    """[stack]: the CloudFormation stack that holds the project on AWS."""

    # Empty: [pipeline].name.
    name: str = ""
    # SageMaker Projects: set both (Studio shows the project's ID) to tag the stack and
    # every resource with sagemaker:project-name / sagemaker:project-id.
    sagemaker_project_name: str = ""
    sagemaker_project_id: str = ""
    # The service role CloudFormation deploys with (empty: the caller's own permissions).
    role_arn: str = ""
    log_retention_days: int = 30

    @field_validator("name")
    @classmethod
    def _stack_name(cls, value: str) -> str:
        if value and not _STACK_NAME.match(value):
            raise ValueError(
                "must start with a letter and hold only letters, digits and hyphens (128 at most)"
            )
        return value

    @field_validator("role_arn")
    @classmethod
    def _role(cls, value: str) -> str:
        if value and not _ROLE_ARN.match(value):
            raise ValueError("must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"must be one of CloudWatch Logs' periods {LOG_RETENTION_DAYS}")
        return value

    @property
    def in_sagemaker_project(self) -> bool:
        return bool(self.sagemaker_project_name and self.sagemaker_project_id)


class DrSettings(_Section):
    """[dr]: cross-region replication of the artifacts bucket's model and data prefixes."""

    # Empty: no disaster recovery (nothing is replicated).
    region: str = ""
    # The replica bucket, created by the `<stack>-dr` stack in `region`.
    bucket: str = ""
    # Key prefixes replicated; empty: the models (<s3_prefix>/executions/), the input
    # snapshots (<s3_prefix>/snapshots/), the sample (<s3_prefix>/data/) and the
    # [triggers].input_prefix.
    prefixes: tuple[str, ...] = ()
    storage_class: str = "STANDARD"
    # The SageMaker execution role in the DR region (IAM is global; empty: [aws].role_arn).
    role_arn: str = ""
    # Where `dr restore --deploy` serves the restored model; empty: [deployment].endpoint_name.
    endpoint_name: str = ""

    @field_validator("prefixes", mode="before")
    @classmethod
    def _as_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("prefixes")
    @classmethod
    def _prefixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for prefix in value:
            if not prefix or prefix.startswith(("/", "s3://")):
                raise ValueError(
                    f"{prefix!r} is not a key prefix inside the bucket (no leading '/' or s3://)"
                )
        return value

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if value and not _BUCKET_NAME.match(value):
            raise ValueError("is not an S3 bucket name (3-63 lower-case letters, digits, hyphens)")
        return value

    @field_validator("storage_class")
    @classmethod
    def _storage(cls, value: str) -> str:
        if value not in STORAGE_CLASSES:
            raise ValueError(f"must be one of {', '.join(STORAGE_CLASSES)}")
        return value

    @field_validator("role_arn")
    @classmethod
    def _role(cls, value: str) -> str:
        if value and not _ROLE_ARN.match(value):
            raise ValueError("must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
        return value

    @property
    def enabled(self) -> bool:
        return bool(self.region)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    stack: StackSettings = Field(default_factory=StackSettings)
    dr: DrSettings = Field(default_factory=DrSettings)
    orchestrator: OrchestratorSettings


def load_stack_settings(config: ProjectConfig) -> Settings:
    sections = {}
    for name, model in (
        ("stack", StackSettings),
        ("dr", DrSettings),
    ):
        raw = config.extra.get(name, {})
        if not isinstance(raw, Mapping):
            raise ConfigError(f"[{name}] must be a table")
        try:
            sections[name] = model.model_validate(dict(raw))
        except ValidationError as exc:
            raise ConfigError(_message(name, exc)) from None
    settings = Settings(**sections, orchestrator=load_orchestrator(config))
    _check_dr(config, settings.dr)
    return settings


def _message(section: str, exc: ValidationError) -> str:
    error = exc.errors()[0]
    key = ".".join(str(part) for part in error["loc"]) or "?"
    if error["type"] == "extra_forbidden":
        return f"unknown key in [{section}]: {key}"
    text = error["msg"].removeprefix("Value error, ")
    if "input" in error and error["type"] != "missing":
        text += f" (got {error['input']!r})"
    return f"[{section}].{key}: {text}"


def _check_dr(config: ProjectConfig, dr: DrSettings) -> None:
    if not dr.enabled:
        if dr.bucket or dr.prefixes:
            raise ConfigError("[dr].region is required when [dr] names a bucket or prefixes")
        return
    if dr.region == config.aws.region:
        raise ConfigError(
            f"[dr].region {dr.region!r} is the primary region ([aws].region): a replica must "
            "live in another region to survive a regional outage"
        )
    if arns.partition(dr.region) != arns.partition(config.aws.region):
        raise ConfigError(
            f"[dr].region {dr.region!r} is in another partition than {config.aws.region!r}: S3 "
            "replicates within a partition only"
        )
    if not dr.bucket:
        raise ConfigError("[dr].bucket is required with [dr].region (the replica bucket's name)")
    if config.aws.bucket and dr.bucket == config.aws.bucket:
        raise ConfigError("[dr].bucket must differ from [aws].bucket")
