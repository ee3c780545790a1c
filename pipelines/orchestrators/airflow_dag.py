"""The MWAA DAG's configuration, from pipeline.toml, and the files `export airflow` writes.

The DAG itself is `dags/retraining.py`: real code, linted and tested, identical for every
deployment. What differs (pipeline, bucket, input prefix, time zone, topic, retries) is data,
written beside it as `<dag file>.json`, so no copy of the code is ever edited by hand.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipelines.config import PROJECT_ROOT, ProjectConfig, Target
from pipelines.orchestrators.stepfunctions import registration_step
from pipelines.settings.orchestrator import load_orchestrator
from pipelines.settings.triggers import load_settings

DAG_SOURCE = PROJECT_ROOT / "dags" / "retraining.py"
# The newest Airflow version Amazon MWAA runs (the newest AirflowVersion in botocore's MWAA
# model, CreateEnvironment: "2.7.2, ..., 2.11.0, and 3.0.6") and the provider pinned with it.
AIRFLOW_VERSION = "3.0.6"
AMAZON_PROVIDER = "apache-airflow-providers-amazon==9.39.0"
# botocore's standard retry mode: attempts per AWS call before the task fails.
API_MAX_ATTEMPTS = 10


def dag_config(
    config: ProjectConfig, target: Target, definition: Mapping[str, Any]
) -> dict[str, Any]:
    """Everything dags/retraining.py reads, as JSON values."""
    settings = load_orchestrator(config, target)
    triggers = load_settings(config).triggers
    input_prefix = triggers.input_prefix or f"{config.pipeline.s3_prefix}/incoming/"
    return {
        "dag_id": settings.dag_id,
        "pipeline_name": config.pipeline.name,
        "model_package_group": config.pipeline.model_package_group,
        "register_step": registration_step(definition),
        "bucket": target.bucket,
        "input_prefix": input_prefix,
        "input_partition_window": triggers.input_partition_window,
        "pipeline_parameters": {k: str(v) for k, v in triggers.schedule_parameters.items()},
        "cron": triggers.local_cron,
        "timezone": triggers.timezone,
        "topic_arn": settings.notification_topic_arn,
        "aws_conn_id": settings.airflow_conn_id,
        "retries": settings.airflow_retries,
        "retry_delay_seconds": settings.airflow_retry_delay_seconds,
        "max_retry_delay_seconds": settings.airflow_max_retry_delay_seconds,
        "api_max_attempts": API_MAX_ATTEMPTS,
        "check_interval_seconds": settings.poll_seconds,
        "waiter_max_attempts": max(1, settings.timeout_seconds // settings.poll_seconds),
        "sensor_poke_seconds": min(300, settings.airflow_sensor_timeout_seconds),
        "sensor_timeout_seconds": settings.airflow_sensor_timeout_seconds,
    }


def write_dag(
    folder: Path, config: ProjectConfig, target: Target, definition: Mapping[str, Any]
) -> list[Path]:
    """The DAG file, its configuration and MWAA's requirements.txt, into `folder` (the
    environment's dags/ prefix in S3 takes the first two; requirements.txt goes where the
    environment's RequirementsS3Path points)."""
    settings = load_orchestrator(config, target)
    folder.mkdir(parents=True, exist_ok=True)
    name = settings.dag_id.replace("-", "_").replace(".", "_")
    dag = folder / f"{name}.py"
    shutil.copyfile(DAG_SOURCE, dag)
    data = dag.with_suffix(".json")
    data.write_text(
        json.dumps(dag_config(config, target, definition), indent=2) + "\n", encoding="utf-8"
    )
    requirements = folder / "requirements.txt"
    requirements.write_text(
        "# Amazon MWAA "
        + AIRFLOW_VERSION
        + " runs Airflow itself; with the environment's own --constraint, a newer provider\n"
        "# than its constraints name needs the constraints file edited (MWAA documents how).\n"
        + AMAZON_PROVIDER
        + "\n",
        encoding="utf-8",
    )
    return [dag, data, requirements]
