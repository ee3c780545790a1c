"""evaluation/evaluate.py: safe extraction, model and test checks, metrics, evaluation.json."""

from __future__ import annotations

import io
import json
import math
import re
import shutil
import tarfile
from pathlib import Path

import evaluate
import numpy as np
import pandas as pd
import preprocess
import pytest
import train
from evaluate import EvaluationError

from pipelines.sample_data import generate_transactions

pytestmark = pytest.mark.container

BINARY_SCHEMA = {
    "label_column": "y",
    "problem_type": "binary_classification",
    "classes": [0, 1],
    "numeric_features": ["x"],
    "categorical_features": [],
    "feature_columns": ["x"],
}


class FixedClassifier:
    """Stands in for a fitted Pipeline with known predictions."""

    def __init__(self, classes, predicted, positive_probability):
        self.classes_ = np.array(classes)
        self._predicted = np.array(predicted)
        self._positive = np.array(positive_probability)

    def predict(self, features):
        return self._predicted

    def predict_proba(self, features):
        return np.column_stack([1 - self._positive, self._positive])


class FixedRegressor:
    def __init__(self, predicted):
        self._predicted = np.array(predicted, dtype=float)

    def predict(self, features):
        return self._predicted


def add_file(tar: tarfile.TarFile, name: str, data: bytes = b"x") -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def add_special(tar: tarfile.TarFile, name: str, kind: bytes, linkname: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    tar.addfile(info)


def make_archive(path: Path, build) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        add_file(tar, "model.joblib")
        build(tar)
    return path


# --- safe extraction -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "member", "reason"),
    [
        (lambda tar: add_file(tar, "../evil.txt"), "../evil.txt", "'..' in its path"),
        (lambda tar: add_file(tar, "code/../../evil.txt"), "code/../../evil.txt", "'..'"),
        (
            lambda tar: add_special(tar, "passwd", tarfile.SYMTYPE, "/etc/passwd"),
            "passwd",
            "symlink 'passwd' -> '/etc/passwd' pointing outside",
        ),
        (
            lambda tar: add_special(tar, "code/up", tarfile.SYMTYPE, "../../evil.txt"),
            "code/up",
            "pointing outside",
        ),
        (
            lambda tar: add_special(tar, "hard", tarfile.LNKTYPE, "../evil.txt"),
            "hard",
            "hard link 'hard' -> '../evil.txt' pointing outside",
        ),
        (lambda tar: add_special(tar, "tty", tarfile.CHRTYPE), "tty", "devices and FIFOs"),
        (lambda tar: add_special(tar, "disk", tarfile.BLKTYPE), "disk", "devices and FIFOs"),
        (lambda tar: add_special(tar, "pipe", tarfile.FIFOTYPE), "pipe", "devices and FIFOs"),
    ],
)
def test_unsafe_members_are_refused(tmp_path, build, member, reason):
    archive = make_archive(tmp_path / "model.tar.gz", build)
    target = tmp_path / "work" / "extract"
    target.mkdir(parents=True)
    with pytest.raises(EvaluationError) as error:
        evaluate.safe_extract(archive, target)
    message = str(error.value)
    assert str(archive) in message and repr(member) in message and reason in message
    assert list(target.iterdir()) == []  # checked before anything is written
    assert not (tmp_path / "work" / "evil.txt").exists()
    assert not (tmp_path / "evil.txt").exists()


def test_absolute_member_is_refused(tmp_path):
    evil = tmp_path / "absolute_evil.txt"
    archive = make_archive(tmp_path / "model.tar.gz", lambda tar: add_file(tar, str(evil)))
    (tmp_path / "out").mkdir()
    with pytest.raises(EvaluationError, match="with an absolute path"):
        evaluate.safe_extract(archive, tmp_path / "out")
    assert not evil.exists()


def test_ordinary_archive_extracts(tmp_path):
    def build(tar):
        add_file(tar, "./metadata.json", b"{}")
        add_file(tar, "code/inference.py", b"# handler")
        add_special(tar, "code/handler.py", tarfile.SYMTYPE, "inference.py")

    archive = make_archive(tmp_path / "model.tar.gz", build)
    (tmp_path / "out").mkdir()
    evaluate.safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "metadata.json").read_bytes() == b"{}"
    assert (tmp_path / "out" / "code" / "handler.py").read_bytes() == b"# handler"


def test_corrupt_archive(tmp_path):
    (tmp_path / "model.tar.gz").write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    with pytest.raises(EvaluationError, match=r"cannot extract .*model\.tar\.gz"):
        evaluate.safe_extract(tmp_path / "model.tar.gz", tmp_path)


# --- loading the model and the test split ------------------------------------------------


def test_model_dir_without_a_model(tmp_path):
    (tmp_path / "readme.txt").write_text("")
    with pytest.raises(EvaluationError, match=r"no model\.tar\.gz .* \(found: readme\.txt\)"):
        evaluate.load_model(tmp_path, tmp_path / "work")


def test_archive_without_metadata(tmp_path):
    make_archive(tmp_path / "model.tar.gz", lambda tar: None)
    (tmp_path / "work").mkdir()
    with pytest.raises(EvaluationError, match=r"model\.tar\.gz has no metadata\.json"):
        evaluate.load_model(tmp_path, tmp_path / "work")


def test_archive_with_a_broken_model(tmp_path):
    make_archive(tmp_path / "model.tar.gz", lambda tar: add_file(tar, "metadata.json", b"{}"))
    (tmp_path / "work").mkdir()
    with pytest.raises(EvaluationError, match=r"cannot load model\.joblib from .*model\.tar\.gz"):
        evaluate.load_model(tmp_path, tmp_path / "work")


def test_model_must_match_label_and_problem_type():
    metadata = {"schema": BINARY_SCHEMA}
    assert evaluate.check_model(metadata, "y", "binary_classification") == BINARY_SCHEMA
    with pytest.raises(EvaluationError, match="--label-column is 'is_fraud' but the model was"):
        evaluate.check_model(metadata, "is_fraud", "binary_classification")
    with pytest.raises(EvaluationError, match="--problem-type is 'regression'"):
        evaluate.check_model(metadata, "y", "regression")


def test_test_split_checks(tmp_path):
    with pytest.raises(EvaluationError, match=r"test\.parquet not found"):
        evaluate.load_test(tmp_path, BINARY_SCHEMA)
    pd.DataFrame({"x": [1.0], "z": [0]}).to_parquet(tmp_path / "test.parquet")
    with pytest.raises(EvaluationError, match=r"lacks column\(s\) the model needs: y"):
        evaluate.load_test(tmp_path, BINARY_SCHEMA)
    pd.DataFrame({"x": [1.0, 2.0], "y": [0, 5]}).to_parquet(tmp_path / "test.parquet")
    with pytest.raises(EvaluationError, match=r"label values \['5'\] are not among"):
        evaluate.load_test(tmp_path, BINARY_SCHEMA)
    pd.DataFrame({"x": [1.0], "y": [None]}).to_parquet(tmp_path / "test.parquet")
    with pytest.raises(EvaluationError, match="rows without a 'y' label"):
        evaluate.load_test(tmp_path, BINARY_SCHEMA)


# --- metrics -------------------------------------------------------------------------------------


def value(metrics: dict, name: str) -> float:
    assert metrics[name]["standard_deviation"] == "NaN"
    return metrics[name]["value"]


def binary(model, frame, schema=BINARY_SCHEMA, threshold=None) -> dict:
    metadata = {} if threshold is None else {"decision_threshold": {"value": threshold}}
    predictions = evaluate.predict(model, frame, schema, metadata)
    return evaluate.score(predictions, schema)["binary_classification_metrics"]


def test_binary_metrics_by_hand():
    frame = pd.DataFrame({"x": range(5), "y": [0, 0, 0, 1, 1]})
    model = FixedClassifier([0, 1], [0, 1, 0, 1, 0], [0.1, 0.6, 0.2, 0.9, 0.4])
    metrics = binary(model, frame)
    # Without a decision threshold the estimator's own predict decides.
    # TP=1 (row 4), FP=1 (row 2), FN=1 (row 5), TN=2.
    assert value(metrics, "accuracy") == pytest.approx(3 / 5)
    assert value(metrics, "precision") == pytest.approx(1 / 2)
    assert value(metrics, "recall") == pytest.approx(1 / 2)
    assert value(metrics, "f1") == pytest.approx(1 / 2)
    assert value(metrics, "false_positive_rate") == pytest.approx(1 / 3)
    assert value(metrics, "true_negative_rate") == pytest.approx(2 / 3)
    # Positive scores 0.9 and 0.4 against negatives 0.1, 0.6, 0.2: 5 of 6 pairs ordered.
    assert value(metrics, "auc") == pytest.approx(5 / 6)
    # Ranked 0.9 (hit), 0.6, 0.4 (hit): precision 1 at recall 1/2, 2/3 at recall 1.
    assert value(metrics, "average_precision") == pytest.approx((1 + 2 / 3) / 2)
    losses = -np.log([0.9, 0.4, 0.4, 0.8, 0.9])  # the probability given to the true class
    assert value(metrics, "log_loss") == pytest.approx(losses.mean())
    assert metrics["confusion_matrix"] == {"0": {"0": 2, "1": 1}, "1": {"0": 1, "1": 1}}


def test_the_decision_threshold_in_the_metadata_is_the_operating_point():
    frame = pd.DataFrame({"x": range(5), "y": [0, 0, 0, 1, 1]})
    model = FixedClassifier([0, 1], [0, 1, 0, 1, 0], [0.1, 0.6, 0.2, 0.9, 0.4])
    # From 0.4 up: rows 2, 4 and 5 are flagged, both positives among them.
    metrics = binary(model, frame, threshold=0.4)
    assert metrics["confusion_matrix"] == {"0": {"0": 2, "1": 1}, "1": {"0": 0, "1": 2}}
    assert value(metrics, "recall") == 1.0 and value(metrics, "precision") == pytest.approx(2 / 3)
    # The ranking metrics do not depend on it.
    assert value(metrics, "auc") == pytest.approx(5 / 6)
    with pytest.raises(EvaluationError, match=r"decision_threshold\.value must be a probability"):
        binary(model, frame, threshold=1.5)


def test_text_classes_use_the_second_as_positive():
    schema = BINARY_SCHEMA | {"classes": ["fraud", "genuine"]}
    frame = pd.DataFrame({"x": range(4), "y": ["genuine", "genuine", "fraud", "genuine"]})
    model = FixedClassifier(
        ["fraud", "genuine"], ["genuine", "fraud", "fraud", "genuine"], [0.8, 0.3, 0.2, 0.9]
    )
    metrics = binary(model, frame, schema)
    assert value(metrics, "precision") == pytest.approx(1.0)  # 2 predicted genuine, both right
    assert value(metrics, "recall") == pytest.approx(2 / 3)
    assert value(metrics, "auc") == pytest.approx(1.0)
    assert metrics["confusion_matrix"]["genuine"] == {"fraud": 1, "genuine": 2}


def test_auc_is_null_with_one_class_in_test():
    frame = pd.DataFrame({"x": range(3), "y": [0, 0, 0]})
    model = FixedClassifier([0, 1], [0, 0, 1], [0.1, 0.2, 0.7])
    metrics = binary(model, frame)
    assert metrics["auc"] == {"value": None, "standard_deviation": "NaN"}
    assert metrics["average_precision"]["value"] is None
    assert "receiver_operating_characteristic_curve" not in metrics
    assert value(metrics, "accuracy") == pytest.approx(2 / 3)
    json.dumps(metrics, allow_nan=False)


def test_regression_metrics_by_hand():
    schema = BINARY_SCHEMA | {"problem_type": "regression"}
    frame = pd.DataFrame({"x": range(4), "y": [1.0, 2.0, 3.0, 4.0]})
    predictions = evaluate.predict(FixedRegressor([1, 2, 4, 2]), frame, schema, {})
    metrics = evaluate.score(predictions, schema)["regression_metrics"]
    assert value(metrics, "mse") == pytest.approx(1.25)  # errors 0, 0, 1, -2
    assert value(metrics, "rmse") == pytest.approx(math.sqrt(1.25))
    assert value(metrics, "mae") == pytest.approx(0.75)
    assert value(metrics, "r2") == pytest.approx(0.0)  # 1 - 5 / 5


# SageMaker's binary classification model-quality metrics ("Model Quality Metrics", Model
# Monitor guide): every documented key, plus average precision and log loss.
DOCUMENTED_BINARY_METRICS = {
    "confusion_matrix",
    "recall",
    "precision",
    "accuracy",
    "recall_best_constant_classifier",
    "precision_best_constant_classifier",
    "accuracy_best_constant_classifier",
    "true_positive_rate",
    "true_negative_rate",
    "false_positive_rate",
    "false_negative_rate",
    "receiver_operating_characteristic_curve",
    "precision_recall_curve",
    "auc",
    "f0_5",
    "f1",
    "f2",
    "f0_5_best_constant_classifier",
    "f1_best_constant_classifier",
    "f2_best_constant_classifier",
}


def test_the_documented_example_reproduces():
    """The example of "Model Quality Metrics": 3 negatives, 1 positive; the model flags two
    negatives and the positive, and ranks the positive first."""
    frame = pd.DataFrame({"x": range(4), "y": [0, 0, 0, 1]})
    model = FixedClassifier([0, 1], [0, 1, 1, 1], [0.2, 0.6, 0.7, 0.9])
    metrics = binary(model, frame)
    assert set(metrics) == DOCUMENTED_BINARY_METRICS | {"average_precision", "log_loss"}
    assert metrics["confusion_matrix"] == {"0": {"0": 1, "1": 2}, "1": {"0": 0, "1": 1}}
    expected = {
        "recall": 1.0,
        "precision": 1 / 3,
        "accuracy": 0.5,
        "recall_best_constant_classifier": 1.0,
        "precision_best_constant_classifier": 0.25,
        "accuracy_best_constant_classifier": 0.25,
        "true_positive_rate": 1.0,
        "true_negative_rate": 1 / 3,
        "false_positive_rate": 2 / 3,
        "false_negative_rate": 0.0,
        "auc": 1.0,
        "f0_5": 0.3846153846153846,
        "f1": 0.5,
        "f2": 0.7142857142857143,
        "f0_5_best_constant_classifier": 0.29411764705882354,
        "f1_best_constant_classifier": 0.4,
        "f2_best_constant_classifier": 0.625,
    }
    assert {name: value(metrics, name) for name in expected} == pytest.approx(expected)
    roc = metrics["receiver_operating_characteristic_curve"]
    assert roc["false_positive_rates"][0] == 0 and roc["true_positive_rates"][-1] == 1
    # From recall 0 (precision 1 by convention) to the positive found first.
    assert metrics["precision_recall_curve"] == {"precisions": [1.0, 1.0], "recalls": [0.0, 1.0]}


def test_curves_are_monotone_and_thinned(job):
    metrics = json.loads((job / "model_quality.json").read_text())["binary_classification_metrics"]
    roc = metrics["receiver_operating_characteristic_curve"]
    fpr, tpr = roc["false_positive_rates"], roc["true_positive_rates"]
    assert len(fpr) == len(tpr) <= evaluate.CURVE_POINTS
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert fpr == sorted(fpr) and tpr == sorted(tpr)
    pr = metrics["precision_recall_curve"]
    recalls, precisions = pr["recalls"], pr["precisions"]
    assert len(recalls) == len(precisions) <= evaluate.CURVE_POINTS
    assert recalls == sorted(recalls) and recalls[-1] == 1.0
    assert all(0 < precision <= 1 for precision in precisions)
    # A long curve keeps its ends: 200 of 10,000 points, the first and the last among them.
    rng = np.random.default_rng(0)
    positive = rng.random(10_000) < 0.3
    long = evaluate.roc_points(positive, rng.random(10_000))
    assert len(long["false_positive_rates"]) == evaluate.CURVE_POINTS
    assert long["false_positive_rates"][0] == 0 and long["true_positive_rates"][-1] == 1


def test_report_shape():
    metrics = {"binary_classification_metrics": {"accuracy": {"value": 1.0}}}
    metadata = {
        "hyperparameters": {"max_iter": 5},
        "training_rows": 10,
        "schema": {},
        "decision_threshold": {"value": 0.3, "objective": "f1"},
    }
    predictions = evaluate.Predictions(
        actual=np.array([0, 1, 0, 1]),
        score=np.zeros(4),
        positive=np.array([False, True, False, True]),
        flagged=np.zeros(4, dtype=bool),
        classes=[0, 1],
        decision_threshold=0.3,
    )
    report = evaluate.build_report(metrics, BINARY_SCHEMA, metadata, predictions)
    assert report["binary_classification_metrics"] == metrics["binary_classification_metrics"]
    assert report["evaluation"] == {
        "problem_type": "binary_classification",
        "label_column": "y",
        "test_rows": 4,
        "positive_class": 1,
        "positive_rows": 2,
        "decision_threshold": 0.3,
        "model": {
            "hyperparameters": {"max_iter": 5},
            "training_rows": 10,
            "validation_metrics": None,
            "decision_threshold": {"value": 0.3, "objective": "f1"},
            "library_versions": None,
        },
    }
    assert evaluate.model_quality(metrics, 4) == {
        "version": 0.0,
        "dataset": {"item_count": 4},
        **metrics,
    }


# --- the bootstrap -------------------------------------------------------------------------------


def synthetic(rows=2000, rate=0.05, signal=1.0, seed=0, ties=False) -> evaluate.Predictions:
    """Scores that carry `signal` (0: none) about a rare label."""
    rng = np.random.default_rng(seed)
    positive = rng.random(rows) < rate
    score = 1 / (1 + np.exp(-(rng.normal(size=rows) + signal * 2 * positive - 3)))
    if ties:
        score = score.round(2)
    return evaluate.Predictions(
        actual=positive.astype(int),
        score=score,
        positive=positive,
        flagged=score >= 0.2,
        classes=[0, 1],
        decision_threshold=0.2,
    )


@pytest.mark.parametrize("ties", [False, True])
def test_resampled_metrics_equal_scikit_learn(ties):
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        f1_score,
        log_loss,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    predictions = synthetic(ties=ties)
    y, p, f = predictions.positive, predictions.score, predictions.flagged
    library = {
        "average_precision": lambda w: average_precision_score(y, p, sample_weight=w),
        "auc": lambda w: roc_auc_score(y, p, sample_weight=w),
        "log_loss": lambda w: log_loss(y, p, sample_weight=w),
        "accuracy": lambda w: accuracy_score(y, f, sample_weight=w),
        "precision": lambda w: precision_score(y, f, sample_weight=w),
        "recall": lambda w: recall_score(y, f, sample_weight=w),
        "f1": lambda w: f1_score(y, f, sample_weight=w),
    }
    counts = np.random.default_rng(1).integers(0, 3, len(y)).astype(float)
    for metric, reference in library.items():
        resampled = evaluate.ResampledMetric(metric, predictions)
        for weights in (np.ones(len(y)), counts):
            assert resampled(weights) == pytest.approx(reference(weights), rel=1e-9), metric


def test_resampled_regression_metrics_equal_scikit_learn():
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    rng = np.random.default_rng(2)
    actual = rng.normal(size=300)
    predictions = evaluate.Predictions(actual=actual, score=actual + rng.normal(size=300) / 2)
    weights = rng.integers(0, 3, 300).astype(float)
    expected = {
        "mse": mean_squared_error(actual, predictions.score, sample_weight=weights),
        "mae": mean_absolute_error(actual, predictions.score, sample_weight=weights),
        "r2": r2_score(actual, predictions.score, sample_weight=weights),
    }
    expected["rmse"] = math.sqrt(expected["mse"])
    for metric, reference in expected.items():
        assert evaluate.ResampledMetric(metric, predictions)(weights) == pytest.approx(reference)
    # The mean predictor: MSE is the labels' variance, R2 is 0.
    unit = np.ones(300)
    assert evaluate.no_skill("mse", predictions, unit) == pytest.approx(np.var(actual))
    assert evaluate.no_skill("r2", predictions, unit) == 0.0


def test_a_random_rankings_expected_average_precision():
    from itertools import combinations

    from sklearn.metrics import average_precision_score

    # Every placement of 2 positives among 6 rows, equally likely: the exact mean.
    placements = list(combinations(range(6), 2))
    exact = np.mean(
        [
            average_precision_score(np.isin(range(6), chosen), -np.arange(6.0))
            for chosen in placements
        ]
    )
    assert evaluate.expected_random_average_precision(2, 6) == pytest.approx(exact)
    assert evaluate.expected_random_average_precision(1, 3) == pytest.approx(
        (1 + 1 / 2 + 1 / 3) / 3
    )
    # Close to the positive rate for many positives, above it for few.
    assert evaluate.expected_random_average_precision(230, 7500) == pytest.approx(
        230 / 7500, abs=0.002
    )
    assert evaluate.expected_random_average_precision(14, 450) > 14 / 450 + 0.01


def test_resamples_keep_the_class_counts_and_the_seed_repeats_them():
    predictions = synthetic(rows=500)
    bootstrap = evaluate.Bootstrap(resamples=100, seed=5)
    first = list(bootstrap.weights(predictions))
    assert len(first) == 100
    for weights in first:
        assert weights.sum() == 500
        assert weights @ predictions.positive == predictions.positive.sum()
    again = list(bootstrap.weights(predictions))
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    other = next(evaluate.Bootstrap(resamples=100, seed=6).weights(predictions))
    assert not np.array_equal(first[0], other)


def evidence(metric="average_precision", challenger=None, champion=None, higher=True, **kwargs):
    return evaluate.gather_evidence(
        metric, higher, challenger or synthetic(), champion, evaluate.Bootstrap(**kwargs)
    )


def test_a_model_without_signal_does_not_beat_the_baseline():
    for metric in ("average_precision", "auc", "log_loss", "precision", "recall", "f1"):
        noise = synthetic(signal=0.0, seed=3)
        found = evidence(metric, noise, higher=metric != "log_loss")
        assert found["baseline_p_value"] > 0.025, metric
    signal = evidence("average_precision", synthetic(signal=1.5))
    assert signal["baseline_advantage_interval"]["lower"] > 0
    assert signal["baseline_p_value"] == 1 / 1001  # no shuffle does as well
    assert signal["baseline"] == pytest.approx(synthetic().positive.mean(), abs=0.01)


@pytest.mark.parametrize("ties", [False, True])
def test_the_permutation_test_scores_like_scikit_learn(ties):
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        f1_score,
        log_loss,
        mean_absolute_error,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    predictions = synthetic(ties=ties)
    y, p, f = predictions.positive, predictions.score, predictions.flagged
    shuffled = np.random.default_rng(4).permutation(y)
    library = {
        "average_precision": lambda labels: average_precision_score(labels, p),
        "auc": lambda labels: roc_auc_score(labels, p),
        "log_loss": lambda labels: log_loss(labels, p),
        "accuracy": lambda labels: accuracy_score(labels, f),
        "precision": lambda labels: precision_score(labels, f),
        "recall": lambda labels: recall_score(labels, f),
        "f1": lambda labels: f1_score(labels, f),
    }
    for metric, reference in library.items():
        test = evaluate.PermutationTest(metric, predictions)
        for labels in (y, shuffled):
            assert test.value(np.flatnonzero(labels)) == pytest.approx(reference(labels)), metric
    regression = evaluate.Predictions(actual=np.arange(50.0), score=np.arange(50.0) ** 0.5)
    order = np.random.default_rng(5).permutation(50)
    assert evaluate.PermutationTest("mae", regression).value(order) == pytest.approx(
        mean_absolute_error(np.arange(50.0)[order], regression.score)
    )


def test_the_permutation_p_value_is_calibrated_and_seeded():
    """Without signal a p-value is uniform: below 0.025 about 2.5% of the time."""
    low = 0
    for trial in range(200):
        noise = synthetic(rows=400, rate=0.04, signal=0.0, seed=100 + trial)
        p = evaluate.PermutationTest("average_precision", noise).p_value(True, 200, trial)
        low += p < 0.025
    assert low <= 12  # 2.5% of 200 is 5; 12 or more would happen with probability < 0.5%
    test = evaluate.PermutationTest("auc", synthetic(signal=0.2))
    assert test.p_value(True, 300, 1) == test.p_value(True, 300, 1)


def test_an_equal_champion_ties_on_every_resample():
    ours = synthetic(signal=1.0)
    theirs = evaluate.Predictions(**{**ours.__dict__, "score": ours.score.copy()})
    found = evidence(challenger=ours, champion=theirs)
    assert found["improvement_interval"] == {"lower": 0.0, "upper": 0.0}
    assert found["identical_scores"] is True


# --- the decision ------------------------------------------------------------------------------


def decide(
    challenger,
    champion,
    threshold=0.3,
    margin=0.0,
    higher=True,
    same=False,
    metric="average_precision",
    found=None,
):
    group = "regression" if metric in ("rmse", "mse", "mae", "r2") else "binary_classification"
    found = found or {
        "interval": {"lower": challenger - 0.05, "upper": challenger + 0.05},
        "baseline": 0.03,
        "baseline_advantage_interval": {"lower": 0.2, "upper": 0.4},
        "baseline_p_value": 0.001,
    }
    return evaluate.decide(
        challenger,
        found,
        champion,
        metric,
        group,
        higher,
        threshold,
        margin,
        evaluate.Bootstrap(),
        same,
    )


def scored(value: float, version: str = "3", metric: str = "average_precision") -> dict:
    group = "regression_metrics" if metric == "rmse" else "binary_classification_metrics"
    return {"status": "scored", "version": version, group: {metric: {"value": value}}}


def with_improvement(
    lower: float, upper: float, baseline_lower: float = 0.2, chance: float = 0.001
) -> dict:
    return {
        "interval": {"lower": 0.3, "upper": 0.5},
        "baseline": 0.03,
        "baseline_advantage_interval": {"lower": baseline_lower, "upper": 0.4},
        "baseline_p_value": chance,
        "improvement_interval": {"lower": lower, "upper": upper},
        "identical_scores": lower == upper == 0,
    }


def test_without_a_champion_the_threshold_and_the_baseline_decide():
    decision = decide(0.4, {"status": "none"})
    assert decision["register"] and decision["beats_baseline"] and decision["passes_threshold"]
    assert decision["reason"] == (
        "average_precision 0.4000 clears the threshold 0.3000 by 0.1000; it beats the no-skill "
        "baseline 0.0300 (a random ranking's expected average precision, about the positive "
        "rate): a model without signal scores as well on these rows with probability 0.001 "
        "(permutation test), and the 95% interval of its advantage is 0.2000 to 0.4000; no "
        "approved champion yet"
    )
    below = decide(0.25, {"status": "none"})
    assert not below["register"] and below["beats_champion"] and not below["passes_threshold"]
    assert below["reason"].startswith(
        "average_precision 0.2500 is 0.0500 below the threshold 0.3000 (MetricThreshold)"
    )


def test_no_signal_fails_whatever_the_threshold():
    found = {
        "interval": {"lower": 0.02, "upper": 0.05},
        "baseline": 0.032,
        "baseline_advantage_interval": {"lower": -0.01, "upper": 0.02},
        "baseline_p_value": 0.31,
    }
    decision = decide(0.035, {"status": "none"}, threshold=0.0, found=found)
    assert decision["passes_threshold"] and not decision["beats_baseline"]
    assert not decision["register"]
    assert (
        "it does not beat the no-skill baseline 0.0320 (a random ranking's expected average "
        "precision, about the positive rate): a model without signal scores as well on these "
        "rows with probability 0.310 (permutation test), not below 0.025 and the 95% interval "
        "of its advantage, -0.0100 to 0.0200, is not above 0, so the model shows no reliable "
        "signal"
    ) in decision["reason"]
    assert decision["baseline"] == 0.032 and decision["challenger_interval"] == found["interval"]
    assert decision["baseline_p_value"] == 0.31


def test_either_test_of_the_baseline_can_fail_alone():
    # A bootstrap interval above the baseline is not enough when shuffled labels do as well
    # 7% of the time (few positives make the interval too narrow) ...
    lucky = decide(0.075, {"status": "none"}, found=with_improvement(0, 0, 0.001, chance=0.07))
    assert not lucky["beats_baseline"] and not lucky["register"]
    assert "with probability 0.070 (permutation test), not below 0.025, so" in lucky["reason"]
    # ... and a significant association is not enough below the no-skill value.
    weak = decide(0.05, {"status": "none"}, found=with_improvement(0, 0, -0.002, chance=0.01))
    assert not weak["beats_baseline"]
    assert "it does not beat the no-skill baseline 0.0300" in weak["reason"]
    assert "-0.0020 to 0.4000, is not above 0, so" in weak["reason"]


def test_the_challenger_must_beat_the_champion_at_the_lower_end_of_the_interval():
    better = decide(0.45, scored(0.40), found=with_improvement(0.01, 0.09))
    assert better["register"] and better["improvement"] == pytest.approx(0.05)
    assert better["improvement_interval"] == {"lower": 0.01, "upper": 0.09}
    assert (
        "it beats champion v3 (0.4000) by 0.0500 (95% interval of the improvement 0.0100 to "
        "0.0900, margin 0.0000)"
    ) in better["reason"]

    noise = decide(0.45, scored(0.44), found=with_improvement(-0.02, 0.04))
    assert not noise["beats_champion"] and not noise["register"]
    assert "it does not reliably beat champion v3 (0.4400): improvement 0.0100" in noise["reason"]

    short = decide(0.45, scored(0.40), margin=0.02, found=with_improvement(0.01, 0.09))
    assert not short["beats_champion"]
    assert "is 0.0100 short of the margin 0.0200 (ChampionMargin)" in short["reason"]
    assert decide(0.45, scored(0.40), margin=0.01, found=with_improvement(0.01, 0.09))[
        "beats_champion"
    ]


def test_an_equal_champion_is_not_beaten():
    tie = decide(0.45, scored(0.45), found=with_improvement(0.0, 0.0))
    assert not tie["beats_champion"] and not tie["register"]
    assert "it ties champion v3 (0.4500): identical scores on every row" in tie["reason"]


def test_all_rules_are_reported_when_all_fail():
    found = with_improvement(-0.2, -0.1, baseline_lower=-0.01)
    decision = decide(0.25, scored(0.40), found=found)
    assert not any(
        decision[rule] for rule in ("passes_threshold", "beats_baseline", "beats_champion")
    )
    reason = decision["reason"]
    assert "below the threshold" in reason and "does not beat the no-skill" in reason
    assert "does not reliably beat champion v3" in reason


def test_lower_is_better_metrics_compare_the_other_way():
    found = with_improvement(0.1, 0.9)
    decision = decide(
        2.0, scored(2.5, metric="rmse"), threshold=3.0, higher=False, metric="rmse", found=found
    )
    assert decision["register"] and decision["improvement"] == pytest.approx(0.5)
    above = decide(3.5, {"status": "none"}, threshold=3.0, higher=False, metric="rmse")
    assert "rmse 3.5000 is 0.5000 above the threshold 3.0000" in above["reason"]
    # Signed so that a positive advantage is better: the model's RMSE below the mean's.
    predictions = evaluate.Predictions(actual=np.arange(200.0), score=np.arange(200.0) + 1)
    found = evaluate.gather_evidence("rmse", False, predictions, None, evaluate.Bootstrap())
    assert found["baseline"] == pytest.approx(np.std(np.arange(200.0)))
    assert found["baseline_advantage_interval"]["lower"] > 0


def test_an_unscorable_champion_leaves_the_decision_to_the_other_rules():
    champion = {
        "status": "unscorable",
        "version": "2",
        "error": "lacks column(s) the model needs: x",
    }
    decision = decide(0.45, champion)
    assert decision["register"]
    assert "champion v2 cannot score today's test data (lacks column(s)" in decision["reason"]


def test_the_same_model_is_not_registered_again():
    decision = decide(0.45, scored(0.45), same=True, found=with_improvement(0.0, 0.0))
    assert not decision["register"]
    assert "it is champion v3's own model (identical model files)" in decision["reason"]


def test_an_undefined_metric_registers_nothing():
    decision = evaluate.decide(
        None,
        None,
        {"status": "none"},
        "auc",
        "binary_classification",
        True,
        0.5,
        0.0,
        evaluate.Bootstrap(),
    )
    assert not decision["register"] and not decision["beats_baseline"]
    assert decision["reason"] == "auc is undefined on this test split"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--metric", "rmse"], "--metric 'rmse' is not a binary_classification metric"),
        (["--metric", "log_loss"], "--higher-is-better true contradicts --metric 'log_loss'"),
        (["--confidence-level", "1.5"], "--confidence-level must be between 0 and 1"),
        (["--resamples", "10"], "--resamples must be at least 100"),
    ],
)
def test_bad_decision_arguments(tmp_path, options, expected):
    args = ["--label-column", "y", "--problem-type", "binary_classification"]
    with pytest.raises(EvaluationError, match=re.escape(expected)):
        evaluate.parse_args([*args, *options])


# --- the whole job -------------------------------------------------------------------------------


def prepare_and_train(root: Path, frame: pd.DataFrame, **train_options: str) -> Path:
    """Preprocess + train on `frame`; model.tar.gz packed as SageMaker packs it."""
    (root / "input").mkdir(parents=True)
    frame.to_csv(root / "input" / "data.csv", index=False)
    code = preprocess.main(
        [
            *("--label-column", "is_fraud", "--problem-type", "binary_classification"),
            *("--input-dir", str(root / "input"), "--train-dir", str(root / "train")),
            *("--validation-dir", str(root / "validation"), "--test-dir", str(root / "test")),
            *("--exit-message-file", str(root / "message")),
        ]
    )
    assert code == 0
    env = {
        "SM_MODEL_DIR": str(root / "trained"),
        "SM_CHANNEL_TRAIN": str(root / "train"),
        "SM_CHANNEL_VALIDATION": str(root / "validation"),
        "SM_OUTPUT_DATA_DIR": str(root / "output"),
    }
    options = {"--max-iter": "60", **train_options}
    train.run(train.parse_args([item for pair in options.items() for item in pair], env=env))
    (root / "model").mkdir()
    with tarfile.open(root / "model" / "model.tar.gz", "w:gz") as tar:
        for path in sorted((root / "trained").rglob("*")):
            tar.add(path, arcname=path.relative_to(root / "trained").as_posix(), recursive=False)
    return root


@pytest.fixture(scope="module")
def job(tmp_path_factory) -> Path:
    root = prepare_and_train(
        tmp_path_factory.mktemp("evaluate"), generate_transactions(3_000, seed=13)
    )
    out = root / "first-run"
    assert evaluate.main(evaluate_args(root, out)) == 0
    (root / "model_quality.json").write_bytes(
        (out / "evaluation" / "model_quality.json").read_bytes()
    )
    return root


def evaluate_args(root: Path, out: Path, **overrides: str) -> list[str]:
    options = {
        "--label-column": "is_fraud",
        "--problem-type": "binary_classification",
        "--model-dir": str(root / "model"),
        "--test-dir": str(root / "test"),
        "--output-dir": str(out / "evaluation"),
        "--exit-message-file": str(out / "message"),
        **overrides,
    }
    return [item for pair in options.items() for item in pair]


def no_champion(tmp_path: Path) -> Path:
    marker = tmp_path / "no-champion"
    marker.mkdir(exist_ok=True)
    (marker / evaluate.NO_CHAMPION_MARKER).write_bytes(b"")
    return marker


def deciding(champion: Path, version: str = "none", **extra: str) -> dict[str, str]:
    return {
        "--champion-dir": str(champion),
        "--champion-version": version,
        "--metric": "average_precision",
        "--threshold": "0.2",
        "--champion-margin": "0.0",
        **extra,
    }


def test_run_writes_the_model_quality_and_the_evaluation(job, tmp_path, capsys):
    assert evaluate.main(evaluate_args(job, tmp_path)) == 0
    quality = json.loads((tmp_path / "evaluation" / "model_quality.json").read_text())
    report = json.loads((tmp_path / "evaluation" / "evaluation.json").read_text(encoding="utf-8"))
    test_rows = len(pd.read_parquet(job / "test" / "test.parquet"))
    assert quality["version"] == 0.0 and quality["dataset"] == {"item_count": test_rows}
    assert set(quality) == {"version", "dataset", "binary_classification_metrics"}
    metrics = quality["binary_classification_metrics"]
    assert report["binary_classification_metrics"] == metrics
    assert set(metrics) >= DOCUMENTED_BINARY_METRICS
    assert metrics["average_precision"]["value"] >= 0.2
    assert metrics["auc"]["value"] >= 0.75
    matrix = metrics["confusion_matrix"]
    assert sum(count for row in matrix.values() for count in row.values()) == test_rows
    evaluation = report["evaluation"]
    assert evaluation["test_rows"] == test_rows and evaluation["positive_class"] == 1
    assert evaluation["model"]["hyperparameters"]["max_iter"] == 60
    # Precision and recall are measured at the threshold Train chose on the validation split.
    chosen = evaluation["model"]["decision_threshold"]["value"]
    assert evaluation["decision_threshold"] == chosen
    model, metadata = evaluate.load_model(job / "model", tmp_path / "extract")
    test = pd.read_parquet(job / "test" / "test.parquet")
    probability = model.predict_proba(evaluate.model_input(test, metadata["schema"]))[:, 1]
    flagged_positives = int(((probability >= chosen) & (test["is_fraud"] == 1)).sum())
    assert matrix["1"]["1"] == flagged_positives
    assert "test:average_precision=" in capsys.readouterr().out


def test_extracted_model_dir_works_too(job, tmp_path):
    args = evaluate_args(job, tmp_path, **{"--model-dir": str(job / "trained")})
    assert evaluate.main(args) == 0


def test_output_is_deterministic(job, tmp_path):
    for name in ("a", "b"):
        args = evaluate_args(job, tmp_path / name, **deciding(job / "model", "2"))
        assert evaluate.main(args) == 0
    for file in ("evaluation.json", "model_quality.json"):
        first, second = (tmp_path / name / "evaluation" / file for name in ("a", "b"))
        assert first.read_bytes() == second.read_bytes()


def test_failure_is_written_and_printed_last(job, tmp_path, capsys):
    args = evaluate_args(job, tmp_path, **{"--label-column": "fraud"})
    assert evaluate.main(args) == 1
    message = (tmp_path / "message").read_text(encoding="utf-8")
    assert message == "--label-column is 'fraud' but the model was trained with 'is_fraud'"
    assert capsys.readouterr().err.splitlines()[-1] == f"ERROR: {message}"
    assert not (tmp_path / "evaluation").exists()


def test_bad_problem_type_argument(tmp_path):
    args = [
        "--label-column",
        "y",
        "--problem-type",
        "ranking",
        "--exit-message-file",
        str(tmp_path / "message"),
    ]
    assert evaluate.main(args) == 1
    assert "--problem-type must be one of" in (tmp_path / "message").read_text(encoding="utf-8")


def test_missing_required_argument_still_reports(tmp_path):
    assert evaluate.main(["--exit-message-file", str(tmp_path / "message")]) == 1
    message = (tmp_path / "message").read_text(encoding="utf-8")
    assert message.startswith("invalid arguments: the following arguments are required")


# --- champion / challenger on real models --------------------------------------------------------


def test_champion_scoring_on_the_same_rows(job, tmp_path):
    schema = json.loads((job / "train" / "schema.json").read_text())
    assert evaluate.score_champion(no_champion(tmp_path), "none", job / "test", schema) == (
        {"status": "none"},
        None,
    )
    champion, predictions = evaluate.score_champion(job / "model", "4", job / "test", schema)
    assert champion["status"] == "scored" and champion["version"] == "4"
    assert champion["binary_classification_metrics"]["average_precision"]["value"] >= 0.2
    assert len(predictions.score) == len(pd.read_parquet(job / "test" / "test.parquet"))
    other_label, none = evaluate.score_champion(
        job / "model", "4", job / "test", {**schema, "label_column": "amount"}
    )
    assert other_label["status"] == "unscorable" and none is None
    assert "--label-column is 'amount'" in other_label["error"]


def test_run_with_the_same_model_as_champion_registers_nothing(job, tmp_path, capsys):
    assert evaluate.main(evaluate_args(job, tmp_path, **deciding(job / "model", "7"))) == 0
    report = json.loads((tmp_path / "evaluation" / "evaluation.json").read_text(encoding="utf-8"))
    mine = report["binary_classification_metrics"]["average_precision"]["value"]
    theirs = report["champion"]["binary_classification_metrics"]["average_precision"]["value"]
    assert mine == theirs  # the same model, scored on the same rows
    decision = report["decision"]
    assert decision["champion_version"] == "7" and decision["champion"] == theirs
    assert decision["improvement_interval"] == {"lower": 0.0, "upper": 0.0}
    assert decision["beats_champion"] is False and decision["register"] is False
    assert "identical model files" in decision["reason"]
    assert "decision: do not register: average_precision" in capsys.readouterr().out


def test_an_equal_retrained_champion_is_its_own_model(job, tmp_path):
    """Retrained from the same data and code: another archive of the same files (packed
    differently, as SageMaker packs it), so the same content digest."""
    twin = tmp_path / "twin"
    twin.mkdir()
    with tarfile.open(twin / "model.tar.gz", "w:gz") as tar:
        for path in sorted((job / "trained").rglob("*")):
            tar.add(
                path, arcname="./" + path.relative_to(job / "trained").as_posix(), recursive=False
            )
    assert (twin / "model.tar.gz").read_bytes() != (job / "model" / "model.tar.gz").read_bytes()
    digest = evaluate.content_digest(job / "model")
    assert evaluate.content_digest(twin) == digest == evaluate.content_digest(job / "trained")
    assert evaluate.main(evaluate_args(job, tmp_path, **deciding(twin, "3"))) == 0
    report = json.loads((tmp_path / "evaluation" / "evaluation.json").read_text())
    assert report["evaluation"]["model"]["content_digest"] == digest
    assert report["champion"]["content_digest"] == digest
    decision = report["decision"]
    assert not decision["beats_champion"] and not decision["register"]
    assert "it is champion v3's own model (identical model files)" in decision["reason"]


def test_a_model_with_one_changed_file_has_another_content_digest(job, tmp_path):
    changed = tmp_path / "changed"
    shutil.copytree(job / "trained", changed)
    metadata = changed / "metadata.json"
    metadata.write_text(metadata.read_text() + " ")
    assert evaluate.content_digest(changed) != evaluate.content_digest(job / "trained")


def test_a_clearly_weaker_champion_is_beaten(job, tmp_path):
    weak = prepare_and_train(
        tmp_path / "weak",
        generate_transactions(3_000, seed=13),
        **{"--max-iter": "1", "--max-leaf-nodes": "2"},
    )
    options = deciding(weak / "model", "1", **{"--resamples": "300"})
    assert evaluate.main(evaluate_args(job, tmp_path, **options)) == 0
    decision = json.loads((tmp_path / "evaluation" / "evaluation.json").read_text())["decision"]
    assert decision["improvement_interval"]["lower"] > 0
    assert decision["register"], decision["reason"]
    assert "it beats champion v1" in decision["reason"]


def test_a_model_trained_on_shuffled_labels_is_not_registered(tmp_path):
    """No signal: the features say nothing about the (shuffled) label. Accuracy is about
    0.97 (the share of genuine rows), which the old accuracy >= 0.90 gate let through."""
    frame = generate_transactions(3_000, seed=13)
    frame["is_fraud"] = np.random.default_rng(0).permutation(frame["is_fraud"].to_numpy())
    root = prepare_and_train(tmp_path / "noise", frame)
    options = deciding(no_champion(tmp_path), **{"--threshold": "0.0"})
    assert evaluate.main(evaluate_args(root, tmp_path, **options)) == 0
    report = json.loads((tmp_path / "evaluation" / "evaluation.json").read_text())
    decision = report["decision"]
    assert decision["passes_threshold"]  # a threshold of 0 cannot stop it ...
    assert not decision["beats_baseline"] and not decision["register"]  # ... the baseline does
    assert decision["baseline_advantage_interval"]["lower"] <= 0
    assert "so the model shows no reliable signal" in decision["reason"]
    # At the estimator's own cut-off of 0.5 it flags (almost) nothing: accuracy above 0.9.
    model, metadata = evaluate.load_model(root / "model", tmp_path / "extract")
    schema = metadata["schema"]
    own = evaluate.predict(model, evaluate.load_test(root / "test", schema), schema, {})
    assert evaluate.score(own, schema)["binary_classification_metrics"]["accuracy"]["value"] > 0.9


def test_a_champion_needs_the_threshold_to_decide(job, tmp_path):
    args = evaluate_args(job, tmp_path, **{"--champion-dir": str(job / "model")})
    assert evaluate.main(args) == 1
    assert "--champion-dir needs --metric and --threshold" in (tmp_path / "message").read_text()
