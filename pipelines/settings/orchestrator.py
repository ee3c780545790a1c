"""`[orchestrator]` from pipeline.toml: what drives the SageMaker pipeline, validated by pydantic
when the configuration loads.

`kind = "pipeline"` (the default): the schedule and data-arrival triggers start the SageMaker
pipeline directly. `kind = "stepfunctions"`: they start the Standard state machine of
`pipelines/orchestrators/stepfunctions.py`, which starts the pipeline, waits for it, deploys an
approved model and notifies on every outcome. The Airflow DAG (`export airflow`) is the third
way, run by Amazon MWAA rather than by this project's deployment.

Errors name the key, e.g. "[orchestrator].kind must be one of "pipeline", "stepfunctions"".
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

from pydantic import Field, ValidationInfo, field_validator, model_validator

from pipelines.arns import arn
from pipelines.config_fields import Section, between, one_of, project

if TYPE_CHECKING:
    from pipelines.config import ProjectConfig, Target

KINDS = ("pipeline", "stepfunctions")
# Step Functions state machine names: 1-80 letters, digits, '-' and '_'.
_STATE_MACHINE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
# Airflow DAG ids: letters, digits, '-', '_' and '.', at most 250 characters.
_DAG_ID = re.compile(r"^[A-Za-z0-9_.-]{1,250}$")
# MWAA environment classes (CreateEnvironment EnvironmentClass).
MWAA_CLASSES = ("mw1.micro", "mw1.small", "mw1.medium", "mw1.large", "mw1.xlarge", "mw1.2xlarge")


class OrchestratorSettings(Section):
    kind: Annotated[str, one_of(KINDS)] = "pipeline"
    # Empty in pipeline.toml: "<[pipeline].name>-orchestrator".
    state_machine_name: str = Field(default="", validate_default=True)
    # Seconds between DescribePipelineExecution calls while the pipeline runs.
    poll_seconds: Annotated[int, between(1, 3600)] = 60
    # The state machine's TimeoutSeconds: a pipeline still running then fails the execution.
    # Step Functions Standard executions last at most one year.
    timeout_seconds: Annotated[int, between(60, 31_536_000)] = 86400
    # Empty: the project's topic in the target's account (load_orchestrator fills it in).
    notification_topic_arn: str = ""
    # Empty in pipeline.toml: [pipeline].name.
    dag_id: str = Field(default="", validate_default=True)
    airflow_conn_id: str = "aws_default"
    airflow_retries: Annotated[int, between(0, 20)] = 3
    airflow_retry_delay_seconds: Annotated[int, between(1, 86400)] = 300
    airflow_max_retry_delay_seconds: Annotated[int, between(1, 86400)] = 3600
    # How long the nightly DAG's S3KeySensor waits for data before the run fails.
    airflow_sensor_timeout_seconds: Annotated[int, between(60, 7 * 86400)] = 6 * 3600
    mwaa_environment_class: Annotated[str, one_of(MWAA_CLASSES)] = "mw1.small"

    @field_validator("state_machine_name")
    @classmethod
    def _state_machine_name(cls, value: str, info: ValidationInfo) -> str:
        config = project(info)
        value = value or (f"{config.pipeline.name}-orchestrator"[:80] if config else "")
        if value and not _STATE_MACHINE_NAME.match(value):
            raise ValueError(
                f"{value!r} must be 1 to 80 letters, digits, '-' or '_' (Step Functions' rule)"
            )
        return value

    @field_validator("dag_id")
    @classmethod
    def _dag_id(cls, value: str, info: ValidationInfo) -> str:
        config = project(info)
        value = value or (config.pipeline.name if config else "")
        if value and not _DAG_ID.match(value):
            raise ValueError(f"{value!r} must be letters, digits, '-', '_' or '.' (Airflow's rule)")
        return value

    @field_validator("airflow_conn_id")
    @classmethod
    def _conn_id(cls, value: str) -> str:
        return value or "aws_default"

    @field_validator("notification_topic_arn")
    @classmethod
    def _topic(cls, value: str) -> str:
        if value and (not value.startswith("arn:") or value.count(":") != 5):
            raise ValueError(f"{value!r} is not an SNS topic ARN")
        return value

    @model_validator(mode="after")
    def _waits(self) -> OrchestratorSettings:
        if self.timeout_seconds < self.poll_seconds:
            raise ValueError(
                f"timeout_seconds ({self.timeout_seconds}) must be at least poll_seconds "
                f"({self.poll_seconds})"
            )
        if self.airflow_max_retry_delay_seconds < self.airflow_retry_delay_seconds:
            raise ValueError(
                f"airflow_max_retry_delay_seconds ({self.airflow_max_retry_delay_seconds}) "
                f"must be at least airflow_retry_delay_seconds "
                f"({self.airflow_retry_delay_seconds})"
            )
        return self


def load_orchestrator(config: ProjectConfig, target: Target | None = None) -> OrchestratorSettings:
    """`[orchestrator]` with defaults; `target` fills the notification topic's ARN default."""
    settings = config.sections.orchestrator
    if settings.notification_topic_arn or target is None:
        return settings
    topic = arn("sns", target.region, target.account_id, f"{config.pipeline.name}-notifications")
    return settings.model_copy(update={"notification_topic_arn": topic})
