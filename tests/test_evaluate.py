"""evaluation/evaluate.py: safe extraction, model and test checks, metrics, evaluation.json."""

from __future__ import annotations

import io
import json
import math
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


def test_binary_metrics_by_hand():
    frame = pd.DataFrame({"x": range(5), "y": [0, 0, 0, 1, 1]})
    model = FixedClassifier([0, 1], [0, 1, 0, 1, 0], [0.1, 0.6, 0.2, 0.9, 0.4])
    metrics = evaluate.score_model(model, frame, BINARY_SCHEMA)["binary_classification_metrics"]
    # TP=1 (row 4), FP=1 (row 2), FN=1 (row 5), TN=2.
    assert value(metrics, "accuracy") == pytest.approx(3 / 5)
    assert value(metrics, "precision") == pytest.approx(1 / 2)
    assert value(metrics, "recall") == pytest.approx(1 / 2)
    assert value(metrics, "f1") == pytest.approx(1 / 2)
    # Positive scores 0.9 and 0.4 against negatives 0.1, 0.6, 0.2: 5 of 6 pairs ordered.
    assert value(metrics, "auc") == pytest.approx(5 / 6)
    assert metrics["confusion_matrix"] == {"0": {"0": 2, "1": 1}, "1": {"0": 1, "1": 1}}


def test_text_classes_use_the_second_as_positive():
    schema = BINARY_SCHEMA | {"classes": ["fraud", "genuine"]}
    frame = pd.DataFrame({"x": range(4), "y": ["genuine", "genuine", "fraud", "genuine"]})
    model = FixedClassifier(
        ["fraud", "genuine"], ["genuine", "fraud", "fraud", "genuine"], [0.8, 0.3, 0.2, 0.9]
    )
    metrics = evaluate.score_model(model, frame, schema)["binary_classification_metrics"]
    assert value(metrics, "precision") == pytest.approx(1.0)  # 2 predicted genuine, both right
    assert value(metrics, "recall") == pytest.approx(2 / 3)
    assert value(metrics, "auc") == pytest.approx(1.0)
    assert metrics["confusion_matrix"]["genuine"] == {"fraud": 1, "genuine": 2}


def test_auc_is_null_with_one_class_in_test():
    frame = pd.DataFrame({"x": range(3), "y": [0, 0, 0]})
    model = FixedClassifier([0, 1], [0, 0, 1], [0.1, 0.2, 0.7])
    metrics = evaluate.score_model(model, frame, BINARY_SCHEMA)["binary_classification_metrics"]
    assert metrics["auc"] == {"value": None, "standard_deviation": "NaN"}
    assert value(metrics, "accuracy") == pytest.approx(2 / 3)
    json.dumps(metrics, allow_nan=False)


def test_regression_metrics_by_hand():
    schema = BINARY_SCHEMA | {"problem_type": "regression"}
    frame = pd.DataFrame({"x": range(4), "y": [1.0, 2.0, 3.0, 4.0]})
    metrics = evaluate.score_model(FixedRegressor([1, 2, 4, 2]), frame, schema)
    metrics = metrics["regression_metrics"]
    assert value(metrics, "mse") == pytest.approx(1.25)  # errors 0, 0, 1, -2
    assert value(metrics, "rmse") == pytest.approx(math.sqrt(1.25))
    assert value(metrics, "mae") == pytest.approx(0.75)
    assert value(metrics, "r2") == pytest.approx(0.0)  # 1 - 5 / 5


def test_report_shape():
    metrics = {"binary_classification_metrics": {"accuracy": {"value": 1.0}}}
    metadata = {"hyperparameters": {"max_iter": 5}, "training_rows": 10, "schema": {}}
    report = evaluate.build_report(metrics, BINARY_SCHEMA, metadata, test_rows=4)
    assert report["binary_classification_metrics"] == metrics["binary_classification_metrics"]
    assert report["evaluation"] == {
        "problem_type": "binary_classification",
        "label_column": "y",
        "test_rows": 4,
        "positive_class": 1,
        "model": {
            "hyperparameters": {"max_iter": 5},
            "training_rows": 10,
            "validation_metrics": None,
            "library_versions": None,
        },
    }


# --- the whole job -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def job(tmp_path_factory) -> Path:
    """Preprocess + train on a small sample; model.tar.gz packed as SageMaker packs it."""
    root = tmp_path_factory.mktemp("evaluate")
    (root / "input").mkdir()
    generate_transactions(3_000, seed=13).to_csv(root / "input" / "data.csv", index=False)
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
    train.run(train.parse_args(["--max-iter", "60"], env=env))
    (root / "model").mkdir()
    with tarfile.open(root / "model" / "model.tar.gz", "w:gz") as tar:
        for path in sorted((root / "trained").rglob("*")):
            tar.add(path, arcname=path.relative_to(root / "trained").as_posix(), recursive=False)
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


def test_run_writes_evaluation_json(job, tmp_path, capsys):
    assert evaluate.main(evaluate_args(job, tmp_path)) == 0
    report = json.loads((tmp_path / "evaluation" / "evaluation.json").read_text(encoding="utf-8"))
    metrics = report["binary_classification_metrics"]
    assert set(metrics) == {"accuracy", "precision", "recall", "f1", "auc", "confusion_matrix"}
    assert metrics["accuracy"]["value"] >= 0.9
    assert metrics["auc"]["value"] >= 0.75
    test_rows = len(pd.read_parquet(job / "test" / "test.parquet"))
    matrix = metrics["confusion_matrix"]
    assert sum(count for row in matrix.values() for count in row.values()) == test_rows
    evaluation = report["evaluation"]
    assert evaluation["test_rows"] == test_rows and evaluation["positive_class"] == 1
    assert evaluation["model"]["hyperparameters"]["max_iter"] == 60
    assert "test:accuracy=" in capsys.readouterr().out


def test_extracted_model_dir_works_too(job, tmp_path):
    args = evaluate_args(job, tmp_path, **{"--model-dir": str(job / "trained")})
    assert evaluate.main(args) == 0


def test_output_is_deterministic(job, tmp_path):
    for name in ("a", "b"):
        assert evaluate.main(evaluate_args(job, tmp_path / name)) == 0
    first, second = (tmp_path / name / "evaluation" / "evaluation.json" for name in ("a", "b"))
    assert first.read_bytes() == second.read_bytes()


def test_scoring_twice_gives_the_same_result(job, tmp_path):
    """score_model is reusable, e.g. for a champion model scored on the same split."""
    model, metadata = evaluate.load_model(job / "model", tmp_path)
    schema = evaluate.check_model(metadata, "is_fraud", "binary_classification")
    test = evaluate.load_test(job / "test", schema)
    assert evaluate.score_model(model, test, schema) == evaluate.score_model(model, test, schema)


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


# --- champion / challenger -----------------------------------------------------------------------


def decide(
    challenger, champion, threshold=0.9, margin=0.0, higher=True, same=False, metric="accuracy"
):
    group = "binary_classification" if metric == "accuracy" else "regression"
    return evaluate.decide(challenger, champion, metric, group, higher, threshold, margin, same)


def scored(value: float, version: str = "3", metric: str = "accuracy") -> dict:
    group = "binary_classification_metrics" if metric == "accuracy" else "regression_metrics"
    return {"status": "scored", "version": version, group: {metric: {"value": value}}}


def test_without_a_champion_the_threshold_alone_decides():
    decision = decide(0.95, {"status": "none"})
    assert decision["register"] and decision["beats_champion"] and decision["passes_threshold"]
    assert decision["reason"] == (
        "accuracy 0.9500 clears the threshold 0.9000 by 0.0500; "
        "no approved champion yet, so the threshold alone decides"
    )
    below = decide(0.85, {"status": "none"})
    assert not below["register"] and below["beats_champion"] and not below["passes_threshold"]
    assert below["reason"].startswith(
        "accuracy 0.8500 is 0.0500 below the threshold 0.9000 (MetricThreshold)"
    )


def test_the_challenger_must_be_strictly_better_than_the_champion_by_the_margin():
    better = decide(0.95, scored(0.94))
    assert better["register"] and better["improvement"] == pytest.approx(0.01)
    assert "beats champion v3 (0.9400) by 0.0100 (margin 0.0000)" in better["reason"]

    tie = decide(0.95, scored(0.95))
    assert not tie["beats_champion"] and not tie["register"]
    assert "does not beat champion v3 (0.9500): a tie" in tie["reason"]

    worse = decide(0.93, scored(0.95))
    assert not worse["beats_champion"]
    assert "does not beat champion v3 (0.9500): it is 0.0200 worse" in worse["reason"]

    short = decide(0.955, scored(0.95), margin=0.01)
    assert not short["beats_champion"]
    assert "by only 0.0050, 0.0050 short of the margin 0.0100 (ChampionMargin)" in short["reason"]
    assert decide(0.965, scored(0.95), margin=0.01)["beats_champion"]


def test_both_rules_are_reported_when_both_fail():
    decision = decide(0.85, scored(0.95))
    assert not decision["passes_threshold"] and not decision["beats_champion"]
    assert "below the threshold" in decision["reason"] and "0.1000 worse" in decision["reason"]


def test_lower_is_better_metrics_compare_the_other_way():
    decision = decide(2.0, scored(2.5, metric="rmse"), threshold=3.0, higher=False, metric="rmse")
    assert decision["register"] and decision["improvement"] == pytest.approx(0.5)
    above = decide(3.5, {"status": "none"}, threshold=3.0, higher=False, metric="rmse")
    assert "rmse 3.5000 is 0.5000 above the threshold 3.0000" in above["reason"]


def test_an_unscorable_champion_leaves_the_decision_to_the_threshold():
    champion = {
        "status": "unscorable",
        "version": "2",
        "error": "lacks column(s) the model needs: x",
    }
    decision = decide(0.95, champion)
    assert decision["register"]
    assert "champion v2 cannot score today's test data (lacks column(s)" in decision["reason"]


def test_the_same_model_is_not_registered_again():
    decision = decide(0.95, scored(0.95), same=True)
    assert not decision["register"]
    assert "it is champion v3's own model (identical model.tar.gz)" in decision["reason"]


def test_champion_scoring_on_the_same_split(job, tmp_path):
    marker = tmp_path / "none"
    marker.mkdir()
    (marker / evaluate.NO_CHAMPION_MARKER).write_bytes(b"")
    assert evaluate.score_champion(
        marker, "none", job / "test", "is_fraud", "binary_classification"
    ) == {"status": "none"}
    champion = evaluate.score_champion(
        job / "model", "4", job / "test", "is_fraud", "binary_classification"
    )
    assert champion["status"] == "scored" and champion["version"] == "4"
    assert champion["binary_classification_metrics"]["accuracy"]["value"] >= 0.9
    other_label = evaluate.score_champion(job / "model", "4", job / "test", "amount", "regression")
    assert other_label["status"] == "unscorable"
    assert "--label-column is 'amount'" in other_label["error"]


def test_run_with_a_champion_writes_both_models_and_the_decision(job, tmp_path, capsys):
    options = {
        "--champion-dir": str(job / "model"),
        "--champion-version": "7",
        "--metric": "accuracy",
        "--threshold": "0.9",
        "--champion-margin": "0.0",
    }
    assert evaluate.main(evaluate_args(job, tmp_path, **options)) == 0
    report = json.loads((tmp_path / "evaluation" / "evaluation.json").read_text(encoding="utf-8"))
    mine = report["binary_classification_metrics"]["accuracy"]["value"]
    theirs = report["champion"]["binary_classification_metrics"]["accuracy"]["value"]
    assert mine == theirs  # the same model, re-scored on the same split
    decision = report["decision"]
    assert decision["champion_version"] == "7" and decision["champion"] == theirs
    assert decision["beats_champion"] is False and decision["register"] is False
    assert "identical model.tar.gz" in decision["reason"]
    assert "decision: do not register: accuracy" in capsys.readouterr().out


def test_a_champion_needs_the_threshold_to_decide(job, tmp_path):
    args = evaluate_args(job, tmp_path, **{"--champion-dir": str(job / "model")})
    assert evaluate.main(args) == 1
    assert "--champion-dir needs --metric and --threshold" in (tmp_path / "message").read_text()
