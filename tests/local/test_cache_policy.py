"""The cache policy around a step handler: when it looks up, what it reuses, what it
records for later executions."""

from __future__ import annotations

from pathlib import Path

import pytest
from step_harness import make_services, step_run

from pipelines.local.cache import CachingHandler
from pipelines.local.state import State
from pipelines.local.step import Outcome, StepRun, StepServices

OUTPUT = "s3://bucket/out/prep"
ARGUMENTS = {
    "AppSpecification": {"ImageUri": "img"},
    "ProcessingInputs": [
        {"InputName": "data", "S3Input": {"S3Uri": "s3://bucket/data/in.csv"}},
    ],
}
HOUR = 3600.0


class CountingHandler:
    """A processing step whose every run leaves its output in the store."""

    resolve_arguments = True
    job_kind = "processing-job"

    def __init__(self, services: StepServices) -> None:
        self.services = services
        self.runs = 0

    def run(self, run: StepRun) -> Outcome:
        self.runs += 1
        self.services.store.put_bytes(b"rows", f"{OUTPUT}/part.csv")
        properties = {
            "ProcessingJobName": f"job-{self.runs}",
            "ProcessingOutputConfig": {
                "Outputs": [{"OutputName": "out", "S3Output": {"S3Uri": OUTPUT}}]
            },
        }
        return Outcome(properties, job_dir=f"/jobs/{self.runs}", logs=[f"log-{self.runs}"])


@pytest.fixture
def services(tmp_path: Path) -> StepServices:
    services = make_services(tmp_path)
    services.store.put_bytes(b"a,b\n1,2\n", "s3://bucket/data/in.csv")
    return services


def spec(**cache_config) -> dict:
    config = {"Enabled": True, **cache_config}
    return {"Name": "Prep", "Type": "Processing", "CacheConfig": config, "Arguments": ARGUMENTS}


def execute(
    services: StepServices,
    handler: CountingHandler,
    step: dict,
    *,
    execution: str,
    now: float,
    no_cache: bool = False,
) -> StepRun:
    """One execution's run of the step under the policy, at clock time `now`."""
    run = step_run(services, step)
    policy = CachingHandler(
        handler,
        state=State(services.state_db),
        store=services.store,
        pipeline_name="p",
        execution_id=execution,
        execution_arn=f"arn/{execution}",
        no_cache=no_cache,
        clock=lambda: now,
    )
    outcome = policy.run(run)
    run.record.properties = outcome.properties
    run.record.metadata.update(outcome.metadata)
    return run


def test_a_hit_reuses_the_earlier_run_without_running_the_step(
    services: StepServices,
) -> None:
    handler = CountingHandler(services)
    execute(services, handler, spec(), execution="first", now=1000.0)
    again = execute(services, handler, spec(), execution="second", now=2000.0)
    assert handler.runs == 1
    assert again.record.cache_source_id == "first"
    assert again.record.cache_source_arn == "arn/first"
    assert again.record.job_name == "job-1" and again.record.attempts == 0
    assert again.record.properties["ProcessingJobName"] == "job-1"
    assert "CacheKey" in again.record.metadata


def test_an_entry_older_than_expire_after_is_not_reused(services: StepServices) -> None:
    handler = CountingHandler(services)
    execute(services, handler, spec(ExpireAfter="PT1H"), execution="first", now=0.0)
    within = execute(services, handler, spec(ExpireAfter="PT1H"), execution="b", now=HOUR - 1)
    assert handler.runs == 1 and within.record.cache_source_id == "first"
    expired = execute(services, handler, spec(ExpireAfter="PT1H"), execution="c", now=HOUR + 1)
    assert handler.runs == 2 and expired.record.cache_source_id is None
    # Without ExpireAfter an entry does not expire.
    later = execute(services, handler, spec(), execution="d", now=HOUR * 24 * 365)
    assert handler.runs == 2 and later.record.cache_source_id == "c"


def test_cache_config_enabled_false_neither_looks_up_nor_records(
    services: StepServices,
) -> None:
    handler = CountingHandler(services)
    execute(services, handler, spec(), execution="first", now=1000.0)
    disabled = execute(services, handler, spec(Enabled=False), execution="b", now=2000.0)
    assert handler.runs == 2
    assert disabled.record.cache_source_id is None and "CacheKey" not in disabled.record.metadata
    without = {k: v for k, v in spec().items() if k != "CacheConfig"}
    execute(services, handler, without, execution="c", now=2500.0)
    assert handler.runs == 3
    # Neither disabled run was recorded: the enabled step still reuses the first.
    enabled = execute(services, handler, spec(), execution="d", now=3000.0)
    assert handler.runs == 3 and enabled.record.cache_source_id == "first"


def test_no_cache_runs_the_step_and_records_it_for_later_runs(services: StepServices) -> None:
    handler = CountingHandler(services)
    execute(services, handler, spec(), execution="first", now=1000.0)
    fresh = execute(services, handler, spec(), execution="forced", now=2000.0, no_cache=True)
    assert handler.runs == 2 and fresh.record.cache_source_id is None
    assert fresh.record.properties["ProcessingJobName"] == "job-2"
    later = execute(services, handler, spec(), execution="later", now=3000.0)
    assert handler.runs == 2
    assert later.record.cache_source_id == "forced"  # the --no-cache run's, the newest
    assert later.record.properties["ProcessingJobName"] == "job-2"


def test_a_hit_on_changed_input_content_says_so(services: StepServices) -> None:
    handler = CountingHandler(services)
    execute(services, handler, spec(), execution="first", now=1000.0)
    services.store.put_bytes(b"a,b\n3,4\n", "s3://bucket/data/in.csv")
    hit = execute(services, handler, spec(), execution="second", now=2000.0)
    assert handler.runs == 1 and hit.record.cache_source_id == "first"
    warning = hit.record.metadata["CacheWarning"]
    assert warning["ChangedInputs"] == ["s3://bucket/data/in.csv"]
    assert "reused execution first's result although s3://bucket/data/in.csv" in warning["Message"]


def test_steps_sagemaker_does_not_cache_pass_straight_through(services: StepServices) -> None:
    handler = CountingHandler(services)
    condition = {**spec(), "Type": "Condition"}
    execute(services, handler, condition, execution="first", now=1000.0)
    execute(services, handler, condition, execution="second", now=2000.0)
    assert handler.runs == 2
