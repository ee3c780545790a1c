"""`[stack]` and `[dr]` from pipeline.toml, validated by pydantic when the configuration loads
(`[orchestrator]` is `pipelines.settings.orchestrator`'s).

Both sections are optional. Errors name the key, e.g.
"[dr].storage_class must be one of "STANDARD", ..., got 'COLD'".
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pipelines import arns
from pipelines.config_fields import SECTION, one_of, project
from pipelines.settings.orchestrator import OrchestratorSettings, load_orchestrator

if TYPE_CHECKING:
    from pipelines.config import ProjectConfig

# CloudFormation stack names: a letter, then letters, digits and hyphens, 128 at most.
_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
# S3 bucket names (general purpose buckets), without the rarely valid dotted forms.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,64}$")


def _role_arn(value: str) -> str:
    if value and not _ROLE_ARN.match(value):
        raise ValueError("must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
    return value


# Empty: the [aws] role.
RoleArn = Annotated[str, AfterValidator(_role_arn)]
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
    model_config = SECTION


class StackSettings(_Section):
    """[stack]: the CloudFormation stack that holds the project on AWS."""

    # Empty: [pipeline].name.
    name: str = ""
    # SageMaker Projects: set both (Studio shows the project's ID) to tag the stack and
    # every resource with sagemaker:project-name / sagemaker:project-id.
    sagemaker_project_name: str = ""
    sagemaker_project_id: str = ""
    # The service role CloudFormation deploys with (empty: the caller's own permissions).
    role_arn: RoleArn = ""
    log_retention_days: Annotated[int, one_of(LOG_RETENTION_DAYS)] = 30

    @field_validator("name")
    @classmethod
    def _stack_name(cls, value: str) -> str:
        if value and not _STACK_NAME.match(value):
            raise ValueError(
                "must start with a letter and hold only letters, digits and hyphens (128 at most)"
            )
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
    storage_class: Annotated[str, one_of(STORAGE_CLASSES)] = "STANDARD"
    # The SageMaker execution role in the DR region (IAM is global; empty: [aws].role_arn).
    role_arn: RoleArn = ""
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

    @property
    def enabled(self) -> bool:
        return bool(self.region)

    @model_validator(mode="after")
    def _replica_elsewhere(self, info: ValidationInfo) -> DrSettings:
        if not self.enabled:
            if self.bucket or self.prefixes:
                raise ValueError("region is required when [dr] names a bucket or prefixes")
            return self
        if not self.bucket:
            raise ValueError("bucket is required with [dr].region (the replica bucket's name)")
        config = project(info)
        if config is None:
            return self
        primary = config.aws.region
        if self.region == primary:
            raise ValueError(
                f"region {self.region!r} is the primary region ([aws].region): a replica must "
                "live in another region to survive a regional outage"
            )
        if arns.partition(self.region) != arns.partition(primary):
            raise ValueError(
                f"region {self.region!r} is in another partition than {primary!r}: S3 "
                "replicates within a partition only"
            )
        if config.aws.bucket and self.bucket == config.aws.bucket:
            raise ValueError("bucket must differ from [aws].bucket")
        return self


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    stack: StackSettings = Field(default_factory=StackSettings)
    dr: DrSettings = Field(default_factory=DrSettings)
    orchestrator: OrchestratorSettings


def load_stack_settings(config: ProjectConfig) -> Settings:
    sections = config.sections
    return Settings(stack=sections.stack, dr=sections.dr, orchestrator=load_orchestrator(config))
