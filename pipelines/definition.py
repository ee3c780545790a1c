"""The retraining pipeline: preprocess -> drift check against the champion's baseline ->
(no drift: end) | train -> evaluate (challenger vs champion) and baseline -> check metric ->
check champion -> register (with its baseline) | fail.

`get_pipeline()` reads top to bottom like the DAG it builds; the helpers above it only
shape SDK objects (retry policies, cache config, S3 locations). The same definition runs on
SageMaker (`run_pipeline.py stack deploy|start --target sagemaker`) and in the local engine.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.code_assets import (
    NO_CHAMPION_MARKER,
    ProjectCode,
    champion_function_arn,
    code_uri,
    no_champion_uri,
    project_code,
    registry_claims_uri,
    sample_data_uri,
    snapshot_function_arn,
    snapshots_uri,
)
from pipelines.config import APPROVAL_STATUSES, ProjectConfig, Target, load_config
from pipelines.model_metadata import MODEL_CONTENT_DIGEST
from pipelines.sdk import (
    CacheConfig,
    Compute,
    ConditionEquals,
    ConditionGreaterThanOrEqualTo,
    ConditionLessThanOrEqualTo,
    ConditionOr,
    ConditionStep,
    DriftCheckBaselines,
    ExecutionVariables,
    FailStep,
    InputData,
    Join,
    JsonGet,
    Lambda,
    LambdaOutput,
    LambdaOutputTypeEnum,
    LambdaStep,
    MetricsSource,
    ModelBuilder,
    ModelMetrics,
    ModelStep,
    ModelTrainer,
    OfflinePipelineSession,
    OutputDataConfig,
    ParameterBoolean,
    ParameterFloat,
    ParameterInteger,
    ParameterString,
    Pipeline,
    ProcessingInput,
    ProcessingOutput,
    ProcessingS3Input,
    ProcessingS3Output,
    ProcessingStep,
    PropertyFile,
    SageMakerJobExceptionTypeEnum,
    SageMakerJobStepRetryPolicy,
    ScriptProcessor,
    StepExceptionTypeEnum,
    StepRetryPolicy,
    StoppingCondition,
    TrainingStep,
    image_uris,
    offline_environment,
    training_job_defaults,
)
from pipelines.settings.drift import load_drift

PROCESSING_ROOT = "/opt/ml/processing"
EXIT_MESSAGE_FILE = "/opt/ml/output/message"
# Where a processing container learns its host and the job's hosts.
RESOURCE_CONFIG_FILE = "/opt/ml/config/resourceconfig.json"
EVALUATION_REPORT = "EvaluationReport"
EVALUATION_FILE = "evaluation.json"
# The model-quality statistics the registered package points at (evaluation/evaluate.py).
MODEL_QUALITY_FILE = "model_quality.json"
MODEL_CONTENT_TYPES = ["text/csv", "application/json"]
# Where evaluation.json records the digest of the challenger's files.
CONTENT_DIGEST_PATH = "evaluation.model.content_digest"
DRIFT_REPORT = "DriftReport"
DRIFT_REPORT_FILE = "drift_report.json"
# The data-quality baseline the registered model carries (processing/data_quality.py).
STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"


def _step_retry_policies(config: ProjectConfig) -> list[StepRetryPolicy]:
    """Throttling and service faults: the errors SageMaker reports for the step itself."""
    retry = config.retry
    return [
        StepRetryPolicy(
            exception_types=[StepExceptionTypeEnum.THROTTLING, StepExceptionTypeEnum.SERVICE_FAULT],
            interval_seconds=retry.interval_seconds,
            backoff_rate=retry.backoff_rate,
            max_attempts=retry.max_attempts,
        )
    ]


def _job_retry_policies(
    config: ProjectConfig,
) -> list[StepRetryPolicy | SageMakerJobStepRetryPolicy]:
    """Step errors plus the job errors worth waiting out: capacity, limits, internal faults."""
    retry = config.retry
    return [
        *_step_retry_policies(config),
        SageMakerJobStepRetryPolicy(
            exception_types=[
                SageMakerJobExceptionTypeEnum.CAPACITY_ERROR,
                SageMakerJobExceptionTypeEnum.RESOURCE_LIMIT,
                SageMakerJobExceptionTypeEnum.INTERNAL_ERROR,
            ],
            interval_seconds=retry.job_interval_seconds,
            backoff_rate=retry.backoff_rate,
            max_attempts=retry.job_max_attempts,
        ),
    ]


def _execution_uri(config: ProjectConfig, target: Target, *parts: str) -> Join:
    """s3://bucket/prefix/executions/<execution id>/<parts>: every execution writes apart."""
    return Join(
        on="/",
        values=[
            "s3:/",
            target.bucket,
            config.pipeline.s3_prefix,
            "executions",
            ExecutionVariables.PIPELINE_EXECUTION_ID,
            *parts,
        ],
    )


def _input(
    name: str,
    source,
    local_path: str,
    data_type: str = "S3Prefix",
    distribution: str = "FullyReplicated",
) -> ProcessingInput:
    return ProcessingInput(
        input_name=name,
        s3_input=ProcessingS3Input(
            s3_uri=source,
            local_path=local_path,
            s3_data_type=data_type,
            s3_input_mode="File",
            s3_data_distribution_type=distribution,
        ),
    )


def _output(name: str, destination: Join) -> ProcessingOutput:
    return ProcessingOutput(
        output_name=name,
        s3_output=ProcessingS3Output(
            s3_uri=destination, local_path=f"{PROCESSING_ROOT}/{name}", s3_upload_mode="EndOfJob"
        ),
    )


def _cli_arguments(options: dict) -> list:
    """{"--flag": value} -> ["--flag", value, ...]: container arguments, one pair per line."""
    return [item for pair in options.items() for item in pair]


def _metric_json_path(config: ProjectConfig) -> str:
    # JsonGet paths must be literals in the definition, so the metric is build-time config.
    return f"{config.pipeline.problem_type}_metrics.{config.pipeline.metric}.value"


def _evaluation_value(step: ProcessingStep, report: PropertyFile, json_path: str) -> JsonGet:
    return JsonGet(step_name=step.name, property_file=report, json_path=json_path)


# The AWS MLOps project template's get_pipeline() arguments: the pipeline.toml setting each
# one overrides (on top of the file and its environment variables).
TEMPLATE_ARGUMENTS = {
    "region": ("aws", "region"),
    "role": ("aws", "role_arn"),
    "default_bucket": ("aws", "bucket"),
    "pipeline_name": ("pipeline", "name"),
    "model_package_group_name": ("pipeline", "model_package_group"),
    # The template's prefix of every S3 key the pipeline writes.
    "base_job_prefix": ("pipeline", "s3_prefix"),
    "sagemaker_project_name": ("stack", "sagemaker_project_name"),
    "sagemaker_project_id": ("stack", "sagemaker_project_id"),
    "processing_instance_type": ("instances", "processing_type"),
    "training_instance_type": ("instances", "training_type"),
}


def template_config(
    config: ProjectConfig | str | Path | None = None,
    *,
    target: str | None = None,
    **arguments: str | None,
) -> tuple[ProjectConfig, str]:
    """The configuration and target `get_pipeline(**arguments)` builds for.

    `config`: a loaded configuration, or the pipeline.toml to read (default: ./pipeline.toml,
    else the bundled one). `arguments` are the template's (`TEMPLATE_ARGUMENTS`); None keeps
    the configured value. `target` defaults to "sagemaker" when a role or a bucket is given
    (what the template builds for), else "local".
    """
    unknown = sorted(set(arguments) - set(TEMPLATE_ARGUMENTS))
    if unknown:
        raise TypeError(
            f"get_pipeline() got unknown argument(s) {', '.join(unknown)}; the template's are "
            f"{', '.join(TEMPLATE_ARGUMENTS)}"
        )
    overrides: dict[str, dict[str, str]] = {}
    for name, value in arguments.items():
        if value is not None:
            section, key = TEMPLATE_ARGUMENTS[name]
            overrides.setdefault(section, {})[key] = value
    if isinstance(config, ProjectConfig):
        if overrides:
            raise TypeError(
                "get_pipeline(): pass either a loaded ProjectConfig or the template's arguments "
                "(with config= the pipeline.toml path to apply them to), not both"
            )
        loaded = config
    else:
        loaded = load_config(config, overrides=overrides)
    if target is None:
        target = (
            "sagemaker" if arguments.get("role") or arguments.get("default_bucket") else "local"
        )
    return loaded, target


def get_pipeline(
    config: ProjectConfig | str | Path | None = None,
    target: str | None = None,
    code: ProjectCode | None = None,
    *,
    region: str | None = None,
    role: str | None = None,
    default_bucket: str | None = None,
    pipeline_name: str | None = None,
    model_package_group_name: str | None = None,
    base_job_prefix: str | None = None,
    sagemaker_project_name: str | None = None,
    sagemaker_project_id: str | None = None,
    processing_instance_type: str | None = None,
    training_instance_type: str | None = None,
) -> Pipeline:
    """Build the pipeline for `target` ("local" or "sagemaker"). Makes no network call.

    Takes what the AWS MLOps project template's `get_pipeline` takes (region, role,
    default_bucket, pipeline_name, model_package_group_name, base_job_prefix,
    sagemaker_project_name, ...), each defaulting to pipeline.toml; see `template_config`.

    The definition points at the job code by content-addressed S3 URIs and its Lambda steps
    at the project's functions. `pipeline.upsert()` uploads none of that code: a pipeline
    upserted that way fails at its first step unless the code is already in the bucket.
    `pipelines.publish(...)` (same arguments; pipelines/publishing.py) uploads the code,
    the Lambda zips and the sample, then upserts.
    """
    config, target = template_config(
        config,
        target=target,
        region=region,
        role=role,
        default_bucket=default_bucket,
        pipeline_name=pipeline_name,
        model_package_group_name=model_package_group_name,
        base_job_prefix=base_job_prefix,
        sagemaker_project_name=sagemaker_project_name,
        sagemaker_project_id=sagemaker_project_id,
        processing_instance_type=processing_instance_type,
        training_instance_type=training_instance_type,
    )
    where = config.target(target)
    code = code or project_code(config)
    settings = config.pipeline
    gate = config.quality_gate
    drift = load_drift(config)
    with offline_environment(where.region):
        session = OfflinePipelineSession(region=where.region, bucket=where.bucket)
        image = image_uris.retrieve(
            framework="sklearn",
            region=where.region,
            version=settings.sklearn_image_version,
            py_version="py3",
            instance_type=config.instances.processing_type,
        )
        inference_image = image_uris.retrieve(
            framework="sklearn",
            region=where.region,
            version=settings.sklearn_image_version,
            py_version="py3",
            instance_type=config.instances.inference_type,
            image_scope="inference",
        )
        cache = CacheConfig(enable_caching=True, expire_after=settings.cache_expire_after)
        job_retries = _job_retry_policies(config)

        # Parameters: what may change from one execution to the next.
        input_data_url = ParameterString(
            name="InputDataUrl", default_value=sample_data_uri(config, where)
        )
        input_partition_window = ParameterInteger(name="InputPartitionWindow", default_value=0)
        label_column = ParameterString(name="LabelColumn", default_value=settings.label_column)
        processing_instance_type = ParameterString(
            name="ProcessingInstanceType", default_value=config.instances.processing_type
        )
        processing_instance_count = ParameterInteger(
            name="ProcessingInstanceCount", default_value=config.instances.processing_count
        )
        training_instance_type = ParameterString(
            name="TrainingInstanceType", default_value=config.instances.training_type
        )
        metric_threshold = ParameterFloat(
            name="MetricThreshold", default_value=settings.metric_threshold
        )
        model_approval_status = ParameterString(
            name="ModelApprovalStatus",
            default_value=settings.model_approval_status,
            enum_values=list(APPROVAL_STATUSES),
        )
        learning_rate = ParameterFloat(
            name="LearningRate", default_value=config.hyperparameters.learning_rate
        )
        max_iter = ParameterInteger(name="MaxIter", default_value=config.hyperparameters.max_iter)
        max_leaf_nodes = ParameterInteger(
            name="MaxLeafNodes", default_value=config.hyperparameters.max_leaf_nodes
        )
        l2_regularization = ParameterFloat(
            name="L2Regularization", default_value=config.hyperparameters.l2_regularization
        )
        champion_margin = ParameterFloat(
            name="ChampionMargin", default_value=settings.champion_margin
        )
        force_retrain = ParameterBoolean(name="ForceRetrain", default_value=False)

        # ResolveChampion: the current approved model, which the challenger must beat.
        step_resolve_champion = LambdaStep(
            name="ResolveChampion",
            display_name="Resolve champion",
            description=(
                f"Looks up the newest approved model in '{settings.model_package_group}' "
                f"and its drift baseline (the champion; without one, a {NO_CHAMPION_MARKER} "
                "marker)."
            ),
            lambda_func=Lambda(function_arn=champion_function_arn(config, where)),
            inputs={
                "ModelPackageGroupName": settings.model_package_group,
                "NoChampionUri": no_champion_uri(config, where),
            },
            outputs=[
                LambdaOutput(output_name=name, output_type=LambdaOutputTypeEnum.String)
                for name in (
                    "ChampionModelDataUrl",
                    "ChampionVersion",
                    "ChampionArn",
                    "ChampionBaselineUrl",
                )
            ],
        )
        champion = step_resolve_champion.properties.Outputs

        # SnapshotInput: what InputDataUrl names now, frozen into a content-addressed manifest.
        # The cache compares requests, not data: new data must make a new Preprocess request.
        step_snapshot = LambdaStep(
            name="SnapshotInput",
            display_name="Snapshot input data",
            description=(
                "Lists the objects InputDataUrl names (the newest InputPartitionWindow dated "
                "partitions, 0 = all) and writes a manifest keyed by their keys, sizes and "
                "ETags: unchanged data gives Preprocess the same request, new data a new one."
            ),
            lambda_func=Lambda(function_arn=snapshot_function_arn(config, where)),
            inputs={
                "InputDataUrl": input_data_url,
                "InputPartitionWindow": input_partition_window,
                "SnapshotPrefix": snapshots_uri(config, where),
            },
            outputs=[
                LambdaOutput(output_name="ManifestUri", output_type=LambdaOutputTypeEnum.String),
                LambdaOutput(output_name="SnapshotUri", output_type=LambdaOutputTypeEnum.String),
                LambdaOutput(output_name="Fingerprint", output_type=LambdaOutputTypeEnum.String),
                LambdaOutput(output_name="ObjectCount", output_type=LambdaOutputTypeEnum.Integer),
                LambdaOutput(output_name="TotalBytes", output_type=LambdaOutputTypeEnum.Integer),
            ],
        )
        snapshot = step_snapshot.properties.Outputs

        # Preprocess: validate the schema, clean, split train / validation / test.
        preprocessor = ScriptProcessor(
            image_uri=image,
            command=["python3"],
            instance_type=processing_instance_type,
            instance_count=processing_instance_count,
            max_runtime_in_seconds=settings.max_runtime_seconds,
            base_job_name=f"{settings.name}-preprocess",
            role=where.role_arn,
            sagemaker_session=session,
        )
        step_preprocess = ProcessingStep(
            name="Preprocess",
            display_name="Preprocess data",
            description=(
                "Validates the input schema, refuses duplicate columns, leaking features and "
                "too few rows of a class, cleans it and splits it into train, validation "
                "and test sets (stratified for classification)."
            ),
            step_args=preprocessor.run(
                code=code_uri(code.preprocess, config, where),
                # Per-row work: on N instances each reads ~1/N of the snapshot's objects and
                # writes its own parts (ShardedByS3Key on one instance reads them all).
                inputs=[
                    _input(
                        "data",
                        snapshot["ManifestUri"],
                        f"{PROCESSING_ROOT}/input/data",
                        data_type="ManifestFile",
                        distribution="ShardedByS3Key",
                    )
                ],
                outputs=[
                    _output(split, _execution_uri(config, where, "Preprocess", split))
                    for split in ("train", "validation", "test")
                ],
                arguments=_cli_arguments(
                    {
                        "--label-column": label_column,
                        "--problem-type": settings.problem_type,
                        "--input-dir": f"{PROCESSING_ROOT}/input/data",
                        "--train-dir": f"{PROCESSING_ROOT}/train",
                        "--validation-dir": f"{PROCESSING_ROOT}/validation",
                        "--test-dir": f"{PROCESSING_ROOT}/test",
                        "--exit-message-file": EXIT_MESSAGE_FILE,
                        "--resource-config": RESOURCE_CONFIG_FILE,
                        "--min-class-count": str(gate.min_class_count),
                    }
                ),
            ),
            cache_config=cache,
            retry_policies=job_retries,
        )
        splits = step_preprocess.properties.ProcessingOutputConfig.Outputs
        train_split = splits["train"].S3Output.S3Uri

        # DriftCheck: this run's training split against the champion's baseline (the
        # champion's own training split, summarized), with PSI and a two-sample test per
        # feature. Our own script rather than QualityCheckStep: README, "Drift".
        data_quality = ScriptProcessor(
            image_uri=image,
            command=["python3"],
            instance_type=processing_instance_type,
            instance_count=1,
            max_runtime_in_seconds=settings.max_runtime_seconds,
            base_job_name=f"{settings.name}-data-quality",
            role=where.role_arn,
            sagemaker_session=session,
        )
        drift_report = PropertyFile(name=DRIFT_REPORT, output_name="drift", path=DRIFT_REPORT_FILE)
        step_drift_check = ProcessingStep(
            name="DriftCheck",
            display_name="Check data drift",
            description=(
                "Compares this run's training split with the champion's data-quality baseline "
                "(PSI and a two-sample test per feature, Holm-corrected) and writes Model "
                "Monitor's constraint_violations.json and drift_report.json."
            ),
            step_args=data_quality.run(
                code=code_uri(code.data_quality, config, where),
                inputs=[
                    _input("data", train_split, f"{PROCESSING_ROOT}/input/data"),
                    _input(
                        "baseline",
                        champion["ChampionBaselineUrl"],
                        f"{PROCESSING_ROOT}/input/baseline",
                    ),
                ],
                outputs=[_output("drift", _execution_uri(config, where, "DriftCheck"))],
                arguments=[
                    "check",
                    *_cli_arguments(
                        {
                            "--data-dir": f"{PROCESSING_ROOT}/input/data",
                            "--baseline-dir": f"{PROCESSING_ROOT}/input/baseline",
                            "--output-dir": f"{PROCESSING_ROOT}/drift",
                            "--exit-message-file": EXIT_MESSAGE_FILE,
                            **drift.threshold_arguments(),
                        }
                    ),
                ],
            ),
            property_files=[drift_report],
            cache_config=cache,
            retry_policies=job_retries,
        )

        # Train: a scikit-learn Pipeline on the raw features, via the training toolkit. One
        # instance: HistGradientBoosting fits on one machine (train.py refuses more).
        # The SDK config's TrainingJob defaults, which SDK v3's ModelTrainer leaves out.
        training_defaults = training_job_defaults(session)
        trainer = ModelTrainer(
            training_image=image,
            compute=Compute(
                instance_type=training_instance_type,
                instance_count=1,
                volume_kms_key_id=training_defaults.volume_kms_key_id,
            ),
            networking=training_defaults.networking,
            tags=training_defaults.tags,
            role=where.role_arn,
            base_job_name=f"{settings.name}-train",
            sagemaker_session=session,
            hyperparameters={
                "sagemaker_program": "train.py",
                "sagemaker_submit_directory": code_uri(code.train, config, where),
                "sagemaker_region": where.region,
                "sagemaker_container_log_level": "20",
                "label-column": label_column,
                "problem-type": settings.problem_type,
                # Hyperparameters are strings in CreateTrainingJob.
                "learning-rate": learning_rate.to_string(),
                "max-iter": max_iter.to_string(),
                "max-leaf-nodes": max_leaf_nodes.to_string(),
                "l2-regularization": l2_regularization.to_string(),
                "class-weight": gate.class_weight,
                # The operating point, chosen on the validation split.
                "threshold-objective": gate.threshold_objective,
                "threshold-cost-ratio": str(gate.cost_ratio),
                "threshold-min-precision": str(gate.min_precision),
            },
            input_data_config=[
                InputData(
                    channel_name=split,
                    data_source=splits[split].S3Output.S3Uri,
                    content_type="application/x-parquet",
                )
                for split in ("train", "validation")
            ],
            output_data_config=OutputDataConfig(
                s3_output_path=_execution_uri(config, where, "Train"),
                kms_key_id=training_defaults.output_kms_key_id,
            ),
            stopping_condition=StoppingCondition(
                max_runtime_in_seconds=settings.max_runtime_seconds
            ),
        )
        step_train = TrainingStep(
            name="Train",
            display_name="Train model",
            description=(
                f"Trains a scikit-learn pipeline ({settings.problem_type}) that takes raw "
                "feature rows, chooses its decision threshold on the validation split and "
                "ships with its inference handler."
            ),
            step_args=trainer.train(),
            cache_config=cache,
            retry_policies=job_retries,
        )
        model_data = step_train.properties.ModelArtifacts.S3ModelArtifacts

        # Evaluate: score the held-out test split, write evaluation.json.
        evaluation_report = PropertyFile(
            name=EVALUATION_REPORT, output_name="evaluation", path=EVALUATION_FILE
        )
        evaluator = ScriptProcessor(
            image_uri=image,
            command=["python3"],
            instance_type=processing_instance_type,
            instance_count=1,
            max_runtime_in_seconds=settings.max_runtime_seconds,
            base_job_name=f"{settings.name}-evaluate",
            role=where.role_arn,
            sagemaker_session=session,
        )
        step_evaluate = ProcessingStep(
            name="Evaluate",
            display_name="Evaluate model",
            description=(
                "Scores the challenger and the champion on the same test rows, compares them "
                "and the no-skill baseline by paired bootstrap, and writes model_quality.json "
                "(SageMaker's model-quality format) and evaluation.json (plus the decision)."
            ),
            step_args=evaluator.run(
                code=code_uri(code.evaluate, config, where),
                inputs=[
                    _input("model", model_data, f"{PROCESSING_ROOT}/model"),
                    _input("test", splits["test"].S3Output.S3Uri, f"{PROCESSING_ROOT}/test"),
                    _input(
                        "champion",
                        champion["ChampionModelDataUrl"],
                        f"{PROCESSING_ROOT}/champion",
                    ),
                ],
                outputs=[_output("evaluation", _execution_uri(config, where, "Evaluate"))],
                arguments=_cli_arguments(
                    {
                        "--label-column": label_column,
                        "--problem-type": settings.problem_type,
                        "--model-dir": f"{PROCESSING_ROOT}/model",
                        "--test-dir": f"{PROCESSING_ROOT}/test",
                        "--output-dir": f"{PROCESSING_ROOT}/evaluation",
                        "--exit-message-file": EXIT_MESSAGE_FILE,
                        "--champion-dir": f"{PROCESSING_ROOT}/champion",
                        "--champion-version": champion["ChampionVersion"],
                        "--metric": settings.metric,
                        "--higher-is-better": str(settings.higher_is_better).lower(),
                        "--threshold": metric_threshold.to_string(),
                        "--champion-margin": champion_margin.to_string(),
                        "--confidence-level": str(gate.confidence_level),
                        "--resamples": str(gate.resamples),
                        "--random-seed": str(gate.random_seed),
                    }
                ),
            ),
            property_files=[evaluation_report],
            cache_config=cache,
            retry_policies=job_retries,
        )
        content_digest = _evaluation_value(step_evaluate, evaluation_report, CONTENT_DIGEST_PATH)
        model_quality_uri = Join(
            on="/",
            values=[
                step_evaluate.properties.ProcessingOutputConfig.Outputs[
                    "evaluation"
                ].S3Output.S3Uri,
                MODEL_QUALITY_FILE,
            ],
        )

        # Baseline: the statistics and constraints of the data this model was trained on, in
        # Model Monitor's formats: the registered model's drift-check baseline, which the next
        # run's DriftCheck and the endpoint's monitoring compare with. The schema is the
        # model's own (metadata.json in model.tar.gz): merged when Preprocess was sharded.
        step_baseline = ProcessingStep(
            name="Baseline",
            display_name="Baseline data quality",
            description=(
                "Summarizes the training split (per-feature distributions, missing rates, "
                "domains) as Model Monitor's statistics.json and constraints.json, which the "
                "registered model carries as its drift-check baseline."
            ),
            step_args=data_quality.run(
                code=code_uri(code.data_quality, config, where),
                inputs=[
                    _input("data", train_split, f"{PROCESSING_ROOT}/input/data"),
                    _input("model", model_data, f"{PROCESSING_ROOT}/model"),
                ],
                outputs=[_output("baseline", _execution_uri(config, where, "Baseline"))],
                arguments=[
                    "baseline",
                    *_cli_arguments(
                        {
                            "--data-dir": f"{PROCESSING_ROOT}/input/data",
                            "--schema": f"{PROCESSING_ROOT}/model/model.tar.gz",
                            "--output-dir": f"{PROCESSING_ROOT}/baseline",
                            "--exit-message-file": EXIT_MESSAGE_FILE,
                            "--psi-bins": str(drift.psi_bins),
                            **drift.threshold_arguments(),
                        }
                    ),
                ],
            ),
            cache_config=cache,
            retry_policies=job_retries,
        )
        baseline_output = step_baseline.properties.ProcessingOutputConfig.Outputs[
            "baseline"
        ].S3Output.S3Uri

        # Register: a new version in the Model Package Group, with its metrics.
        model = ModelBuilder(
            s3_model_data_url=model_data,
            image_uri=inference_image,
            role_arn=where.role_arn,
            sagemaker_session=session,
            env_vars={
                "SAGEMAKER_PROGRAM": "inference.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
            },
        )
        step_register = ModelStep(
            name="RegisterModel",
            display_name="Register model",
            description=(
                f"Registers the model in the '{settings.model_package_group}' model package "
                "group with its evaluation metrics."
            ),
            step_args=model.register(
                model_package_group_name=settings.model_package_group,
                # What FindRegisteredModel looks for: registration idempotent by content.
                customer_metadata_properties={MODEL_CONTENT_DIGEST: content_digest},
                content_types=MODEL_CONTENT_TYPES,
                response_types=MODEL_CONTENT_TYPES,
                inference_instances=[config.instances.inference_type],
                transform_instances=[config.instances.inference_type],
                approval_status=model_approval_status,
                model_metrics=ModelMetrics(
                    model_statistics=MetricsSource(
                        content_type="application/json", s3_uri=model_quality_uri
                    )
                ),
                drift_check_baselines=DriftCheckBaselines(
                    model_data_statistics=MetricsSource(
                        content_type="application/json",
                        s3_uri=Join(on="/", values=[baseline_output, STATISTICS_FILE]),
                    ),
                    model_data_constraints=MetricsSource(
                        content_type="application/json",
                        s3_uri=Join(on="/", values=[baseline_output, CONSTRAINTS_FILE]),
                    ),
                ),
            ),
            # ModelStep accepts step-level retries only (no SageMaker job errors).
            retry_policies=_step_retry_policies(config),
        )

        # CheckMetric: the absolute rules. Below the threshold, or not reliably better than a
        # model without signal (the no-skill baseline), the execution fails and says why.
        metric_value = _evaluation_value(
            step_evaluate, evaluation_report, _metric_json_path(config)
        )
        comparison = (
            ConditionGreaterThanOrEqualTo
            if settings.higher_is_better
            else ConditionLessThanOrEqualTo
        )
        step_fail = FailStep(
            name="MetricBelowThreshold",
            display_name="Quality gate failed",
            description=(
                "Stops the execution without registering a model, stating which rule failed "
                "(MetricThreshold or the no-skill baseline) and by how much."
            ),
            error_message=Join(
                on="",
                values=[
                    "Model not registered: ",
                    _evaluation_value(step_evaluate, evaluation_report, "decision.reason"),
                ],
            ),
        )
        # FindRegisteredModel: a version of the group already holding these very model files
        # (a rerun that reused or retrained the same model, or a concurrent identical run
        # that registered first); with none, the claim to register them (an S3 conditional
        # write: of identical executions running at once, one registers). Run as late as
        # possible, right before registering.
        step_find_registered = LambdaStep(
            name="FindRegisteredModel",
            display_name="Find registered copy",
            description=(
                f"Looks in '{settings.model_package_group}' for a version whose "
                f"{MODEL_CONTENT_DIGEST} is this model's, else claims the digest for this "
                "execution: the same model is registered once, even by concurrent runs."
            ),
            lambda_func=Lambda(function_arn=champion_function_arn(config, where)),
            inputs={
                "ModelPackageGroupName": settings.model_package_group,
                MODEL_CONTENT_DIGEST: content_digest,
                "ClaimPrefix": registry_claims_uri(config, where),
                "ExecutionArn": ExecutionVariables.PIPELINE_EXECUTION_ARN,
            },
            outputs=[
                LambdaOutput(output_name=name, output_type=LambdaOutputTypeEnum.String)
                for name in ("RegisteredVersion", "RegisteredArn", "ClaimedBy")
            ],
        )

        # CheckChampion: the relative rule. Not better than the champion is not a failure:
        # the execution succeeds without registering, and evaluation.json says by how much.
        # A model already registered (same files), or claimed by another execution running
        # now, is not registered again.
        step_check_champion = ConditionStep(
            name="CheckChampion",
            display_name="Beats champion?",
            description=(
                "Registers the model only if it beats the current approved model on this "
                "run's test rows by at least ChampionMargin at the lower end of the paired "
                "bootstrap interval, no version of the group holds the same model files, and "
                "this execution holds the claim to register them."
            ),
            conditions=[
                ConditionEquals(
                    left=_evaluation_value(
                        step_evaluate, evaluation_report, "decision.beats_champion"
                    ),
                    right=True,
                ),
                ConditionEquals(
                    left=step_find_registered.properties.Outputs["RegisteredVersion"],
                    right="none",
                ),
                ConditionEquals(
                    left=step_find_registered.properties.Outputs["ClaimedBy"],
                    right=ExecutionVariables.PIPELINE_EXECUTION_ARN,
                ),
            ],
            if_steps=[step_register],
            else_steps=[],
        )
        step_check = ConditionStep(
            name="CheckMetric",
            display_name=f"Check {settings.metric}",
            description=(
                f"Continues to the champion check if test {settings.metric} "
                f"{'>=' if settings.higher_is_better else '<='} MetricThreshold and it beats "
                "the no-skill baseline with the configured confidence."
            ),
            conditions=[
                comparison(left=metric_value, right=metric_threshold),
                ConditionEquals(
                    left=_evaluation_value(
                        step_evaluate, evaluation_report, "decision.beats_baseline"
                    ),
                    right=True,
                ),
            ],
            if_steps=[step_find_registered, step_check_champion],
            else_steps=[step_fail],
        )

        # CheckDrift: retrain when there is no champion (or it carries no baseline), when the
        # data drifted from the champion's, or when the run is forced; otherwise the
        # execution ends here, succeeded, and drift_report.json says why nothing was trained.
        def drift_value(json_path: str) -> JsonGet:
            return _evaluation_value(step_drift_check, drift_report, json_path)

        step_check_drift = ConditionStep(
            name="CheckDrift",
            display_name="Retrain?",
            description=(
                "Retrains when there is no champion baseline, when DriftCheck found drift, or "
                "when ForceRetrain is true; otherwise ends the execution: no drift, nothing "
                "trained or registered."
            ),
            conditions=[
                ConditionOr(
                    conditions=[
                        ConditionEquals(left=drift_value("verdict"), right="no_baseline"),
                        ConditionEquals(left=drift_value("drift_detected"), right=True),
                        ConditionEquals(left=force_retrain, right=True),
                    ]
                )
            ],
            if_steps=[step_train, step_evaluate, step_baseline, step_check],
            else_steps=[],
        )

        return Pipeline(
            name=settings.name,
            parameters=[
                input_data_url,
                input_partition_window,
                label_column,
                processing_instance_type,
                processing_instance_count,
                training_instance_type,
                metric_threshold,
                model_approval_status,
                learning_rate,
                max_iter,
                max_leaf_nodes,
                l2_regularization,
                champion_margin,
                force_retrain,
            ],
            steps=[
                step_resolve_champion,
                step_snapshot,
                step_preprocess,
                step_drift_check,
                step_check_drift,
            ],
            sagemaker_session=session,
        )


def definition_json(
    config: ProjectConfig | None = None, target: str = "local", code: ProjectCode | None = None
) -> str:
    """The definition document CreatePipeline receives (and the local engine runs)."""
    config = config or load_config()
    pipeline = get_pipeline(config, target, code)
    with offline_environment(config.aws.region):
        return pipeline.definition()
