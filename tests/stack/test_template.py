"""The template's resources and policies, read as CloudFormation would resolve them.

Intrinsic functions are resolved with the values CloudFormation gives them in the account
and region of the configuration (tests/cloudformation_equivalents.PlaceholderResolver).
"""

from __future__ import annotations

import json

import pytest
from cloudformation_equivalents import PlaceholderResolver
from stack_config import (
    ACCOUNT,
    BUCKET,
    NAME,
    REGION,
    ROLE_ARN,
    make_config,
    resources_of,
    statements,
)

from pipelines.config import ConfigError
from pipelines.eventbridge.patterns import approval_rule, data_arrival_rule, notification_rules
from pipelines.stack.template import build

PIPELINE_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{NAME}"
DLQ_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{NAME}-triggers-dlq"
BUFFER_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{NAME}-data-arrival"


def resolved(body: dict, region: str = REGION) -> dict:
    return PlaceholderResolver(body, ACCOUNT, region)(body["Resources"])


def test_one_template_holds_the_whole_aws_side(template) -> None:
    body = template(make_config(notifications={"emails": ["ml-oncall@example.com"]}))

    kinds = sorted({r["Type"] for r in body["Resources"].values()})
    assert kinds == [
        "AWS::CloudWatch::Alarm",
        "AWS::Events::Rule",
        "AWS::IAM::Policy",
        "AWS::IAM::Role",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::Lambda::Function",
        "AWS::Lambda::Permission",
        "AWS::Logs::LogGroup",
        "AWS::Pipes::Pipe",
        "AWS::SNS::Subscription",
        "AWS::SNS::Topic",
        "AWS::SNS::TopicPolicy",
        "AWS::SQS::Queue",
        "AWS::SQS::QueuePolicy",
        "AWS::SageMaker::ModelPackageGroup",
        "AWS::SageMaker::Pipeline",
        "AWS::Scheduler::Schedule",
        "AWS::Scheduler::ScheduleGroup",
        "Custom::BucketSettings",
    ]
    functions = resolved(body)
    names = sorted(
        r["Properties"]["FunctionName"]
        for r in functions.values()
        if r["Type"] == "AWS::Lambda::Function"
    )
    assert names == [
        f"{NAME}-bucket-settings",
        f"{NAME}-deploy-model",
        f"{NAME}-resolve-champion",
        f"{NAME}-snapshot-input",
    ]
    rules = sorted(
        r["Properties"]["Name"] for r in resources_of(body, "AWS::Events::Rule").values()
    )
    assert rules == sorted(
        f"{NAME}-{p}"
        for p in (
            "data-arrival",
            "execution-failed",
            "step-failed",
            "metric-below-threshold",
            "model-package",
            "model-approved",
            "drift-retrain",
        )
    )


def test_the_pipeline_resource_is_the_definition_get_pipeline_builds(template, definition):
    body = template()
    pipeline = body["Resources"]["Pipeline"]["Properties"]

    assert pipeline["PipelineDefinition"] == {"PipelineDefinitionBody": definition}
    assert pipeline["PipelineName"] == NAME
    assert pipeline["RoleArn"] == ROLE_ARN
    assert pipeline["ParallelismConfiguration"] == {"MaxParallelExecutionSteps": 2}
    # The functions the definition's LambdaSteps call exist before the pipeline does.
    assert set(body["Resources"]["Pipeline"]["DependsOn"]) == {
        "ModelPackageGroup",
        "ResolveChampionFunction",
        "SnapshotInputFunction",
    }
    steps = {s["Name"]: s for s in json.loads(definition)["Steps"]}
    functions = resolved(body)
    for step, logical_id in (
        ("ResolveChampion", "ResolveChampionFunction"),
        ("SnapshotInput", "SnapshotInputFunction"),
    ):
        name = functions[logical_id]["Properties"]["FunctionName"]
        assert steps[step]["FunctionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    group = body["Resources"]["ModelPackageGroup"]
    # Registered models outlive the stack.
    assert (group["DeletionPolicy"], group["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_the_schedule_starts_the_pipeline_with_the_configured_input(template) -> None:
    schedule = resolved(template())["NightlySchedule"]["Properties"]

    assert schedule["Name"] == f"{NAME}-nightly"
    assert schedule["GroupName"] == f"{NAME}-triggers"
    assert schedule["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["Target"] == {
        "Arn": PIPELINE_ARN,
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/{NAME}-scheduler",
        "RetryPolicy": {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 3600},
        "DeadLetterConfig": {"Arn": DLQ_ARN},
        # The configured input location, never the definition's default (the sample).
        "SageMakerPipelineParameters": {
            "PipelineParameterList": [
                {"Name": "InputDataUrl", "Value": f"s3://{BUCKET}/{NAME}/incoming/"},
                {"Name": "InputPartitionWindow", "Value": "0"},
            ]
        },
    }


@pytest.mark.parametrize(
    ("triggers", "pipe_parameters", "schedule_parameters"),
    [
        (
            {},
            [{"Name": "InputDataUrl", "Value": "$.body.InputDataUrl"}],
            [
                {"Name": "InputDataUrl", "Value": f"s3://{BUCKET}/{NAME}/incoming/"},
                {"Name": "InputPartitionWindow", "Value": "0"},
            ],
        ),
        (
            {"data_arrival_input": "prefix", "input_prefix": "landing/fraud/"},
            [
                {"Name": "InputDataUrl", "Value": f"s3://{BUCKET}/landing/fraud/"},
                {"Name": "InputPartitionWindow", "Value": "0"},
            ],
            [
                {"Name": "InputDataUrl", "Value": f"s3://{BUCKET}/landing/fraud/"},
                {"Name": "InputPartitionWindow", "Value": "0"},
            ],
        ),
        (
            {
                "data_arrival_input": "partitions",
                "input_partition_window": 7,
                "schedule_parameters": {"MetricThreshold": 0.8},
            },
            [
                {"Name": "InputDataUrl", "Value": f"s3://{BUCKET}/{NAME}/incoming/"},
                {"Name": "InputPartitionWindow", "Value": "7"},
            ],
            [
                {"Name": "InputDataUrl", "Value": f"s3://{BUCKET}/{NAME}/incoming/"},
                {"Name": "InputPartitionWindow", "Value": "7"},
                {"Name": "MetricThreshold", "Value": "0.8"},
            ],
        ),
    ],
    ids=["object", "prefix", "partitions"],
)
def test_both_triggers_pass_the_configured_input_location(
    template, triggers, pipe_parameters, schedule_parameters
) -> None:
    body = resolved(template(make_config(triggers=triggers)))

    pipe = body["DataArrivalPipe"]["Properties"]
    assert pipe["Target"] == PIPELINE_ARN
    assert pipe["TargetParameters"] == {
        "SageMakerPipelineParameters": {"PipelineParameterList": pipe_parameters}
    }
    assert pipe["Source"] == BUFFER_ARN
    assert pipe["SourceParameters"] == {"SqsQueueParameters": {"BatchSize": 1}}
    assert pipe["DesiredState"] == "RUNNING"
    schedule = body["NightlySchedule"]["Properties"]
    assert schedule["Target"]["SageMakerPipelineParameters"] == {
        "PipelineParameterList": schedule_parameters
    }


def test_the_rules_hold_the_shared_patterns_and_transformers(template) -> None:
    config = make_config()
    body = resolved(template(config))
    rules = {
        r["Properties"]["Name"]: r["Properties"]
        for r in body.values()
        if r["Type"] == "AWS::Events::Rule"
    }

    arrival = data_arrival_rule(BUCKET, f"{NAME}/incoming/")
    (target,) = rules[f"{NAME}-data-arrival"]["Targets"]
    assert rules[f"{NAME}-data-arrival"]["EventPattern"] == arrival.pattern
    assert target["Arn"] == BUFFER_ARN
    assert target["InputTransformer"] == arrival.input_transformer
    for spec in notification_rules(config, ACCOUNT):
        rule = rules[spec.name(NAME)]
        (target,) = rule["Targets"]
        assert rule["EventPattern"] == spec.pattern
        assert target["InputTransformer"] == spec.input_transformer
        assert target["Arn"] == f"arn:aws:sns:{REGION}:{ACCOUNT}:{NAME}-notifications"
    approved = approval_rule(config)
    (target,) = rules[f"{NAME}-model-approved"]["Targets"]
    assert rules[f"{NAME}-model-approved"]["EventPattern"] == approved.pattern
    assert target["Arn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{NAME}-deploy-model"
    assert "InputTransformer" not in target  # the function reads the whole event
    for rule in rules.values():
        (target,) = rule["Targets"]
        assert target["RetryPolicy"] == {
            "MaximumRetryAttempts": 10,
            "MaximumEventAgeInSeconds": 3600,
        }
        assert target["DeadLetterConfig"] == {"Arn": DLQ_ARN}


def test_queues_and_their_policies(template) -> None:
    body = resolved(template())

    dlq = body["TriggersDeadLetterQueue"]["Properties"]
    assert dlq["MessageRetentionPeriod"] == 1_209_600
    assert dlq["SqsManagedSseEnabled"] is True
    buffer = body["DataArrivalQueue"]["Properties"]
    assert buffer["RedrivePolicy"] == {"deadLetterTargetArn": DLQ_ARN, "maxReceiveCount": 5}
    # Expiry counts from the first enqueue: the buffer keeps no longer than the DLQ.
    assert buffer["MessageRetentionPeriod"] == 345_600

    (dlq_policy,) = body["TriggersDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    assert dlq_policy["Principal"] == {"Service": "events.amazonaws.com"}
    assert dlq_policy["Action"] == "sqs:SendMessage"
    assert dlq_policy["Resource"] == DLQ_ARN
    rule_names = [
        r["Properties"]["Name"] for r in body.values() if r["Type"] == "AWS::Events::Rule"
    ]
    assert sorted(dlq_policy["Condition"]["ArnEquals"]["aws:SourceArn"]) == sorted(
        f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}" for name in rule_names
    )
    assert dlq_policy["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    (buffer_policy,) = body["DataArrivalQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert buffer_policy["Condition"]["ArnEquals"]["aws:SourceArn"] == [
        f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{NAME}-data-arrival"
    ]


def test_trigger_roles_are_least_privilege(template) -> None:
    body = resolved(template())

    scheduler = body["SchedulerRole"]["Properties"]
    (trust,) = scheduler["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {
        "StringEquals": {
            "aws:SourceAccount": ACCOUNT,
            "aws:SourceArn": f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/{NAME}-triggers",
        }
    }
    grants = statements(body["SchedulerRole"])
    assert grants["StartRun"]["Action"] == "sagemaker:StartPipelineExecution"
    assert grants["StartRun"]["Resource"] == [PIPELINE_ARN]
    assert grants["WriteDeadLetters"] == {
        "Sid": "WriteDeadLetters",
        "Effect": "Allow",
        "Action": "sqs:SendMessage",
        "Resource": DLQ_ARN,
    }

    (trust,) = body["PipeRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "pipes.amazonaws.com"}
    assert trust["Condition"]["StringEquals"]["aws:SourceArn"] == (
        f"arn:aws:pipes:{REGION}:{ACCOUNT}:pipe/{NAME}-data-arrival"
    )
    grants = statements(body["PipeRole"])
    assert set(grants) == {"ReadDataArrivals", "StartRun"}
    assert grants["ReadDataArrivals"]["Resource"] == BUFFER_ARN
    assert sorted(grants["ReadDataArrivals"]["Action"]) == [
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
    ]


def test_function_roles_are_least_privilege(template) -> None:
    body = resolved(template())
    group = "fraud-detection-models"

    champion = statements(body["ResolveChampionRole"])
    assert set(champion) == {
        "ReadChampion",
        "ClaimRegistrations",
        "ReadClaimantExecutions",
        "OwnLogs",
    }
    assert sorted(champion["ReadChampion"]["Action"]) == [
        "sagemaker:DescribeModelPackage",
        "sagemaker:ListModelPackages",
    ]
    assert champion["ReadChampion"]["Resource"] == [
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/{group}",
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{group}/*",
    ]
    # FindRegisteredModel's claims: exactly that prefix; If-Match needs GetObject as well.
    assert sorted(champion["ClaimRegistrations"]["Action"]) == ["s3:GetObject", "s3:PutObject"]
    assert champion["ClaimRegistrations"]["Resource"] == (
        f"arn:aws:s3:::{BUCKET}/{NAME}/registry-claims/*"
    )
    # Whether the claimant still runs: executions of this pipeline only.
    assert champion["ReadClaimantExecutions"]["Action"] == "sagemaker:DescribePipelineExecution"
    assert champion["ReadClaimantExecutions"]["Resource"] == [
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{NAME}/execution/*"
    ]
    # The stack owns the log group: no logs:CreateLogGroup, and only this one.
    assert champion["OwnLogs"]["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert champion["OwnLogs"]["Resource"] == (
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{NAME}-resolve-champion:*"
    )

    snapshot = statements(body["SnapshotInputRole"])
    assert snapshot["ListInputs"]["Action"] == "s3:ListBucket"
    assert snapshot["ListInputs"]["Resource"] == f"arn:aws:s3:::{BUCKET}"
    # Only the project's prefix (the sample, snapshots and, by default, incoming/).
    assert snapshot["ListInputs"]["Condition"] == {"StringLike": {"s3:prefix": [f"{NAME}/*"]}}
    assert snapshot["WriteSnapshots"]["Action"] == "s3:PutObject"
    assert snapshot["WriteSnapshots"]["Resource"] == f"arn:aws:s3:::{BUCKET}/{NAME}/snapshots/*"

    deployer = statements(body["DeployModelRole"])
    assert set(deployer) == {
        "ReadModelPackages",
        "DeployEndpoint",
        "PassExecutionRole",
        "WriteFailedDeployments",
        "OwnLogs",
    }
    assert deployer["DeployEndpoint"]["Resource"] == [
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/{NAME}-endpoint-v*",
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/{NAME}-endpoint-v*",
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{NAME}-endpoint",
    ]
    assert "sagemaker:DeleteEndpoint" not in deployer["DeployEndpoint"]["Action"]
    assert deployer["PassExecutionRole"]["Resource"] == ROLE_ARN
    assert deployer["PassExecutionRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }
    assert deployer["WriteFailedDeployments"]["Resource"] == DLQ_ARN

    bucket = statements(body["BucketSettingsRole"])
    assert set(bucket) == {"BucketSettings", "OwnLogs"}  # no replication role to pass
    assert bucket["BucketSettings"]["Resource"] == f"arn:aws:s3:::{BUCKET}"


# Actions IAM cannot scope to a resource: cloudwatch:PutMetricData (scoped by
# cloudwatch:namespace instead).
RESOURCELESS_ACTIONS = {"cloudwatch:PutMetricData"}


def test_no_policy_grants_every_action_or_every_resource(template) -> None:
    body = template(
        make_config(
            notifications={"emails": ["a@example.com"]},
            dr={"region": "us-west-2", "bucket": "my-ml-bucket-replica"},
        )
    )
    found = 0
    for resource in resolved(body).values():
        documents = [p["PolicyDocument"] for p in resource["Properties"].get("Policies", [])]
        if "PolicyDocument" in resource["Properties"]:
            documents.append(resource["Properties"]["PolicyDocument"])
        for document in documents:
            for statement in document["Statement"]:
                found += 1
                actions = (
                    statement["Action"]
                    if isinstance(statement["Action"], list)
                    else [statement["Action"]]
                )
                assert not any(a == "*" or a.endswith(":*") for a in actions), statement
                targets = (
                    statement["Resource"]
                    if isinstance(statement["Resource"], list)
                    else [statement["Resource"]]
                )
                if "*" in targets:
                    # An action without a resource type (Service Authorization Reference) is
                    # granted on "*", scoped by its condition keys instead.
                    assert set(actions) <= RESOURCELESS_ACTIONS, statement
                    assert statement.get("Condition"), statement
                    continue
    assert found >= 20


def test_the_snapshot_function_may_also_list_a_data_arrival_prefix_elsewhere(template) -> None:
    body = resolved(template(make_config(triggers={"input_prefix": "landing/fraud/"})))
    listing = statements(body["SnapshotInputRole"])["ListInputs"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": [f"{NAME}/*", "landing/fraud/*"]}}


def test_a_shared_lambda_role_replaces_the_step_functions_roles(template) -> None:
    shared = f"arn:aws:iam::{ACCOUNT}:role/TeamLambdaRole"
    body = template(make_config(aws={"lambda_role_arn": shared}))
    assert "ResolveChampionRole" not in body["Resources"]
    assert "SnapshotInputRole" not in body["Resources"]
    for function in ("ResolveChampionFunction", "SnapshotInputFunction"):
        assert body["Resources"][function]["Properties"]["Role"] == shared
    assert "DeployModelRole" in body["Resources"]  # the stack's own functions keep theirs


def test_the_functions_run_the_uploaded_code(template, context) -> None:
    ctx = context()
    body = resolved(template())
    for purpose, function in ctx.functions.items():
        logical_id = "".join(p.capitalize() for p in purpose.split("-")) + "Function"
        properties = body[logical_id]["Properties"]
        assert properties["Code"] == {
            "S3Bucket": BUCKET,
            "S3Key": f"{NAME}/code/{function.package.digest}/{function.source.stem}.zip",
        }
        assert properties["Handler"] == f"{function.source.stem}.handler"
        assert properties["Runtime"] == "python3.12"
    variables = body["DeployModelFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["ENDPOINT_NAME"] == f"{NAME}-endpoint"
    assert variables["EXECUTION_ROLE_ARN"] == ROLE_ARN
    assert json.loads(variables["RESOURCE_TAGS"])["pipeline-deploy"] == NAME


def test_approvals_invoke_the_deploy_function_and_nothing_else_may(template) -> None:
    body = resolved(template())
    permission = body["DeployModelInvokePermission"]["Properties"]
    assert permission["Principal"] == "events.amazonaws.com"
    assert (
        permission["SourceArn"] == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{NAME}-model-approved"
    )
    assert permission["SourceAccount"] == ACCOUNT
    invoke = body["DeployModelInvokeConfig"]["Properties"]
    assert invoke["MaximumRetryAttempts"] == 2
    assert invoke["DestinationConfig"] == {"OnFailure": {"Destination": DLQ_ARN}}


def test_the_topic_alarm_and_subscriptions(template) -> None:
    body = resolved(template(make_config(notifications={"emails": ["ML-Oncall@example.com"]})))
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:{NAME}-notifications"

    (subscription,) = [r for r in body.values() if r["Type"] == "AWS::SNS::Subscription"]
    assert subscription["Properties"] == {
        "TopicArn": topic,
        "Protocol": "email",
        "Endpoint": "ML-Oncall@example.com",
    }
    alarm = body["ExecutionFailedAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (
        "AWS/Sagemaker/ModelBuildingPipeline",
        "ExecutionFailed",
    )
    assert alarm["Dimensions"] == [{"Name": "PipelineName", "Value": NAME}]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Sum",
        1,
        "GreaterThanOrEqualToThreshold",
    )
    assert alarm["AlarmActions"] == [topic]
    assert alarm["TreatMissingData"] == "notBreaching"
    policy = body["NotificationTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    by_sid = {s["Sid"]: s for s in policy}
    assert sorted(by_sid["EventBridgeRules"]["Condition"]["ArnEquals"]["aws:SourceArn"]) == sorted(
        f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{NAME}-{p}"
        for p in ("execution-failed", "step-failed", "metric-below-threshold", "model-package")
    )
    assert by_sid["CloudWatchAlarms"]["Condition"]["ArnEquals"]["aws:SourceArn"] == [
        f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{NAME}-execution-failed"
    ]


@pytest.mark.parametrize(
    ("sections", "absent", "present"),
    [
        (
            {"notifications": {"enabled": False}},
            {
                "NotificationTopic",
                "ExecutionFailedAlarm",
                "StepFailedRule",
                "NotificationTopicPolicy",
            },
            {"DataArrivalRule", "ModelApprovedRule"},
        ),
        (
            {"deployment": {"deploy_on_approval": False}},
            {
                "ModelApprovedRule",
                "DeployModelFunction",
                "DeployModelRole",
                "DeployModelInvokePermission",
            },
            {"NotificationTopic"},
        ),
        (
            {"triggers": {"data_arrival_enabled": False}},
            {
                "DataArrivalRule",
                "DataArrivalQueue",
                "DataArrivalPipe",
                "PipeRole",
                "ArtifactsBucketSettings",
                "BucketSettingsFunction",
            },
            {"NightlySchedule"},
        ),
        (
            {"triggers": {"schedule_enabled": False}},
            {"NightlySchedule", "TriggersScheduleGroup", "SchedulerRole"},
            {"DataArrivalPipe"},
        ),
    ],
    ids=["no-notifications", "no-deploy-on-approval", "no-data-arrival", "no-schedule"],
)
def test_what_the_configuration_turns_off_is_not_in_the_template(
    template, sections, absent, present
):
    body = template(make_config(**sections))
    assert not absent & set(body["Resources"])
    assert present <= set(body["Resources"])
    # The DLQ's policy names only the rules that remain.
    if "TriggersDeadLetterQueuePolicy" in body["Resources"]:
        (statement,) = body["Resources"]["TriggersDeadLetterQueuePolicy"]["Properties"][
            "PolicyDocument"
        ]["Statement"]
        sources = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
        rules = resources_of(body, "AWS::Events::Rule")
        assert sorted(s["Fn::GetAtt"][0] for s in sources) == sorted(rules)


def test_a_mixed_case_name_keeps_its_case_and_iam_allows_both_spellings(template) -> None:
    body = resolved(
        template(
            make_config(pipeline={"name": "FraudRetraining", "model_package_group": "FraudModels"})
        )
    )
    assert body["Pipeline"]["Properties"]["PipelineName"] == "FraudRetraining"
    spelled = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/FraudRetraining"
    assert body["NightlySchedule"]["Properties"]["Target"]["Arn"] == spelled
    assert body["DataArrivalPipe"]["Properties"]["Target"] == spelled
    assert statements(body["SchedulerRole"])["StartRun"]["Resource"] == [
        spelled,
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/fraudretraining",
    ]
    read = statements(body["ResolveChampionRole"])["ReadChampion"]["Resource"]
    assert f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/FraudModels" in read
    assert f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/fraudmodels/*" in read
    claimants = statements(body["ResolveChampionRole"])["ReadClaimantExecutions"]["Resource"]
    assert claimants == [
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{name}/execution/*"
        for name in ("FraudRetraining", "fraudretraining")
    ]
    # Event patterns match the pipeline's ARN whatever its case.
    pattern = body["ExecutionFailedRule"]["Properties"]["EventPattern"]
    assert pattern["detail"]["pipelineArn"] == [
        {"equals-ignore-case": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/fraudretraining"}
    ]


def test_arns_take_the_stacks_partition(template) -> None:
    body = template(
        make_config(
            aws={"region": "cn-north-1"}, dr={"region": "cn-northwest-1", "bucket": "replica-b"}
        )
    )

    def subs(value):
        if isinstance(value, dict):
            if "Fn::Sub" in value:
                yield value["Fn::Sub"]
            for item in value.values():
                yield from subs(item)
        elif isinstance(value, list):
            for item in value:
                yield from subs(item)

    built = [text for text in subs(body["Resources"]) if text.startswith("arn:")]
    assert len(built) > 20
    # Built ARNs name no partition: CloudFormation fills in the stack's own (aws-cn here).
    assert all(text.startswith("arn:${AWS::Partition}:") for text in built), built
    # The shared event patterns and the replication rules carry the region's partition,
    # from botocore's partition table.
    pattern = body["Resources"]["ExecutionFailedRule"]["Properties"]["EventPattern"]
    assert pattern["detail"]["pipelineArn"][0]["equals-ignore-case"].startswith(
        "arn:aws-cn:sagemaker:cn-north-1:"
    )
    rules = body["Resources"]["ArtifactsBucketSettings"]["Properties"]["ReplicationRules"]
    assert {r["DestinationBucket"] for r in rules} == {"arn:aws-cn:s3:::replica-b"}


def test_sagemaker_project_tags_every_resource_and_the_stack(template, context) -> None:
    config = make_config(
        stack={"sagemaker_project_name": "fraud", "sagemaker_project_id": "p-abc123"}
    )
    body = template(config)

    assert body["Parameters"]["SageMakerProjectName"]["Default"] == "fraud"
    assert body["Parameters"]["SageMakerProjectId"]["Default"] == "p-abc123"
    tagged = 0
    for resource in body["Resources"].values():
        tags = resource["Properties"].get("Tags")
        if tags is None:
            continue
        tagged += 1
        as_dict = tags if isinstance(tags, dict) else {t["Key"]: t["Value"] for t in tags}
        assert as_dict["sagemaker:project-name"] == {"Ref": "SageMakerProjectName"}
        assert as_dict["sagemaker:project-id"] == {"Ref": "SageMakerProjectId"}
        assert as_dict["project"] == NAME
    assert tagged >= 20
    assert context(config).stack_tags() == {
        "project": NAME,
        "managed-by": "run_pipeline.py",
        "sagemaker:project-name": "fraud",
        "sagemaker:project-id": "p-abc123",
    }
    # Without a project: no parameters, no project tags.
    plain = template()
    assert "Parameters" not in plain
    assert "sagemaker:project-id" not in json.dumps(plain)
    # The SageMaker Projects variant: Studio passes both, so no defaults.
    published = template(for_sagemaker_projects=True)
    assert published["Parameters"]["SageMakerProjectId"] == {
        "Type": "String",
        "Description": "SageMaker project ID",
        "MinLength": 1,
    }


def test_building_twice_gives_the_same_bytes(context) -> None:
    # A template that changed without a cause would make a change set every time.
    assert build(context()).json() == build(context()).json()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"stack": {"name": "1st"}}, r"\[stack\]\.name must start with a letter"),
        (
            {"stack": {"log_retention_days": 10}},
            r"\[stack\]\.log_retention_days must be one of .*, got 10",
        ),
        ({"stack": {"colour": "blue"}}, r"unknown key\(s\) in \[stack\]: colour"),
        ({"dr": {"region": "us-east-1", "bucket": "b-replica"}}, "is the primary region"),
        ({"dr": {"region": "cn-north-1", "bucket": "b-replica"}}, "another partition"),
        ({"dr": {"region": "us-west-2"}}, r"\[dr\]\.bucket is required"),
        ({"dr": {"bucket": "b-replica"}}, r"\[dr\]\.region is required"),
        (
            {"dr": {"region": "us-west-2", "bucket": "b-replica", "storage_class": "COLD"}},
            r"\[dr\]\.storage_class must be one of \"STANDARD\", .*, got 'COLD'",
        ),
        (
            {"dr": {"region": "us-west-2", "bucket": "b-replica", "prefixes": ["/abs/"]}},
            r"\[dr\]\.prefixes '/abs/' is not a key prefix",
        ),
        (
            {"dr": {"region": "us-west-2", "bucket": "Bad_Bucket"}},
            r"\[dr\]\.bucket is not an S3 bucket name .*, got 'Bad_Bucket'",
        ),
        (
            {"orchestrator": {"kind": "airflow"}},
            r'\[orchestrator\]\.kind must be one of "pipeline", "stepfunctions"',
        ),
    ],
)
def test_bad_stack_settings_name_the_key(context, section, message) -> None:
    with pytest.raises(ConfigError, match=message):
        context(make_config(**section))


def test_the_triggers_start_whatever_the_run_target_is(template, monkeypatch) -> None:
    """What issue 14's state machine needs: the triggers take their target, its permission
    and its input shape from pipelines/stack/orchestrator.py, nothing pipeline-specific."""
    from pipelines.stack import triggers
    from pipelines.stack.orchestrator import RunTarget

    class StateMachine(RunTarget):
        def schedule_target(self, parameters):
            return {"Arn": self.arn, "Input": json.dumps(dict(parameters))}

        def pipe_target_parameters(self, parameters):
            return {"StepFunctionStateMachineParameters": {"InvocationType": "FIRE_AND_FORGET"}}

    machine = {"Ref": "RetrainingStateMachine"}
    target = StateMachine("state machine", machine, "states:StartExecution", [machine], ())
    monkeypatch.setattr(triggers, "run_target", lambda ctx: target)

    body = template()["Resources"]

    schedule = body["NightlySchedule"]["Properties"]["Target"]
    assert schedule["Arn"] == machine
    assert json.loads(schedule["Input"])["InputDataUrl"] == f"s3://{BUCKET}/{NAME}/incoming/"
    assert body["DataArrivalPipe"]["Properties"]["Target"] == machine
    for role in ("SchedulerRole", "PipeRole"):
        assert statements(body[role])["StartRun"] == {
            "Sid": "StartRun",
            "Effect": "Allow",
            "Action": "states:StartExecution",
            "Resource": [machine],
        }
