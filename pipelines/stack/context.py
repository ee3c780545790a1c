"""Everything the template's builders read, gathered and validated once.

`StackContext` is pure data: the configuration's sections, the pipeline definition JSON,
and where each Lambda function's code lives in S3 (content-addressed keys, so a template
changes exactly when code changes). Building it needs no credentials and no network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.code_assets import (
    CodeAsset,
    ProjectCode,
    champion_function_name,
    lambda_functions,
    project_code,
    snapshot_function_name,
    zip_asset,
)
from pipelines.config import ProjectConfig, Target
from pipelines.definition_cache import load_definition
from pipelines.project_files import code_folder
from pipelines.settings.deployment import DeploymentSettings, deploy_function_name, load_deployment
from pipelines.settings.stack import Settings, load_stack_settings
from pipelines.settings.triggers import NotificationSettings, TriggerSettings, load_settings

PROJECT_NAME_PARAMETER = "SageMakerProjectName"
PROJECT_ID_PARAMETER = "SageMakerProjectId"


@dataclass(frozen=True)
class FunctionCode:
    """One Lambda function of the project: its name, the file whose `handler` it runs, and
    that file zipped reproducibly (the bytes uploaded, and the S3 key they go to)."""

    name: str
    source: Path
    package: CodeAsset

    @property
    def handler(self) -> str:
        return f"{self.source.stem}.handler"

    def key(self, s3_prefix: str) -> str:
        return f"{s3_prefix}/code/{self.package.digest}/{self.package.filename}"


@dataclass(frozen=True)
class StackContext:
    config: ProjectConfig
    target: Target
    triggers: TriggerSettings
    notifications: NotificationSettings
    deployment: DeploymentSettings
    settings: Settings
    definition: str
    # The job code the definition points at (uploaded with the functions' code).
    job_code: ProjectCode
    functions: Mapping[str, FunctionCode]
    # The template variant SageMaker Projects provisions: the project's name and ID are
    # parameters Studio passes, whatever pipeline.toml says.
    for_sagemaker_projects: bool = False

    @property
    def pipeline(self) -> str:
        return self.config.pipeline.name

    @property
    def bucket(self) -> str:
        return self.target.bucket

    @property
    def s3_prefix(self) -> str:
        return self.config.pipeline.s3_prefix

    @property
    def account(self) -> str:
        """The account of the SageMaker execution role: the definition's function ARNs and
        the event patterns name it, so the stack must be deployed there."""
        return self.target.account_id

    @property
    def stack_name(self) -> str:
        return self.settings.stack.name or self.pipeline

    def name(self, purpose: str) -> str:
        return f"{self.pipeline}-{purpose}"

    @property
    def project_parameters(self) -> bool:
        return self.for_sagemaker_projects or self.settings.stack.in_sagemaker_project

    @property
    def tags(self) -> dict[str, Any]:
        """Every taggable resource's tags: [aws.tags], plus the SageMaker project's name and
        ID (as template parameters) when the stack belongs to a SageMaker project."""
        tags: dict[str, Any] = dict(self.config.aws.tags)
        if self.project_parameters:
            tags["sagemaker:project-name"] = {"Ref": PROJECT_NAME_PARAMETER}
            tags["sagemaker:project-id"] = {"Ref": PROJECT_ID_PARAMETER}
        return tags

    def stack_tags(self) -> dict[str, str]:
        """The tags CreateChangeSet puts on the stack itself (CloudFormation also copies
        them onto the resources it creates)."""
        tags = dict(self.config.aws.tags)
        stack = self.settings.stack
        if stack.in_sagemaker_project:
            tags["sagemaker:project-name"] = stack.sagemaker_project_name
            tags["sagemaker:project-id"] = stack.sagemaker_project_id
        return tags


def project_functions(
    config: ProjectConfig,
    triggers: TriggerSettings,
    deployment: DeploymentSettings,
    settings: Settings,
) -> dict[str, Path]:
    """Purpose -> source file of every Lambda function the configuration asks for."""
    lambdas = code_folder(config.root, "lambdas")
    # The pipeline's own steps: the functions the local engine runs too.
    steps = lambda_functions(config)
    functions = {
        "resolve-champion": steps[champion_function_name(config)],
        "snapshot-input": steps[snapshot_function_name(config)],
    }
    if deployment.deploy_on_approval:
        functions["deploy-model"] = lambdas / "deploy_model.py"
    if triggers.data_arrival_enabled or settings.dr.enabled:
        functions["bucket-settings"] = lambdas / "bucket_settings.py"
    return functions


def function_name(config: ProjectConfig, purpose: str) -> str:
    names = {
        "resolve-champion": champion_function_name(config),
        "snapshot-input": snapshot_function_name(config),
        "deploy-model": deploy_function_name(config),
    }
    return names.get(purpose, f"{config.pipeline.name}-{purpose}")


def build_context(
    config: ProjectConfig,
    *,
    definition: str | None = None,
    for_sagemaker_projects: bool = False,
) -> StackContext:
    """The context for `config` (SageMaker target); builds the definition unless given."""
    target = config.target("sagemaker")
    trigger_settings = load_settings(config)
    deployment = load_deployment(config)
    settings = load_stack_settings(config)
    job_code = project_code(config)
    if definition is None:
        definition, job_code = load_definition(config, "sagemaker", job_code)
    functions = {}
    sources = project_functions(config, trigger_settings.triggers, deployment, settings)
    for purpose, source in sources.items():
        name = function_name(config, purpose)
        functions[purpose] = FunctionCode(name, source, zip_asset(name, source))
    return StackContext(
        config=config,
        target=target,
        triggers=trigger_settings.triggers,
        notifications=trigger_settings.notifications,
        deployment=deployment,
        settings=settings,
        definition=definition,
        job_code=job_code,
        functions=functions,
        for_sagemaker_projects=for_sagemaker_projects,
    )
