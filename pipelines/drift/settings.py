"""`[drift]` from pipeline.toml, validated by pydantic: the drift check's thresholds, data
capture and the endpoint's monitoring.

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
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from pipelines.config import ConfigError, ProjectConfig, Target

# CloudWatch namespaces: 1-255 of these characters, and not AWS's own "AWS/" prefix.
_NAMESPACE = re.compile(r"^[A-Za-z0-9.\-_/#: ]{1,255}$")
RETRAIN_INPUTS = ("capture", "input")
# The variant deploy_model.py creates (and `serve` captures as).
VARIANT = "AllTraffic"


class DriftSettings(BaseModel):
    """[drift]."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    # The drift check's thresholds (processing/data_quality.py; README, "Drift"): passed to
    # the pipeline's DriftCheck and Baseline steps and to the monitoring job as literal
    # arguments (build-time settings, like [quality_gate]).
    psi_threshold: float = 0.2
    psi_moderate: float = 0.1
    alpha: float = 0.01
    psi_min_rows: int = 500
    # Quantile bins per numeric feature in the baseline.
    psi_bins: int = 10

    # Data capture on the deployed endpoint (DataCaptureConfig) and in local `serve`.
    capture_enabled: bool = True
    capture_sampling_percentage: int = 100

    # The endpoint's monitoring job: every monitoring_interval_hours, over the requests of
    # the hours before.
    monitoring_enabled: bool = True
    monitoring_interval_hours: int = 1
    # Empty: "<[pipeline].name>/DataDrift".
    metric_namespace: str = ""
    # The alarm: at least this many features drifted in one monitoring window.
    alarm_drifted_features: int = 1
    # What the alarm starts: a retraining run on the captured windows ("capture": the
    # newest retrain_days days of monitored requests) or on [triggers]' input ("input").
    retrain_on_alarm: bool = True
    retrain_input: str = "capture"
    retrain_days: int = 1

    @field_validator("psi_threshold", "psi_moderate", "alpha", mode="before")
    @classmethod
    def _number(cls, value: object) -> object:
        # strict floats refuse ints; TOML users write 1 for 1.0
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value

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

    @field_validator("psi_min_rows", "alarm_drifted_features", "retrain_days")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value

    @field_validator("psi_bins")
    @classmethod
    def _bins(cls, value: int) -> int:
        if not 2 <= value <= 100:
            raise ValueError("must be between 2 and 100")
        return value

    @field_validator("capture_sampling_percentage")
    @classmethod
    def _percentage(cls, value: int) -> int:
        # DataCaptureConfig.InitialSamplingPercentage: 0 to 100; 0 would capture nothing.
        if not 1 <= value <= 100:
            raise ValueError("must be between 1 and 100 (capture_enabled = false turns it off)")
        return value

    @field_validator("monitoring_interval_hours")
    @classmethod
    def _interval(cls, value: int) -> int:
        # The alarm's period is the interval: CloudWatch allows periods up to a day.
        if not 1 <= value <= 24:
            raise ValueError("must be between 1 and 24")
        return value

    @field_validator("metric_namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if value and (not _NAMESPACE.match(value) or value.startswith("AWS/")):
            raise ValueError(
                "must be 1-255 letters, digits or . - _ / # : and space, not starting with AWS/"
            )
        return value

    @field_validator("retrain_input")
    @classmethod
    def _retrain_input(cls, value: str) -> str:
        if value not in RETRAIN_INPUTS:
            raise ValueError(f"must be one of {', '.join(repr(v) for v in RETRAIN_INPUTS)}")
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
    raw = config.extra.get("drift", {})
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{config.path}: [drift] must be a table")
    try:
        return DriftSettings.model_validate(dict(raw))
    except ValidationError as exc:
        raise ConfigError(f"{config.path}: {_message(exc)}") from None


def _message(exc: ValidationError) -> str:
    error = exc.errors()[0]
    key = ".".join(str(part) for part in error["loc"])
    text = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"unknown key in [drift]: {key}"
    if not key:  # the model validator: its message names the keys
        return f"[drift].{text}"
    if "input" in error and error["type"] != "missing":
        text += f" (got {error['input']!r})"
    return f"[drift].{key} {text}"


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
