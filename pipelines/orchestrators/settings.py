"""`[orchestrator]` from pipeline.toml: what drives the SageMaker pipeline, parsed and validated.

`kind = "pipeline"` (the default): the schedule and data-arrival triggers start the SageMaker
pipeline directly. `kind = "stepfunctions"`: they start the Standard state machine of
`pipelines/orchestrators/stepfunctions.py`, which starts the pipeline, waits for it, deploys an
approved model and notifies on every outcome. The Airflow DAG (`export airflow`) is the third
way, run by Amazon MWAA rather than by this project's deployment.

Errors name the key, e.g. "[orchestrator].kind must be one of "pipeline", "stepfunctions"".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipelines.config import ConfigError, ProjectConfig, Target

KINDS = ("pipeline", "stepfunctions")
# Step Functions state machine names: 1-80 letters, digits, '-' and '_'.
_STATE_MACHINE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
# Airflow DAG ids: letters, digits, '-', '_' and '.', at most 250 characters.
_DAG_ID = re.compile(r"^[A-Za-z0-9_.-]{1,250}$")
# MWAA environment classes (CreateEnvironment EnvironmentClass).
MWAA_CLASSES = ("mw1.micro", "mw1.small", "mw1.medium", "mw1.large", "mw1.xlarge", "mw1.2xlarge")


@dataclass(frozen=True)
class OrchestratorSettings:
    kind: str
    state_machine_name: str
    # Seconds between DescribePipelineExecution calls while the pipeline runs.
    poll_seconds: int
    # The state machine's TimeoutSeconds: a pipeline still running then fails the execution.
    timeout_seconds: int
    notification_topic_arn: str
    dag_id: str
    airflow_conn_id: str
    airflow_retries: int
    airflow_retry_delay_seconds: int
    airflow_max_retry_delay_seconds: int
    # How long the nightly DAG's S3KeySensor waits for data before the run fails.
    airflow_sensor_timeout_seconds: int
    mwaa_environment_class: str


def load_orchestrator(config: ProjectConfig, target: Target | None = None) -> OrchestratorSettings:
    """`[orchestrator]` with defaults; `target` fills the notification topic's ARN default."""
    raw = config.extra.get("orchestrator", {})
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{config.path}: [orchestrator] must be a table")
    known = set(OrchestratorSettings.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{config.path}: unknown key(s) in [orchestrator]: {', '.join(unknown)}")

    def get(key: str, kind: type, default: Any) -> Any:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, kind):
            raise ConfigError(
                f"{config.path}: [orchestrator].{key} must be {kind.__name__}, got {value!r}"
            )
        return value

    def between(key: str, default: int, low: int, high: int) -> int:
        value = get(key, int, default)
        if not low <= value <= high:
            raise ConfigError(
                f"{config.path}: [orchestrator].{key} must be between {low} and {high}, got {value}"
            )
        return value

    def one_of(key: str, default: str, choices: tuple[str, ...]) -> str:
        value = get(key, str, default)
        if value not in choices:
            listed = ", ".join(f'"{choice}"' for choice in choices)
            raise ConfigError(
                f"{config.path}: [orchestrator].{key} must be one of {listed}, got {value!r}"
            )
        return value

    def matching(key: str, default: str, pattern: re.Pattern[str], rule: str) -> str:
        value = get(key, str, "") or default
        if not pattern.match(value):
            raise ConfigError(f"{config.path}: [orchestrator].{key} {value!r} must be {rule}")
        return value

    name = config.pipeline.name
    poll_seconds = between("poll_seconds", 60, 1, 3600)
    # Step Functions Standard executions last at most one year.
    timeout_seconds = between("timeout_seconds", 86400, 60, 31_536_000)
    if timeout_seconds < poll_seconds:
        raise ConfigError(
            f"{config.path}: [orchestrator].timeout_seconds ({timeout_seconds}) must be at least "
            f"poll_seconds ({poll_seconds})"
        )
    retry_delay = between("airflow_retry_delay_seconds", 300, 1, 86400)
    max_retry_delay = between("airflow_max_retry_delay_seconds", 3600, 1, 86400)
    if max_retry_delay < retry_delay:
        raise ConfigError(
            f"{config.path}: [orchestrator].airflow_max_retry_delay_seconds ({max_retry_delay}) "
            f"must be at least airflow_retry_delay_seconds ({retry_delay})"
        )
    topic = get("notification_topic_arn", str, "")
    if topic and (not topic.startswith("arn:") or topic.count(":") != 5):
        raise ConfigError(
            f"{config.path}: [orchestrator].notification_topic_arn {topic!r} is not an SNS "
            "topic ARN"
        )
    if not topic and target is not None:
        from pipelines.arns import arn

        topic = arn("sns", target.region, target.account_id, f"{name}-notifications")
    return OrchestratorSettings(
        kind=one_of("kind", "pipeline", KINDS),
        state_machine_name=matching(
            "state_machine_name",
            f"{name}-orchestrator"[:80],
            _STATE_MACHINE_NAME,
            "1 to 80 letters, digits, '-' or '_' (Step Functions' rule)",
        ),
        poll_seconds=poll_seconds,
        timeout_seconds=timeout_seconds,
        notification_topic_arn=topic,
        dag_id=matching(
            "dag_id", name, _DAG_ID, "letters, digits, '-', '_' or '.' (Airflow's rule)"
        ),
        airflow_conn_id=get("airflow_conn_id", str, "aws_default") or "aws_default",
        airflow_retries=between("airflow_retries", 3, 0, 20),
        airflow_retry_delay_seconds=retry_delay,
        airflow_max_retry_delay_seconds=max_retry_delay,
        airflow_sensor_timeout_seconds=between(
            "airflow_sensor_timeout_seconds", 6 * 3600, 60, 7 * 86400
        ),
        mwaa_environment_class=one_of("mwaa_environment_class", "mw1.small", MWAA_CLASSES),
    )
