"""The local Model Registry: SageMaker shapes, versions, approval, persistence."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from pipelines.local.registry import ModelRegistry, RegistryError
from pipelines.local.state import State

SPEC = {
    "Containers": [
        {"Image": "image:1", "ModelDataUrl": "s3://bucket/run/model.tar.gz", "Environment": {}}
    ],
    "SupportedContentTypes": ["text/csv"],
    "SupportedResponseMIMETypes": ["text/csv"],
}
METRICS = {"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": "s3://b/e"}}}


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(State(tmp_path / "state.db"), "us-east-1")


def test_register_returns_a_describe_model_package_document(registry: ModelRegistry) -> None:
    package = registry.register(
        "fraud-models",
        inference_specification=SPEC,
        model_metrics=METRICS,
        evaluation_metrics={"binary_classification_metrics": {"accuracy": {"value": 0.97}}},
        source_execution_arn="arn:aws:sagemaker:us-east-1:000000000000:pipeline/p/execution/x",
    )
    assert package["ModelPackageGroupName"] == "fraud-models"
    assert package["ModelPackageVersion"] == 1
    assert package["ModelPackageArn"] == (
        "arn:aws:sagemaker:us-east-1:000000000000:model-package/fraud-models/1"
    )
    assert package["ModelPackageStatus"] == "Completed"
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["InferenceSpecification"] == SPEC
    assert package["ModelMetrics"] == METRICS
    assert package["ModelDataUrl"] == "s3://bucket/run/model.tar.gz"
    assert package["MetadataProperties"]["GeneratedBy"].endswith("/execution/x")
    assert (
        package["EvaluationMetrics"]["binary_classification_metrics"]["accuracy"]["value"] == 0.97
    )
    assert package["CreationTime"].endswith("+00:00")
    group = registry.describe_group("fraud-models")
    assert group["ModelPackageGroupArn"].endswith(":model-package-group/fraud-models")


def test_versions_increase_per_group_and_list_is_newest_first(registry: ModelRegistry) -> None:
    for _ in range(3):
        registry.register("a", inference_specification=SPEC)
    registry.register("b", inference_specification=SPEC)
    assert [p["ModelPackageVersion"] for p in registry.list("a")] == [3, 2, 1]
    assert [p["ModelPackageVersion"] for p in registry.list("b")] == [1]
    assert len(registry.list()) == 4


def test_approval_changes_and_latest(registry: ModelRegistry) -> None:
    for _ in range(3):
        registry.register("g", inference_specification=SPEC)
    assert registry.latest("g") is None
    registry.update_approval(1, "Approved", group="g", description="looks good")
    registry.update_approval(2, "Approved", group="g")
    registry.update_approval(
        "arn:aws:sagemaker:us-east-1:000000000000:model-package/g/2", "Rejected"
    )
    latest = registry.latest("g")
    assert latest["ModelPackageVersion"] == 1
    assert latest["ApprovalDescription"] == "looks good"
    assert registry.latest("g", approval_status=None)["ModelPackageVersion"] == 3
    assert [p["ModelPackageVersion"] for p in registry.list("g", "Rejected")] == [2]
    described = registry.describe(2, "g")
    assert described["LastModifiedTime"] >= described["CreationTime"]


def test_the_registry_persists_across_instances(tmp_path: Path) -> None:
    ModelRegistry(State(tmp_path / "state.db"), "us-east-1").register(
        "g", inference_specification=SPEC, approval_status="Approved"
    )
    again = ModelRegistry(State(tmp_path / "state.db"), "us-east-1")
    assert again.latest("g")["ModelDataUrl"] == "s3://bucket/run/model.tar.gz"


def test_bad_requests_name_the_problem(registry: ModelRegistry) -> None:
    registry.register("g", inference_specification=SPEC)
    with pytest.raises(RegistryError, match="no local model package version 7"):
        registry.update_approval(7, "Approved", group="g")
    with pytest.raises(RegistryError, match="not one of"):
        registry.update_approval(1, "Maybe", group="g")
    with pytest.raises(RegistryError, match="not a model package version"):
        registry.describe("latest", "g")
    with pytest.raises(RegistryError, match="does not exist"):
        registry.describe_group("nope")


def _register_once(registry: ModelRegistry, digest: str, execution: str, status="Rejected"):
    return registry.register_once(
        "fraud-models",
        inference_specification=SPEC,
        approval_status=status,
        customer_metadata={"ModelContentDigest": digest},
        source_execution_arn=f"arn:aws:sagemaker:us-east-1:000000000000:pipeline/p/execution/{execution}",
    )


def test_the_same_model_content_is_registered_once_per_group(registry: ModelRegistry) -> None:
    first, created = _register_once(registry, "a" * 64, "one")
    assert created and first["ModelPackageVersion"] == 1
    # Whatever the approval status: a rejected model is still the same model.
    again, created = _register_once(registry, "a" * 64, "two", status="PendingManualApproval")
    assert not created and again["ModelPackageVersion"] == 1
    assert again["MetadataProperties"]["GeneratedBy"].endswith("/execution/one")
    other, created = _register_once(registry, "b" * 64, "three")
    assert created and other["ModelPackageVersion"] == 2
    # Without a digest every registration is a new version, as on SageMaker.
    assert (
        registry.register("fraud-models", inference_specification=SPEC)["ModelPackageVersion"] == 3
    )


def test_concurrent_registrations_of_one_model_give_one_version(tmp_path: Path) -> None:
    """Separate connections (as separate engine processes have), racing on one digest."""
    State(tmp_path / "state.db")
    barrier = threading.Barrier(8)
    created = []

    def register(label: str) -> None:
        registry = ModelRegistry(State(tmp_path / "state.db"), "us-east-1")
        barrier.wait()
        created.append(_register_once(registry, "c" * 64, label)[1])

    threads = [threading.Thread(target=register, args=(f"e{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(created) == [False] * 7 + [True]
    registry = ModelRegistry(State(tmp_path / "state.db"), "us-east-1")
    assert [p["ModelPackageVersion"] for p in registry.list("fraud-models")] == [1]


def test_a_register_model_step_whose_model_is_already_registered_says_so(engine) -> None:
    """What the registry's lock catches when two runs got past FindRegisteredModel and its
    claim (the second line of defence): the step succeeds with the existing version, and
    says SageMaker would have duplicated it."""
    from pipelines.app.progress import summarize
    from pipelines.local.orchestrator import RunOptions

    engine.store.put_bytes(b"model", "s3://bucket/model.tar.gz")
    step = {
        "Name": "RegisterModel",
        "Type": "RegisterModel",
        "Arguments": {
            "ModelPackageGroupName": "fraud-models",
            "InferenceSpecification": {
                "Containers": [{"Image": "image:1", "ModelDataUrl": "s3://bucket/model.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            "ModelApprovalStatus": "PendingManualApproval",
            "CustomerMetadataProperties": {"ModelContentDigest": "d" * 64},
        },
    }
    definition = {"Version": "2020-12-01", "Parameters": [], "Steps": [step]}
    first = engine.run(definition, "p", {}, RunOptions())
    second = engine.run(definition, "p", {}, RunOptions())
    assert first.succeeded and second.succeeded, second.failure_detail
    assert second.steps["RegisterModel"].properties["ModelPackageVersion"] == 1
    assert [p["ModelPackageVersion"] for p in engine.registry.list("fraud-models")] == [1]
    summary = summarize(second, engine.store)
    start = summary.details.index(
        "Outcome: Not registered again: version 1 of fraud-models already holds this model"
    )
    line = summary.details[start + 1]
    assert f"registered by execution {first.execution_id} while this one ran" in line
    assert "On SageMaker, where no lock spans executions" in line
    assert "this run would have registered a duplicate version" in line
    assert not [d for d in summary.details if d.startswith("Outcome: Registered")]
    assert not [d for d in summary.details if "approve with" in d]
