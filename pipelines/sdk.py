"""The SageMaker Python SDK v3, loaded so that building a definition stays offline.

Importing the SDK has side effects this project must not inherit:
- a module creates a boto3 client at import time, which needs a region and would ask the
  EC2 instance-metadata service for credentials (a network call) when none are configured;
- another module calls `logging.basicConfig`, which would reconfigure our CLI's root logger.
So the SDK is imported here, once, inside `offline_environment()`, and the root logger is
put back afterwards. Every other module takes SDK names from this one.

Building is offline as well: `OfflinePipelineSession` answers `default_bucket()` from the
configuration instead of checking (or creating) the bucket, telemetry is opted out through
the session's SDK config, and role validation (an IAM simulation call) is switched off.

The SDK's own config.yaml defaults (VPC, KMS keys, tags, ...: pipelines/sdk_defaults.py)
reach the definition as they would with the SDK alone: the session carries them and the
processing jobs take them from it. SDK v3's ModelTrainer looks most of its TrainingJob
defaults up without the session, so `training_job_defaults` hands them to it explicitly.
Values the project sets itself (role, instance types, output paths) win, as explicit
arguments do in the SDK. The one value forced is TelemetryOptOut (building is offline).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

# The SDK config loader's own libraries (sagemaker depends on both): their errors are its.
import jsonschema
import yaml

from pipelines import sdk_defaults
from pipelines.config import ConfigError

# Region used only while importing: the SDK builds a throwaway client at import time.
_IMPORT_REGION = "us-east-1"

_OFFLINE_ENV = {
    # Without credentials botocore would query the instance-metadata endpoint.
    "AWS_EC2_METADATA_DISABLED": "true",
    # The SDK validates roles with iam:SimulatePrincipalPolicy unless told not to.
    "SAGEMAKER_VALIDATE_ROLE": "false",
}


@contextmanager
def offline_environment(region: str | None = None) -> Iterator[None]:
    """Environment, logging and warning settings under which the SDK makes no network call."""
    root = logging.getLogger()
    saved_root = (list(root.handlers), root.level)
    sdk_logger = logging.getLogger("sagemaker")
    saved_sdk_level = sdk_logger.level
    overrides: dict[str, str | None] = dict(_OFFLINE_ENV)
    # botocore reads AWS_DEFAULT_REGION only; AWS_REGION (what the AWS CLI v2, the other SDKs
    # and this project's README use) must reach the clients the SDK builds at import time.
    overrides["AWS_DEFAULT_REGION"] = (
        region
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or _IMPORT_REGION
    )
    # Building signs nothing: a profile this machine does not have (AWS_PROFILE from a
    # deployment shell, CI) must not fail an offline build with ProfileNotFound.
    overrides.update(AWS_PROFILE=None, AWS_DEFAULT_PROFILE=None)
    saved_env = {key: os.environ.get(key) for key in overrides}
    for key, value in overrides.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    # The SDK reports expected behaviour (fields popped from the definition, "no wait under
    # PipelineSession") as warnings; they say nothing actionable about our definition.
    sdk_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"sagemaker(\.|$)")
            warnings.filterwarnings("ignore", category=UserWarning, message=".*PipelineSession.*")
            yield
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        root.handlers[:] = saved_root[0]
        root.setLevel(saved_root[1])
        sdk_logger.setLevel(saved_sdk_level)


with offline_environment():
    from sagemaker.core import image_uris
    from sagemaker.core.config.config import load_sagemaker_config
    from sagemaker.core.config.config_manager import SageMakerConfig
    from sagemaker.core.drift_check_baselines import DriftCheckBaselines
    from sagemaker.core.lambda_helper import Lambda
    from sagemaker.core.model_metrics import MetricsSource, ModelMetrics
    from sagemaker.core.processing import ScriptProcessor
    from sagemaker.core.shapes import (
        OutputDataConfig,
        ProcessingInput,
        ProcessingOutput,
        ProcessingS3Input,
        ProcessingS3Output,
        StoppingCondition,
        Tag,
    )
    from sagemaker.core.workflow.conditions import (
        ConditionEquals,
        ConditionGreaterThanOrEqualTo,
        ConditionLessThanOrEqualTo,
        ConditionNot,
        ConditionOr,
    )
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join, JsonGet
    from sagemaker.core.workflow.parameters import (
        ParameterBoolean,
        ParameterFloat,
        ParameterInteger,
        ParameterString,
    )
    from sagemaker.core.workflow.pipeline_context import PipelineSession
    from sagemaker.core.workflow.properties import PropertyFile
    from sagemaker.mlops.workflow.condition_step import ConditionStep
    from sagemaker.mlops.workflow.fail_step import FailStep
    from sagemaker.mlops.workflow.lambda_step import LambdaOutput, LambdaOutputTypeEnum, LambdaStep
    from sagemaker.mlops.workflow.model_step import ModelStep
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker.mlops.workflow.retry import (
        SageMakerJobExceptionTypeEnum,
        SageMakerJobStepRetryPolicy,
        StepExceptionTypeEnum,
        StepRetryPolicy,
    )
    from sagemaker.mlops.workflow.steps import CacheConfig, ProcessingStep, TrainingStep
    from sagemaker.serve.model_builder import ModelBuilder
    from sagemaker.train import ModelTrainer
    from sagemaker.train.configs import Compute, InputData, Networking


def _validate_each_config_once() -> None:
    """Make the SDK validate a given config content once per process, not on every lookup.

    SDK v3 validates the whole config against its JSON schema on every config lookup
    (`SageMakerConfig.validate_sagemaker_config`, public, called by `get_sagemaker_config_value`
    about 70 times per build), and `jsonschema.validate` re-checks the schema itself each time:
    measured with cProfile, 90% of a build (6 to 7 CPU s of about 7). A content that passed
    passes again, so a content already validated is not validated again; any other content
    (a user's config.yaml, a changed dict) is validated as before and a refusal still raises
    the SDK's own `jsonschema.ValidationError`."""
    validate = SageMakerConfig.validate_sagemaker_config
    if getattr(validate, "validates_once", False):
        return
    validated: set[str] = set()

    def validate_once(sagemaker_config: dict | None = None) -> None:
        key = json.dumps(sagemaker_config, sort_keys=True, default=repr)
        if key not in validated:
            validate(sagemaker_config)
            validated.add(key)

    validate_once.validates_once = True  # type: ignore[attr-defined]
    SageMakerConfig.validate_sagemaker_config = staticmethod(validate_once)


_validate_each_config_once()


class OfflinePipelineSession(PipelineSession):
    """A PipelineSession whose default bucket is configuration, not an S3 lookup.

    `Session.default_bucket()` checks that the bucket exists (and may create it); the
    definition only needs its name, and uploads happen separately (`stack deploy`).
    """

    def __init__(self, region: str, bucket: str):
        # No credentials on purpose: nothing signed is ever sent while building.
        boto_session = boto3.Session(region_name=region)
        super().__init__(
            boto_session=boto_session, default_bucket=bucket, sagemaker_config=sdk_config()
        )
        self._configured_bucket = bucket

    def default_bucket(self) -> str:
        return self._configured_bucket


def sdk_config() -> dict[str, Any]:
    """The SDK config a build uses: the SDK's config.yaml files unless opted out
    (PIPELINE_SDK_DEFAULTS=ignore), with telemetry opted out."""
    config: dict[str, Any] = {"SchemaVersion": "1.0"}
    if sdk_defaults.honoured():
        try:
            with offline_environment():
                config = copy.deepcopy(load_sagemaker_config()) or config
        # The loader's own refusals: a named file missing, YAML it cannot parse, a document
        # its schema rejects.
        except (ValueError, yaml.YAMLError, jsonschema.ValidationError) as exc:
            detail = exc.message if isinstance(exc, jsonschema.ValidationError) else exc
            raise ConfigError(
                f"SageMaker SDK config ({' then '.join(sdk_defaults.sources())}): {detail} "
                f"({sdk_defaults.IGNORE_VARIABLE}={sdk_defaults.IGNORE_VALUE} builds without it)"
            ) from exc
    modules = config.setdefault("SageMaker", {}).setdefault("PythonSDK", {})
    modules.setdefault("Modules", {})["TelemetryOptOut"] = True
    return config


def sdk_config_value(path: str, config: dict[str, Any] | None = None) -> Any:
    """The value at a dotted path ("SageMaker.Pipeline.Tags") of `sdk_config()`, or None."""
    node: Any = sdk_config() if config is None else config
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return copy.deepcopy(node)


@dataclass(frozen=True)
class TrainingJobDefaults:
    """SageMaker.TrainingJob defaults of the SDK config, as ModelTrainer arguments."""

    networking: Networking | None = None
    volume_kms_key_id: str | None = None
    output_kms_key_id: str | None = None
    tags: list[Tag] | None = None


def training_job_defaults(session: PipelineSession) -> TrainingJobDefaults:
    config = session.sagemaker_config or {}

    def value(path: str) -> Any:
        return sdk_config_value(f"SageMaker.TrainingJob.{path}", config)

    vpc = value("VpcConfig") or {}
    isolation = value("EnableNetworkIsolation")
    encryption = value("EnableInterContainerTrafficEncryption")
    networking = None
    if vpc or isolation is not None or encryption is not None:
        networking = Networking(
            subnets=vpc.get("Subnets"),
            security_group_ids=vpc.get("SecurityGroupIds"),
            enable_network_isolation=isolation,
            enable_inter_container_traffic_encryption=encryption,
        )
    return TrainingJobDefaults(
        networking=networking,
        volume_kms_key_id=value("ResourceConfig.VolumeKmsKeyId"),
        output_kms_key_id=value("OutputDataConfig.KmsKeyId"),
        tags=[Tag(key=tag["Key"], value=tag["Value"]) for tag in value("Tags") or []] or None,
    )


__all__ = [
    "CacheConfig",
    "Compute",
    "ConditionEquals",
    "ConditionGreaterThanOrEqualTo",
    "ConditionLessThanOrEqualTo",
    "ConditionNot",
    "ConditionOr",
    "ConditionStep",
    "DriftCheckBaselines",
    "ExecutionVariables",
    "FailStep",
    "InputData",
    "Join",
    "JsonGet",
    "Lambda",
    "LambdaOutput",
    "LambdaOutputTypeEnum",
    "LambdaStep",
    "MetricsSource",
    "ModelBuilder",
    "ModelMetrics",
    "ModelStep",
    "ModelTrainer",
    "Networking",
    "OfflinePipelineSession",
    "OutputDataConfig",
    "ParameterBoolean",
    "ParameterFloat",
    "ParameterInteger",
    "ParameterString",
    "Pipeline",
    "PipelineSession",
    "ProcessingInput",
    "ProcessingOutput",
    "ProcessingS3Input",
    "ProcessingS3Output",
    "ProcessingStep",
    "PropertyFile",
    "SageMakerJobExceptionTypeEnum",
    "SageMakerJobStepRetryPolicy",
    "ScriptProcessor",
    "StepExceptionTypeEnum",
    "StepRetryPolicy",
    "StoppingCondition",
    "TrainingJobDefaults",
    "TrainingStep",
    "image_uris",
    "offline_environment",
    "sdk_config",
    "sdk_config_value",
    "training_job_defaults",
]
