"""`[drift]` from pipeline.toml, validated by pydantic when the configuration loads: the drift
check's thresholds, data capture and the endpoint's monitoring.

Every key has a default, so the section is optional. Errors name the key, e.g.
"[drift].psi_moderate 0.3 is above psi_threshold 0.2".

Where the loop keeps its files (under the pipeline's bucket and `[pipeline].s3_prefix`):

  <prefix>/capture/<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl   captured requests (SageMaker's
                                                               data capture layout)
  <prefix>/monitoring/<endpoint>/baseline/   the deployed model's statistics.json and
                                             constraints.json (copied there on deployment)
  <prefix>/monitoring/<endpoint>/reports/    each monitoring job's drift report and metrics
  <prefix>/monitoring/<endpoint>/windows/yyyy/mm/dd/   each window's rows as CSV (retraining input)
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, field_validator, model_validator

from pipelines.config_fields import SECTION, at_least, between, one_of

if TYPE_CHECKING:
    from pipelines.config import ProjectConfig, Target

# CloudWatch namespaces: 1-255 of these characters, and not AWS's own "AWS/" prefix.
_NAMESPACE = re.compile(r"^[A-Za-z0-9.\-_/#: ]{1,255}$")
RETRAIN_INPUTS = ("capture", "input")
# The variant deploy_model.py creates (and `serve` captures as).
VARIANT = "AllTraffic"


class DriftSettings(BaseModel):
    """[drift]."""

    model_config = SECTION

    # The drift check's thresholds (processing/data_quality.py; README, "Drift"): passed to
    # the pipeline's DriftCheck and Baseline steps and to the monitoring job as literal
    # arguments (build-time settings, like [quality_gate]).
    psi_threshold: float = 0.2
    psi_moderate: float = 0.1
    alpha: float = 0.01
    psi_min_rows: Annotated[int, at_least(1)] = 500
    # Quantile bins per numeric feature in the baseline.
    psi_bins: Annotated[int, between(2, 100)] = 10

    # Data capture on the deployed endpoint (DataCaptureConfig) and in local `serve`.
    capture_enabled: bool = True
    # DataCaptureConfig.InitialSamplingPercentage: 0 to 100; 0 would capture nothing
    # (capture_enabled = false turns capture off).
    capture_sampling_percentage: Annotated[int, between(1, 100)] = 100

    # The endpoint's monitoring job: every monitoring_interval_hours, over the requests of
    # the hours before.
    monitoring_enabled: bool = True
    # The alarm's period is the interval: CloudWatch allows periods up to a day.
    monitoring_interval_hours: Annotated[int, between(1, 24)] = 1
    # Empty: "<[pipeline].name>/DataDrift".
    metric_namespace: str = ""
    # The alarm: at least this many features drifted in one monitoring window.
    alarm_drifted_features: Annotated[int, at_least(1)] = 1
    # What the alarm starts: a retraining run on the captured windows ("capture": the
    # newest retrain_days days of monitored requests) or on [triggers]' input ("input").
    retrain_on_alarm: bool = True
    retrain_input: Annotated[str, one_of(RETRAIN_INPUTS)] = "capture"
    retrain_days: Annotated[int, at_least(1)] = 1

    @field_validator("psi_threshold", "psi_moderate")
    @classmethod
    def _positive(cls, value: float) -> float:
        if not value > 0:
            raise ValueError("must be above 0")
        return value

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, value: float) -> float:
        if not 0 <= value < 1:
            raise ValueError("must be at least 0 and below 1 (0 turns the tests off)")
        return value

    @field_validator("metric_namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if value and (not _NAMESPACE.match(value) or value.startswith("AWS/")):
            raise ValueError(
                "must be 1-255 letters, digits or . - _ / # : and space, not starting with AWS/"
            )
        return value

    @model_validator(mode="after")
    def _levels(self) -> DriftSettings:
        if self.psi_moderate > self.psi_threshold:
            raise ValueError(
                f"psi_moderate {self.psi_moderate} is above psi_threshold {self.psi_threshold}: "
                "a moderate shift must be smaller than a significant one"
            )
        return self

    def threshold_arguments(self) -> dict[str, str]:
        """The thresholds as data_quality.py arguments (literal strings in a job request)."""
        return {
            "--psi-threshold": str(self.psi_threshold),
            "--psi-moderate": str(self.psi_moderate),
            "--alpha": str(self.alpha),
            "--psi-min-rows": str(self.psi_min_rows),
        }


def load_drift(config: ProjectConfig) -> DriftSettings:
    return config.sections.drift


def metric_namespace(config: ProjectConfig, settings: DriftSettings) -> str:
    return settings.metric_namespace or f"{config.pipeline.name}/DataDrift"


def capture_uri(config: ProjectConfig, target: Target) -> str:
    """DataCaptureConfig.DestinationS3Uri: SageMaker adds <endpoint>/<variant>/yyyy/mm/dd/hh/."""
    return f"s3://{target.bucket}/{config.pipeline.s3_prefix}/capture"


def endpoint_capture_uri(config: ProjectConfig, target: Target, endpoint: str) -> str:
    return f"{capture_uri(config, target)}/{endpoint}/"


def monitoring_uri(config: ProjectConfig, target: Target, endpoint: str, part: str) -> str:
    """`baseline`, `reports` or `windows` of an endpoint's monitoring, as an S3 prefix."""
    return f"s3://{target.bucket}/{config.pipeline.s3_prefix}/monitoring/{endpoint}/{part}/"
