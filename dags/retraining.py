"""Amazon MWAA DAGs for the retraining pipeline: the nightly run and the data-arrival run.

Generated configuration beside this file (`<this file's name>.json`, written by
`run_pipeline.py export airflow` from pipeline.toml) says which pipeline to start, where data
lands, the time zone, the SNS topic and the retry settings; this code is the same for every
deployment. Only Airflow and the Amazon provider are needed (both on MWAA).

- `<dag_id>_nightly`: at `0 2 * * *` in the configured time zone, waits for data under the
  input prefix (S3KeySensor), then starts the pipeline on it.
- `<dag_id>_data_arrival`: runs when the input prefix's Asset gets an event (from a producer
  DAG's outlet or the Airflow REST API's asset events), and starts the pipeline on it.

Both start the SageMaker pipeline with SageMakerStartPipelineOperator and wait for it, then
notify the SNS topic when a new model was registered (SnsPublishOperator); any failed task
notifies it too (SnsNotifier). Tasks retry with exponential backoff, except the pipeline start:
a retry would start another execution of a pipeline that failed for a reason (the quality gate
refused the model, a job failed), so it fails at once and is notified; throttled AWS calls are
retried inside the call by botocore's standard retry mode instead.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook
from airflow.providers.amazon.aws.notifications.sns import SnsNotifier
from airflow.providers.amazon.aws.operators.sagemaker import SageMakerStartPipelineOperator
from airflow.providers.amazon.aws.operators.sns import SnsPublishOperator
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Asset, task
from airflow.timetables.trigger import CronTriggerTimetable

CONFIG = json.loads(Path(__file__).with_suffix(".json").read_text(encoding="utf-8"))
# botocore's standard retry mode: throttling and transient errors retried with backoff.
BOTOCORE = {"retries": {"mode": "standard", "max_attempts": CONFIG["api_max_attempts"]}}


def _failure_notifier() -> SnsNotifier:
    return SnsNotifier(
        aws_conn_id=CONFIG["aws_conn_id"],
        target_arn=CONFIG["topic_arn"],
        subject=f"{CONFIG['pipeline_name']}: task failed"[:100],
        message=(
            "{{ dag.dag_id }}: task {{ ti.task_id }} failed in run {{ run_id }} "
            "(try {{ ti.try_number }}); see its log in the Airflow UI."
        ),
        message_attributes={"outcome": "failed", "pipeline": CONFIG["pipeline_name"]},
    )


def _retraining(dag_id: str, schedule, input_data_url: str, wait_for_data: bool) -> DAG:
    default_args = {
        "retries": CONFIG["retries"],
        "retry_delay": timedelta(seconds=CONFIG["retry_delay_seconds"]),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(seconds=CONFIG["max_retry_delay_seconds"]),
        "on_failure_callback": _failure_notifier(),
    }
    with DAG(
        dag_id=dag_id,
        schedule=schedule,
        start_date=pendulum.datetime(2025, 1, 1, tz=CONFIG["timezone"]),
        catchup=False,
        max_active_runs=1,
        default_args=default_args,
        tags=["sagemaker", "retraining"],
        doc_md=__doc__,
    ) as dag:
        start = SageMakerStartPipelineOperator(
            task_id="start_pipeline",
            aws_conn_id=CONFIG["aws_conn_id"],
            botocore_config=BOTOCORE,
            pipeline_name=CONFIG["pipeline_name"],
            pipeline_params={
                "InputDataUrl": input_data_url,
                "InputPartitionWindow": str(CONFIG["input_partition_window"]),
                **CONFIG["pipeline_parameters"],
            },
            wait_for_completion=True,
            check_interval=CONFIG["check_interval_seconds"],
            waiter_max_attempts=CONFIG["waiter_max_attempts"],
            retries=0,
        )

        @task.branch(task_id="registered_or_not")
        def registered_or_not(execution_arn: str) -> str:
            """The registration step runs last when it runs: the newest step says."""
            sagemaker = SageMakerHook(aws_conn_id=CONFIG["aws_conn_id"]).conn
            steps = sagemaker.list_pipeline_execution_steps(
                PipelineExecutionArn=execution_arn, SortOrder="Descending", MaxResults=1
            )["PipelineExecutionSteps"]
            newest = steps[0] if steps else {}
            registered = (
                newest.get("StepName") == CONFIG["register_step"]
                and newest.get("StepStatus") == "Succeeded"
            )
            return "notify_registered" if registered else "no_new_model"

        notify = SnsPublishOperator(
            task_id="notify_registered",
            aws_conn_id=CONFIG["aws_conn_id"],
            botocore_config=BOTOCORE,
            target_arn=CONFIG["topic_arn"],
            subject=f"{CONFIG['pipeline_name']}: new model registered"[:100],
            message=(
                "Pipeline execution {{ ti.xcom_pull(task_ids='start_pipeline') }} registered "
                f"a new model version in {CONFIG['model_package_group']}; it awaits approval "
                "unless the pipeline auto-approves."
            ),
            message_attributes={"outcome": "registered", "pipeline": CONFIG["pipeline_name"]},
        )
        held_back = EmptyOperator(task_id="no_new_model")

        branch = registered_or_not(start.output)
        if wait_for_data:
            data = S3KeySensor(
                task_id="wait_for_data",
                aws_conn_id=CONFIG["aws_conn_id"],
                bucket_name=CONFIG["bucket"],
                bucket_key=f"{CONFIG['input_prefix']}*",
                wildcard_match=True,
                mode="reschedule",
                poke_interval=CONFIG["sensor_poke_seconds"],
                timeout=CONFIG["sensor_timeout_seconds"],
            )
            data >> start
        branch >> [notify, held_back]
    return dag


INPUT = f"s3://{CONFIG['bucket']}/{CONFIG['input_prefix']}"
nightly = _retraining(
    f"{CONFIG['dag_id']}_nightly",
    CronTriggerTimetable(CONFIG["cron"], timezone=CONFIG["timezone"]),
    INPUT,
    wait_for_data=True,
)
data_arrival = _retraining(
    f"{CONFIG['dag_id']}_data_arrival", [Asset(INPUT)], INPUT, wait_for_data=False
)
