"""Evaluate job: score the trained model on the held-out test split and decide.

Runs as a SageMaker processing job in the scikit-learn image (see pipelines/definition.py):

    python3 evaluate.py --label-column is_fraud --problem-type binary_classification \\
        --model-dir /opt/ml/processing/model --test-dir /opt/ml/processing/test \\
        --output-dir /opt/ml/processing/evaluation --exit-message-file /opt/ml/output/message \\
        --champion-dir /opt/ml/processing/champion --metric average_precision --threshold 0.25

--model-dir holds model.tar.gz, the training job's packed model dir (or its extracted files).
The archive is extracted safely (no absolute paths, `..`, escaping links or devices) into a
temporary dir. Writes two files to --output-dir:

* model_quality.json: the model's quality in the format of SageMaker's model-quality
  statistics ("Model Quality Metrics" and "Schema for Statistics" in the SageMaker Model
  Monitor guide): {"version": 0.0, "dataset": {"item_count": N},
  "binary_classification_metrics": {"accuracy": {"value": 0.97, "standard_deviation": "NaN"},
  ..., "confusion_matrix": {"0": {"0": 7250, "1": 20}, ...},
  "receiver_operating_characteristic_curve": {"false_positive_rates": [...],
  "true_positive_rates": [...]}, "precision_recall_curve": {"precisions": [...],
  "recalls": [...]}}} (regression: "regression_metrics" with mse, rmse, mae, r2). The
  registered model package points at it (ModelMetrics.ModelQuality.Statistics).
* evaluation.json: the same metrics plus "evaluation" (test rows, positives, the model's
  decision threshold), "champion" (its metrics on the same rows) and "decision", which the
  CheckMetric and CheckChampion steps read.

Classification metrics are measured at the model's own operating point: the decision
threshold train.py chose on the validation split (metadata.json "decision_threshold"; 0.5,
the estimator's own predict, for a model without one). average_precision (PR-AUC), auc and
log_loss do not depend on it.

The decision (with --champion-dir: the champion's model.tar.gz, or a NO_CHAMPION marker when
the registry has none) applies three rules to --metric, with --resamples paired bootstrap
resamples of the test rows (stratified by class for classification, so every resample keeps
the split's class counts) and as many label shuffles, at --confidence-level, seeded by
--random-seed so reruns agree:

* threshold: the metric clears --threshold (MetricThreshold);
* baseline: the metric beats the no-skill baseline, what a model without signal scores on
  the same rows (a random ranking's expected average precision, about the positive rate;
  0.5 AUC; the positive rate as a constant probability for log loss; the majority class for
  accuracy; random flagging at the model's flag rate for precision, recall and F1; the mean
  of the labels for regression). Twice over: with the labels shuffled against the model's
  outputs (a model without signal), at most (1 - level) / 2 of the shuffles score as well
  (permutation test), and the lower end of the interval of (metric - baseline) is above 0.
  Without signal this fails, whatever --threshold says;
* champion: the champion is scored on the same rows, and the lower end of the interval of
  (challenger - champion) must be above 0 and at least --champion-margin (a tie is not a
  win).

"decision" records the intervals, which rule failed and by how much in one "reason". A
problem ends the job with exit code 1 and its reason in --exit-message-file. Imports only the
standard library, numpy, pandas, scikit-learn and joblib.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import posixpath
import sys
import tarfile
import tempfile
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

import joblib
import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_curve,
    r2_score,
    roc_auc_score,
    roc_curve,
)

PROBLEM_TYPES = ("binary_classification", "regression")
DEFAULT_EXIT_MESSAGE_FILE = "/opt/ml/output/message"
MODEL_ARCHIVE = "model.tar.gz"
MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
TEST_FILE = "test.parquet"
EVALUATION_FILE = "evaluation.json"
MODEL_QUALITY_FILE = "model_quality.json"
NO_CHAMPION_MARKER = "NO_CHAMPION"
METRIC_GROUPS = {
    "binary_classification": "binary_classification_metrics",
    "regression": "regression_metrics",
}
# The metrics a decision may compare, and those where lower is better.
DECISION_METRICS = {
    "binary_classification": (
        "average_precision",
        "auc",
        "log_loss",
        "accuracy",
        "precision",
        "recall",
        "f1",
    ),
    "regression": ("mse", "rmse", "mae", "r2"),
}
LOWER_IS_BETTER = frozenset({"log_loss", "mse", "rmse", "mae"})
# Measured at the decision threshold, unlike the ranking metrics and log loss.
THRESHOLDED = ("accuracy", "precision", "recall", "f1")
# What a model without signal scores, per metric (see no_skill()).
NO_SKILL = {
    "average_precision": "a random ranking's expected average precision, about the positive rate",
    "auc": "a random ranking",
    "log_loss": "the positive rate as a constant probability",
    "accuracy": "always predicting the majority class",
    "precision": "flagging rows at random, the positive rate",
    "recall": "flagging as many rows at random",
    "f1": "flagging as many rows at random",
    "mse": "always predicting the mean",
    "rmse": "always predicting the mean",
    "mae": "always predicting the mean",
    "r2": "always predicting the mean",
}
# Curves keep at most this many points: plenty to draw, small enough for a property file
# (a 150,000-row test split has as many thresholds).
CURVE_POINTS = 200
MIN_RESAMPLES = 100


class EvaluationError(Exception):
    """Bad model, test data or arguments; the message becomes the job's failure reason."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = _Parser(description="Score the model on the test split.")
    parser.add_argument("--label-column", required=True)
    parser.add_argument("--problem-type", required=True, help=" or ".join(PROBLEM_TYPES))
    parser.add_argument("--model-dir", type=Path, default=Path("/opt/ml/processing/model"))
    parser.add_argument("--test-dir", type=Path, default=Path("/opt/ml/processing/test"))
    parser.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing/evaluation"))
    parser.add_argument("--exit-message-file", type=Path, default=Path(DEFAULT_EXIT_MESSAGE_FILE))
    parser.add_argument(
        "--champion-dir", type=Path, help="the champion's model.tar.gz, or a NO_CHAMPION marker"
    )
    parser.add_argument("--champion-version", default="", help="registry version of the champion")
    parser.add_argument("--metric", help="the metric the decision compares, e.g. average_precision")
    parser.add_argument("--higher-is-better", default="true", choices=("true", "false"))
    parser.add_argument("--threshold", type=float, help="the metric's absolute threshold")
    parser.add_argument("--champion-margin", type=float, default=0.0)
    parser.add_argument("--confidence-level", type=float, default=0.95)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--random-seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.problem_type not in PROBLEM_TYPES:
        raise EvaluationError(
            f"--problem-type must be one of {', '.join(PROBLEM_TYPES)}, got {args.problem_type!r}"
        )
    if args.champion_dir is not None and (args.metric is None or args.threshold is None):
        raise EvaluationError("--champion-dir needs --metric and --threshold to decide")
    if args.metric is not None:
        check_metric(args.metric, args.problem_type, args.higher_is_better == "true")
    if args.champion_margin < 0:
        raise EvaluationError(f"--champion-margin must be >= 0, got {args.champion_margin}")
    if not 0 < args.confidence_level < 1:
        raise EvaluationError(
            f"--confidence-level must be between 0 and 1, got {args.confidence_level}"
        )
    if args.resamples < MIN_RESAMPLES:
        raise EvaluationError(f"--resamples must be at least {MIN_RESAMPLES}, got {args.resamples}")
    return args


def check_metric(metric: str, problem_type: str, higher_is_better: bool) -> None:
    """The metric exists for the problem type and is compared in its own direction."""
    if metric not in DECISION_METRICS[problem_type]:
        raise EvaluationError(
            f"--metric {metric!r} is not a {problem_type} metric "
            f"({', '.join(DECISION_METRICS[problem_type])})"
        )
    if higher_is_better == (metric in LOWER_IS_BETTER):
        natural = "false" if metric in LOWER_IS_BETTER else "true"
        raise EvaluationError(
            f"--higher-is-better {str(higher_is_better).lower()} contradicts --metric "
            f"{metric!r}, for which it is {natural}"
        )


class _Parser(argparse.ArgumentParser):
    # argparse would exit 2 with usage only; the job must also leave its failure reason.
    def error(self, message: str) -> None:  # type: ignore[override]
        raise EvaluationError(f"invalid arguments: {message}")


def safe_extract(archive: Path, destination: Path) -> None:
    """Extract `archive` into `destination`, refusing any member that could land outside it."""
    destination = destination.resolve()
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member, destination, archive)
            # Python's own "data" filter (3.12, backported to 3.11.4) as a second line.
            extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(destination, members=members, **extra)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise EvaluationError(
            f"cannot extract {archive}: {type(error).__name__}: {error}"
        ) from None


def _check_member(member: tarfile.TarInfo, destination: Path, archive: Path) -> None:
    name = member.name
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith("\\"):
        raise EvaluationError(f"{archive}: refusing member {name!r} with an absolute path")
    if ".." in path.parts or ".." in PurePosixPath(name.replace("\\", "/")).parts:
        raise EvaluationError(f"{archive}: refusing member {name!r} with '..' in its path")
    if not _inside(destination / name, destination):
        raise EvaluationError(f"{archive}: refusing member {name!r} outside the target dir")
    if member.issym() or member.islnk():
        link = member.linkname
        # A symlink resolves from its own folder, a hard link from the archive root.
        base = (destination / name).parent if member.issym() else destination
        if PurePosixPath(link).is_absolute() or not _inside(base / link, destination):
            kind = "symlink" if member.issym() else "hard link"
            raise EvaluationError(
                f"{archive}: refusing {kind} {name!r} -> {link!r} pointing outside the archive"
            )
    elif not (member.isfile() or member.isdir()):
        raise EvaluationError(
            f"{archive}: refusing member {name!r}: devices and FIFOs are not model files"
        )


def _inside(path: Path, directory: Path) -> bool:
    resolved = path.resolve()
    return resolved == directory or directory in resolved.parents


def load_model(model_dir: Path, work_dir: Path) -> tuple[object, dict]:
    """(fitted Pipeline, metadata) from model_dir/model.tar.gz or an extracted model dir."""
    archive = model_dir / MODEL_ARCHIVE
    if archive.is_file():
        safe_extract(archive, work_dir)
        source, where = work_dir, archive
    elif (model_dir / MODEL_FILE).is_file():
        source, where = model_dir, model_dir
    else:
        found = sorted(path.name for path in model_dir.iterdir()) if model_dir.is_dir() else []
        raise EvaluationError(
            f"no {MODEL_ARCHIVE} (or {MODEL_FILE}) in {model_dir} "
            f"(found: {', '.join(found[:10]) or 'nothing'})"
        )
    for name in (MODEL_FILE, METADATA_FILE):
        if not (source / name).is_file():
            raise EvaluationError(f"{where} has no {name}: not a model made by train.py")
    try:
        metadata = json.loads((source / METADATA_FILE).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise EvaluationError(f"{METADATA_FILE} in {where} is not valid JSON: {error}") from None
    try:
        model = joblib.load(source / MODEL_FILE)
    except Exception as error:  # unpickling fails in many ways; all mean "cannot load"
        versions = metadata.get("library_versions", {})
        raise EvaluationError(
            f"cannot load {MODEL_FILE} from {where}: {type(error).__name__}: {error} "
            f"(trained with scikit-learn {versions.get('scikit-learn', '?')})"
        ) from None
    return model, metadata


def check_model(metadata: dict, label_column: str, problem_type: str) -> dict:
    """The model's schema, which must match the label and problem type being evaluated."""
    schema = metadata.get("schema") or {}
    for option, value in (("label_column", label_column), ("problem_type", problem_type)):
        if schema.get(option) != value:
            raise EvaluationError(
                f"--{option.replace('_', '-')} is {value!r} but the model was trained with "
                f"{schema.get(option)!r}"
            )
    return schema


def load_test(test_dir: Path, schema: dict) -> pd.DataFrame:
    paths = find_test_files(test_dir)
    frames = []
    for part in paths:
        try:
            frames.append(pd.read_parquet(part))
        except Exception as error:  # any reader failure means the file itself is bad
            raise EvaluationError(f"cannot read {part}: {type(error).__name__}: {error}") from None
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    # Messages name the file, or the parts of a sharded Preprocess together.
    path = paths[0] if len(paths) == 1 else test_dir / f"test-*.parquet ({len(paths)} parts)"
    label = schema["label_column"]
    missing = [column for column in [*feature_columns(schema), label] if column not in frame]
    if missing:
        raise EvaluationError(f"{path} lacks column(s) the model needs: {', '.join(missing)}")
    if len(frame) == 0:
        raise EvaluationError(f"{path} has no rows")
    if frame[label].isna().any():
        raise EvaluationError(f"{path} has rows without a {label!r} label")
    if schema["problem_type"] == "binary_classification":
        unknown = set(frame[label].unique().tolist()) - set(schema["classes"])
        if unknown:
            raise EvaluationError(
                f"{path}: label values {sorted(map(str, unknown))} are not among the model's "
                f"classes {schema['classes']}"
            )
    return frame


def find_test_files(test_dir: Path) -> list[Path]:
    """test.parquet, or the test-<host>.parquet parts a Preprocess on N instances writes
    (one per instance, all of them: each holds that instance's share of the rows)."""
    single = test_dir / TEST_FILE
    parts = sorted(test_dir.glob("test-*.parquet")) if test_dir.is_dir() else []
    if single.is_file() and parts:
        raise EvaluationError(
            f"{test_dir} holds both {TEST_FILE} and per-instance parts "
            f"({', '.join(p.name for p in parts)}): the test input must be one Preprocess "
            "step's test output"
        )
    if parts:
        return parts
    if not single.is_file():
        raise EvaluationError(f"{single} not found: the test input must be the Preprocess output")
    return [single]


def feature_columns(schema: dict) -> list[str]:
    return list(
        schema.get("feature_columns")
        or [*schema["numeric_features"], *schema["categorical_features"]]
    )


def model_input(frame: pd.DataFrame, schema: dict) -> pd.DataFrame:
    """The feature columns typed as train.py fed them: floats, and text objects or NaN."""
    columns = {}
    for column in schema["numeric_features"]:
        columns[column] = frame[column].astype("float64")
    for column in schema["categorical_features"]:
        values = frame[column]
        columns[column] = values.astype(str).astype(object).where(values.notna(), np.nan)
    return pd.DataFrame(columns, index=frame.index)[feature_columns(schema)]


@dataclass
class Predictions:
    """One model's outputs on the test rows, in the rows' order.

    Classification: `score` is the probability of the positive class, `positive` says which
    rows are of that class and `flagged` which ones the model flags at its decision
    threshold. Regression: `score` is the prediction and `actual` the label.
    """

    actual: np.ndarray
    score: np.ndarray
    positive: np.ndarray | None = None
    flagged: np.ndarray | None = None
    classes: list | None = None
    decision_threshold: float | None = None


def decision_threshold(metadata: dict) -> float | None:
    """The probability from which train.py's model flags a row; None: the estimator's own
    predict (a model trained before thresholds were chosen)."""
    chosen = metadata.get("decision_threshold")
    if chosen is None:
        return None
    value = chosen.get("value") if isinstance(chosen, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise EvaluationError(
            f"{METADATA_FILE}: decision_threshold.value must be a probability, got {value!r}"
        )
    return float(value)


def predict(model: object, frame: pd.DataFrame, schema: dict, metadata: dict) -> Predictions:
    features = model_input(frame, schema)
    actual = frame[schema["label_column"]].to_numpy()
    if schema["problem_type"] == "regression":
        return Predictions(
            actual=actual.astype("float64"),
            score=np.asarray(model.predict(features), dtype="float64"),
        )
    classes = list(schema["classes"])
    positive_class = classes[1]
    column = [_plain(value) for value in model.classes_].index(positive_class)
    probability = np.asarray(model.predict_proba(features)[:, column], dtype="float64")
    threshold = decision_threshold(metadata)
    if threshold is None:
        flagged = np.array([_plain(label) == positive_class for label in model.predict(features)])
    else:
        flagged = probability >= threshold
    return Predictions(
        actual=actual,
        score=probability,
        positive=np.array([_plain(value) == positive_class for value in actual], dtype=bool),
        flagged=flagged.astype(bool),
        classes=classes,
        decision_threshold=threshold,
    )


def score(predictions: Predictions, schema: dict) -> dict:
    """The model-quality metrics, in SageMaker's JSON shape ("Model Quality Metrics")."""
    if schema["problem_type"] == "regression":
        actual, predicted = predictions.actual, predictions.score
        mse = float(mean_squared_error(actual, predicted))
        return {
            "regression_metrics": {
                "mse": _metric(mse),
                "rmse": _metric(math.sqrt(mse)),
                "mae": _metric(mean_absolute_error(actual, predicted)),
                "r2": _metric(r2_score(actual, predicted) if len(actual) > 1 else None),
            }
        }
    return {"binary_classification_metrics": binary_metrics(predictions)}


def binary_metrics(predictions: Predictions) -> dict:
    positive, flagged, probability = (
        predictions.positive,
        predictions.flagged,
        predictions.score,
    )
    (tn, fp), (fn, tp) = confusion_matrix(positive, flagged, labels=[False, True]).tolist()
    rows, positives, negatives = len(positive), tp + fn, tn + fp
    both_classes = positives > 0 and negatives > 0
    prevalence = positives / rows
    metrics = {
        "confusion_matrix": _confusion(predictions, tn, fp, fn, tp),
        "accuracy": _metric((tp + tn) / rows),
        "precision": _metric(_ratio(tp, tp + fp)),
        "recall": _metric(_ratio(tp, positives)),
        "true_positive_rate": _metric(_ratio(tp, positives)),
        "true_negative_rate": _metric(_ratio(tn, negatives)),
        "false_positive_rate": _metric(_ratio(fp, negatives)),
        "false_negative_rate": _metric(_ratio(fn, positives)),
        "f0_5": _metric(_f_beta(0.5, tp, fp, fn)),
        "f1": _metric(_f_beta(1.0, tp, fp, fn)),
        "f2": _metric(_f_beta(2.0, tp, fp, fn)),
        # Undefined when the test split holds one class only.
        "auc": _metric(roc_auc_score(positive, probability) if both_classes else None),
        "average_precision": _metric(
            average_precision_score(positive, probability) if positives else None
        ),
        "log_loss": _metric(float(np.mean(row_log_loss(positive, probability)))),
    }
    # SageMaker's "best constant classifier" flags every row (Model Quality Metrics).
    constant = {"tp": positives, "fp": negatives, "fn": 0}
    metrics.update(
        {
            "accuracy_best_constant_classifier": _metric(prevalence),
            "precision_best_constant_classifier": _metric(prevalence),
            "recall_best_constant_classifier": _metric(1.0 if positives else 0.0),
            "f0_5_best_constant_classifier": _metric(_f_beta(0.5, **constant)),
            "f1_best_constant_classifier": _metric(_f_beta(1.0, **constant)),
            "f2_best_constant_classifier": _metric(_f_beta(2.0, **constant)),
        }
    )
    if both_classes:
        metrics["receiver_operating_characteristic_curve"] = roc_points(positive, probability)
        metrics["precision_recall_curve"] = precision_recall_points(positive, probability)
    return dict(sorted(metrics.items()))


def _confusion(predictions: Predictions, tn: int, fp: int, fn: int, tp: int) -> dict:
    """actual class -> predicted class -> rows, as SageMaker keys it (classes as text)."""
    negative, positive = (str(value) for value in predictions.classes)
    return {negative: {negative: tn, positive: fp}, positive: {negative: fn, positive: tp}}


def roc_points(positive: np.ndarray, probability: np.ndarray) -> dict:
    false_positive_rates, true_positive_rates, _ = roc_curve(positive, probability)
    keep = _thin(len(false_positive_rates))
    return {
        "false_positive_rates": _rounded(false_positive_rates[keep]),
        "true_positive_rates": _rounded(true_positive_rates[keep]),
    }


def precision_recall_points(positive: np.ndarray, probability: np.ndarray) -> dict:
    """By increasing recall; at each recall the highest precision reaching it (the corners
    of the step curve), which leaves at most one point per positive row."""
    precisions, recalls, _ = precision_recall_curve(positive, probability)
    precisions, recalls = precisions[::-1], recalls[::-1]
    corners = np.append(np.flatnonzero(recalls[1:] != recalls[:-1]), len(recalls) - 1)
    best = np.maximum.reduceat(precisions, np.r_[0, corners[:-1] + 1])
    recalls = recalls[corners]
    keep = _thin(len(recalls))
    return {"precisions": _rounded(best[keep]), "recalls": _rounded(recalls[keep])}


def _thin(length: int) -> np.ndarray:
    """At most CURVE_POINTS evenly spaced positions, always the first and the last."""
    if length <= CURVE_POINTS:
        return np.arange(length)
    return np.unique(np.linspace(0, length - 1, CURVE_POINTS).round().astype(int))


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(value), 6) for value in values]


def row_log_loss(positive: np.ndarray, probability: np.ndarray) -> np.ndarray:
    # Clipped like scikit-learn's log_loss, so a confident miss costs a large, finite loss.
    eps = np.finfo(np.float64).eps
    clipped = np.clip(probability, eps, 1 - eps)
    return -np.where(positive, np.log(clipped), np.log1p(-clipped))


def _ratio(numerator: float, denominator: float) -> float:
    # zero_division=0, as scikit-learn reports precision with nothing flagged.
    return numerator / denominator if denominator else 0.0


def _f_beta(beta: float, tp: float, fp: float, fn: float) -> float:
    weight = beta * beta
    return _ratio((1 + weight) * tp, (1 + weight) * tp + weight * fn + fp)


# --- the bootstrap ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Bootstrap:
    """Confidence intervals by resampling the test rows with replacement."""

    level: float = 0.95
    resamples: int = 1000
    seed: int = 0

    def interval(self, samples: list[float]) -> dict:
        """The percentile interval at `level`: its two ends."""
        tail = (1 - self.level) / 2
        lower, upper = np.nanquantile(np.asarray(samples, dtype="float64"), [tail, 1 - tail])
        return {"lower": float(lower), "upper": float(upper)}

    def weights(self, predictions: Predictions) -> Iterator[np.ndarray]:
        """Per resample, how often each test row was drawn. Classification draws within each
        class, so every resample keeps the split's class counts (and a rare class never
        vanishes from a resample); a fixed seed makes reruns agree."""
        rows = len(predictions.score)
        if predictions.positive is None:
            strata = [np.arange(rows)]
        else:
            strata = [np.flatnonzero(~predictions.positive), np.flatnonzero(predictions.positive)]
        strata = [stratum for stratum in strata if len(stratum)]
        generator = np.random.default_rng(self.seed)
        for _ in range(self.resamples):
            drawn = np.concatenate(
                [stratum[generator.integers(0, len(stratum), len(stratum))] for stratum in strata]
            )
            yield np.bincount(drawn, minlength=rows).astype("float64")


class ResampledMetric:
    """`metric` of one model's predictions with a weight (a bootstrap count) per test row.

    The ranking metrics sort the scores once; a resample then costs one pass over the rows
    (a cumulative sum in rank order) and one over the positives, where calling
    scikit-learn a thousand times would sort a thousand times. With unit weights it equals
    scikit-learn's value (tests check it, and with scikit-learn's sample_weight too).
    """

    def __init__(self, metric: str, predictions: Predictions) -> None:
        self.metric = metric
        self.predictions = predictions
        if metric in ("average_precision", "auc"):
            order = np.argsort(-predictions.score, kind="mergesort")
            ranked_score, ranked_positive = predictions.score[order], predictions.positive[order]
            # Runs of equal scores (one threshold each). Only runs holding a positive move
            # the recall: both metrics are sums over those.
            starts = np.r_[0, np.flatnonzero(ranked_score[1:] != ranked_score[:-1]) + 1]
            ends = np.r_[starts[1:] - 1, len(order) - 1]
            holding = np.add.reduceat(ranked_positive.astype("int64"), starts) > 0
            self._order = order
            self._starts, self._ends = starts[holding], ends[holding]
            self._positive_rows = order[ranked_positive]  # the positive rows, best first
            # How many positives rank at or above the end of each such run.
            self._positives_through = np.cumsum(ranked_positive)[self._ends]
        elif metric == "log_loss":
            self._losses = row_log_loss(predictions.positive, predictions.score)
        elif metric in THRESHOLDED:
            positive, flagged = predictions.positive, predictions.flagged
            self._cells = {
                "tp": (positive & flagged).astype("float64"),
                "fp": (~positive & flagged).astype("float64"),
                "fn": (positive & ~flagged).astype("float64"),
            }

    def __call__(self, weights: np.ndarray) -> float:
        metric, predictions = self.metric, self.predictions
        if metric in ("average_precision", "auc"):
            # Weights of all rows, then of the positives, at or above each run's end.
            cumulative = np.cumsum(weights[self._order])
            through = cumulative[self._ends]
            tp = np.cumsum(weights[self._positive_rows])[self._positives_through - 1]
            tp_above = np.r_[0.0, tp[:-1]]  # the positives in earlier runs
            gained = tp - tp_above
            positives = tp[-1]
            if metric == "average_precision":
                precision = np.divide(tp, through, out=np.ones_like(tp), where=through > 0)
                return float(np.sum(gained / positives * precision))
            # AUC as Mann-Whitney: each positive beats the negatives below it, ties count half.
            negatives = cumulative[-1] - positives
            above = np.where(self._starts > 0, cumulative[self._starts - 1], 0.0) - tp_above
            tied = through - tp - above
            below = negatives - (through - tp)
            return float(np.sum(gained * (below + tied / 2)) / (positives * negatives))
        total = weights.sum()
        if metric == "log_loss":
            return float(weights @ self._losses / total)
        if metric in THRESHOLDED:
            tp, fp, fn = (weights @ self._cells[cell] for cell in ("tp", "fp", "fn"))
            if metric == "accuracy":
                return float((total - fp - fn) / total)
            if metric == "precision":
                return _ratio(tp, tp + fp)
            if metric == "recall":
                return _ratio(tp, tp + fn)
            return _f_beta(1.0, tp, fp, fn)
        errors = predictions.score - predictions.actual
        squared = weights @ (errors * errors) / total
        if metric == "mse":
            return float(squared)
        if metric == "rmse":
            return float(math.sqrt(squared))
        if metric == "mae":
            return float(weights @ np.abs(errors) / total)
        spread = _weighted_spread(predictions.actual, weights)
        return float(1 - squared / spread) if spread > 0 else math.nan


def _weighted_spread(actual: np.ndarray, weights: np.ndarray) -> float:
    """Mean squared distance from the weighted mean: the mean predictor's MSE."""
    total = weights.sum()
    mean = weights @ actual / total
    return float(weights @ ((actual - mean) ** 2) / total)


def no_skill(metric: str, predictions: Predictions, weights: np.ndarray) -> float:
    """What a model without signal scores on the (weighted) test rows; see NO_SKILL."""
    total = weights.sum()
    if metric in DECISION_METRICS["regression"]:
        actual = predictions.actual
        spread = _weighted_spread(actual, weights)
        if metric == "mse":
            return spread
        if metric == "rmse":
            return math.sqrt(spread)
        if metric == "mae":
            return float(weights @ np.abs(actual - weights @ actual / total) / total)
        return 0.0
    positives = float(weights @ predictions.positive)
    rate = positives / total
    if metric == "average_precision":
        return expected_random_average_precision(round(positives), round(total))
    if metric == "auc":
        return 0.5
    if metric == "log_loss":
        return -sum(p * math.log(p) for p in (rate, 1 - rate) if p > 0)
    if metric == "accuracy":
        return max(rate, 1 - rate)
    if metric == "precision":
        return rate
    flag_rate = float(weights @ predictions.flagged) / total
    if metric == "recall":
        return flag_rate
    return _ratio(2 * rate * flag_rate, rate + flag_rate)


@lru_cache(maxsize=64)  # stratified resamples keep both counts: one sum per split
def expected_random_average_precision(positives: int, rows: int) -> float:
    """The mean average precision of a uniformly random ranking of `rows` rows of which
    `positives` are positive: (m-1)/(n-1) + H(n)(n-m)/(n(n-1)), H the harmonic number.

    It is about the positive rate m/n for many positives, and higher for few (14 positives
    in 450 rows: 0.043 against 0.031), so a model must beat chance, not the rate alone.
    Derivation: AP = (1/m) sum_k rel_k * precision@k, and for a random ranking
    E[rel_k * hits in the top k] = m/n + (k-1) m(m-1)/(n(n-1)).
    """
    if positives <= 0:
        return 0.0
    if rows <= 1:
        return positives / max(rows, 1)
    harmonic = float(np.sum(1.0 / np.arange(1, rows + 1)))
    return (positives - 1) / (rows - 1) + harmonic * (rows - positives) / (rows * (rows - 1))


class PermutationTest:
    """How often a model without signal would score at least as well on these rows.

    The labels are shuffled against the model's outputs, which keep their distribution but
    lose any link to the labels: exactly a model without signal. Its scores over `resamples`
    shuffles (seeded) give an exact p-value, where a bootstrap interval of a rare class's
    average precision is too narrow (measured: 12 positives, a shuffled-label model passed
    a nominal 2.5% rule with a permutation p-value of 0.07). Classification shuffles which
    rows are positive (m of n rows), so each shuffle costs O(m) for the ranking metrics.
    """

    def __init__(self, metric: str, predictions: Predictions) -> None:
        self.metric = metric
        self.predictions = predictions
        score = predictions.score
        self.rows = len(score)
        if predictions.positive is None:
            return
        self.positives = int(predictions.positive.sum())
        if metric == "average_precision":
            order = np.argsort(-score, kind="mergesort")
            ranked = score[order]
            new_run = np.r_[False, ranked[1:] != ranked[:-1]]
            self._run_of = np.empty(self.rows, dtype="int64")
            self._run_of[order] = np.cumsum(new_run)
            ends = np.r_[np.flatnonzero(new_run) - 1, self.rows - 1]
            self._through = ends + 1  # rows scoring at least each run's score
        elif metric == "auc":
            self._midranks = pd.Series(score).rank(method="average").to_numpy()
        elif metric == "log_loss":
            losses_if_positive = row_log_loss(np.ones(self.rows, dtype=bool), score)
            losses_if_negative = row_log_loss(np.zeros(self.rows, dtype=bool), score)
            self._all_negative = float(losses_if_negative.sum())
            self._gain = losses_if_positive - losses_if_negative
        else:
            self._flagged = predictions.flagged.astype("int64")
            self._flags = int(self._flagged.sum())

    def value(self, labels: np.ndarray) -> float:
        """The metric with these labels: the positive rows' indices (classification) or a
        reordering of the labels (regression)."""
        metric, rows = self.metric, self.rows
        if self.predictions.positive is None:
            errors = self.predictions.score - self.predictions.actual[labels]
            squared = float(np.mean(errors * errors))
            if metric == "mse":
                return squared
            if metric == "rmse":
                return math.sqrt(squared)
            if metric == "mae":
                return float(np.mean(np.abs(errors)))
            spread = float(np.var(self.predictions.actual))
            return 1 - squared / spread if spread > 0 else math.nan
        m = self.positives
        if metric == "average_precision":
            runs, hits = np.unique(self._run_of[labels], return_counts=True)
            return float(np.sum(hits / m * np.cumsum(hits) / self._through[runs]))
        if metric == "auc":
            return float((self._midranks[labels].sum() - m * (m + 1) / 2) / (m * (rows - m)))
        if metric == "log_loss":
            return (self._all_negative + float(self._gain[labels].sum())) / rows
        tp = int(self._flagged[labels].sum())
        if metric == "accuracy":
            return (rows - self._flags - m + 2 * tp) / rows
        if metric == "precision":
            return _ratio(tp, self._flags)
        if metric == "recall":
            return tp / m
        return _ratio(2 * tp, self._flags + m)

    def p_value(self, higher_is_better: bool, resamples: int, seed: int) -> float:
        """(1 + shuffles scoring at least as well) / (1 + shuffles): never 0."""
        sign = 1.0 if higher_is_better else -1.0
        if self.predictions.positive is None:
            observed = self.value(np.arange(self.rows))
        else:
            observed = self.value(np.flatnonzero(self.predictions.positive))
        generator = np.random.default_rng([seed, 1])  # a stream apart from the bootstrap's
        as_good = 0
        for _ in range(resamples):
            if self.predictions.positive is None:
                labels = generator.permutation(self.rows)
            else:
                labels = generator.choice(self.rows, self.positives, replace=False)
            # Equal within rounding counts as "as good": ties must not favour the model.
            as_good += sign * (self.value(labels) - observed) >= -1e-12 * max(1.0, abs(observed))
        return (1 + as_good) / (1 + resamples)


def gather_evidence(
    metric: str,
    higher_is_better: bool,
    challenger: Predictions,
    champion: Predictions | None,
    bootstrap: Bootstrap,
) -> dict:
    """The metric's paired-bootstrap intervals (of the challenger, of its advantage over the
    no-skill baseline and over the champion: the same resampled rows for both models) and
    the permutation test's p-value against a model without signal. Advantages are signed
    so that positive is better whatever the direction."""
    sign = 1.0 if higher_is_better else -1.0
    ours = ResampledMetric(metric, challenger)
    theirs = ResampledMetric(metric, champion) if champion is not None else None
    values, over_baseline, over_champion = [], [], []
    for weights in bootstrap.weights(challenger):
        value = ours(weights)
        values.append(value)
        over_baseline.append(sign * (value - no_skill(metric, challenger, weights)))
        if theirs is not None:
            over_champion.append(sign * (value - theirs(weights)))
    unit = np.ones(len(challenger.score))
    evidence = {
        "interval": bootstrap.interval(values),
        "baseline": no_skill(metric, challenger, unit),
        "baseline_advantage_interval": bootstrap.interval(over_baseline),
        "baseline_p_value": PermutationTest(metric, challenger).p_value(
            higher_is_better, bootstrap.resamples, bootstrap.seed
        ),
    }
    if theirs is not None:
        evidence["improvement_interval"] = bootstrap.interval(over_champion)
        # Identical scores on every row: no resample can tell the two models apart.
        evidence["identical_scores"] = bool(np.all(np.asarray(over_champion) == 0))
    return evidence


# --- the report and the decision -------------------------------------------------------------


def model_summary(metadata: dict) -> dict:
    """What evaluation.json says about the model: enough to tell two models apart."""
    keys = (
        "hyperparameters",
        "training_rows",
        "validation_metrics",
        "decision_threshold",
        "library_versions",
    )
    return {key: metadata.get(key) for key in keys}


def build_report(metrics: dict, schema: dict, metadata: dict, predictions: Predictions) -> dict:
    evaluation = {
        "problem_type": schema["problem_type"],
        "label_column": schema["label_column"],
        "test_rows": len(predictions.score),
        "model": model_summary(metadata),
    }
    if schema["problem_type"] == "binary_classification":
        evaluation["positive_class"] = schema["classes"][1]
        evaluation["positive_rows"] = int(predictions.positive.sum())
        evaluation["decision_threshold"] = predictions.decision_threshold
    return {**metrics, "evaluation": evaluation}


def model_quality(metrics: dict, test_rows: int) -> dict:
    """The statistics file the registered model package points at ("Schema for Statistics":
    a version, the data set's item count, then the problem type's metrics)."""
    return {"version": 0.0, "dataset": {"item_count": test_rows}, **metrics}


def metric_value(metrics: dict, problem_type: str, metric: str) -> float | None:
    group = metrics.get(METRIC_GROUPS[problem_type], {})
    if metric not in group:
        raise EvaluationError(
            f"--metric {metric!r} is not a {problem_type} metric "
            f"({', '.join(DECISION_METRICS[problem_type])})"
        )
    return group[metric]["value"]


def content_digest(model_dir: Path) -> str | None:
    """sha256 of the model's files: each regular file's path (relative, "/"-separated, no
    leading "./") and the sha256 of its bytes, in path order. Member order, times, owners and
    compression do not count, so the same files packed twice (SageMaker packs model.tar.gz
    itself) have one digest, and so does the extracted folder. The model package records it
    (CustomerMetadataProperties ModelContentDigest): how a rerun, or a concurrent identical
    run, finds that this model is already registered. None without model files."""
    archive = model_dir / MODEL_ARCHIVE
    if archive.is_file():
        files = _archive_file_digests(archive)
    elif model_dir.is_dir():
        files = {
            path.relative_to(model_dir).as_posix(): _sha256(path.open("rb"))
            for path in model_dir.rglob("*")
            if path.is_file() and not path.is_symlink()
        }
    else:
        return None
    if not files:
        return None
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\n")
    return digest.hexdigest()


def _archive_file_digests(archive: Path) -> dict[str, str]:
    try:
        with tarfile.open(archive, "r:*") as tar:
            return {
                posixpath.normpath(member.name.lstrip("/")).removeprefix("./"): _sha256(
                    tar.extractfile(member)
                )
                for member in tar
                if member.isfile()
            }
    except (tarfile.TarError, EOFError, OSError) as error:
        raise EvaluationError(f"cannot read {archive}: {type(error).__name__}: {error}") from None


def _sha256(handle) -> str:
    digest = hashlib.sha256()
    with handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def score_champion(
    champion_dir: Path, version: str, test_dir: Path, schema: dict
) -> tuple[dict, Predictions | None]:
    """The champion scored on today's test rows: status none / scored / unscorable, and its
    predictions for the paired comparison."""
    if (champion_dir / NO_CHAMPION_MARKER).is_file():
        return {"status": "none"}, None
    # ResolveChampion says "none" when the registry has no approved model.
    champion = {"status": "scored", "version": version if version not in ("", "none") else None}
    try:
        with tempfile.TemporaryDirectory(prefix="champion-") as work_dir:
            model, metadata = load_model(champion_dir, Path(work_dir))
        theirs = check_model(metadata, schema["label_column"], schema["problem_type"])
        if theirs.get("classes") != schema.get("classes"):
            raise EvaluationError(
                f"it was trained on classes {theirs.get('classes')}, the challenger on "
                f"{schema.get('classes')}"
            )
        predictions = predict(model, load_test(test_dir, theirs), theirs, metadata)
        champion.update(score(predictions, theirs))
        champion["decision_threshold"] = predictions.decision_threshold
    except EvaluationError as error:
        # An old model that cannot read today's data cannot defend its title.
        champion.update(status="unscorable", error=str(error))
        return champion, None
    return champion, predictions


def decide(
    challenger: float | None,
    evidence: dict | None,
    champion: dict,
    metric: str,
    problem_type: str,
    higher_is_better: bool,
    threshold: float,
    margin: float,
    bootstrap: Bootstrap,
    same_model: bool = False,
) -> dict:
    """The three rules (threshold, no-skill baseline, champion), their outcome and one
    sentence saying which failed and by how much."""
    sign = 1 if higher_is_better else -1
    word = "below" if higher_is_better else "above"
    level = f"{bootstrap.level:.0%}"
    decision = {
        "metric": metric,
        "higher_is_better": higher_is_better,
        "challenger": challenger,
        "challenger_interval": None,
        "threshold": threshold,
        "baseline": None,
        "baseline_description": NO_SKILL[metric],
        "baseline_advantage_interval": None,
        "baseline_p_value": None,
        "margin": margin,
        "champion_version": champion.get("version"),
        "champion": None,
        "improvement": None,
        "improvement_interval": None,
        "confidence_level": bootstrap.level,
        "resamples": bootstrap.resamples,
        "random_seed": bootstrap.seed,
    }
    if challenger is None or evidence is None:
        decision.update(
            passes_threshold=False, beats_baseline=False, beats_champion=False, register=False
        )
        decision["reason"] = f"{metric} is undefined on this test split"
        return decision
    decision["challenger_interval"] = evidence["interval"]
    gap = sign * (challenger - threshold)
    passes = gap >= 0
    threshold_text = (
        f"{metric} {challenger:.4f} clears the threshold {threshold:.4f} by {gap:.4f}"
        if passes
        else f"{metric} {challenger:.4f} is {-gap:.4f} {word} the threshold {threshold:.4f} "
        "(MetricThreshold)"
    )

    baseline = evidence["baseline"]
    advantage = evidence["baseline_advantage_interval"]
    chance = evidence["baseline_p_value"]
    allowed = (1 - bootstrap.level) / 2  # one-sided, as the lower end of a two-sided interval
    decision.update(
        baseline=baseline, baseline_advantage_interval=advantage, baseline_p_value=chance
    )
    by_chance = chance >= allowed
    at_the_interval = advantage["lower"] <= 0
    beats_baseline = not (by_chance or at_the_interval)
    odds = (
        f"a model without signal scores as well on these rows with probability {chance:.3f} "
        f"(permutation test)"
    )
    if beats_baseline:
        baseline_text = (
            f"it beats the no-skill baseline {baseline:.4f} ({NO_SKILL[metric]}): {odds}, and "
            f"the {level} interval of its advantage is {advantage['lower']:.4f} to "
            f"{advantage['upper']:.4f}"
        )
    else:
        failed = ([f"{odds}, not below {allowed:.3f}"] if by_chance else []) + (
            [
                f"the {level} interval of its advantage, {advantage['lower']:.4f} to "
                f"{advantage['upper']:.4f}, is not above 0"
            ]
            if at_the_interval
            else []
        )
        baseline_text = (
            f"it does not beat the no-skill baseline {baseline:.4f} ({NO_SKILL[metric]}): "
            f"{' and '.join(failed)}, so the model shows no reliable signal"
        )

    name = f"champion v{champion['version']}" if champion.get("version") else "the champion"
    status = champion["status"]
    if status == "none":
        beats, champion_text = True, "no approved champion yet"
    elif status == "unscorable":
        beats = True
        champion_text = f"{name} cannot score today's test data ({champion['error']})"
    else:
        theirs = metric_value(champion, problem_type, metric)
        decision["champion"] = theirs
        if theirs is None or "improvement_interval" not in evidence:
            beats, champion_text = True, f"{name}'s {metric} is undefined on this split"
        else:
            improvement = sign * (challenger - theirs)
            interval = evidence["improvement_interval"]
            decision.update(improvement=improvement, improvement_interval=interval)
            lower = interval["lower"]
            # A tie is not a win: re-registering an equal model would only add noise, and a
            # better score on one split is not yet a better model.
            beats = lower > 0 and lower >= margin and not same_model
            span = f"{level} interval of the improvement {lower:.4f} to {interval['upper']:.4f}"
            if same_model:
                champion_text = f"it is {name}'s own model (identical model files)"
            elif evidence.get("identical_scores"):
                champion_text = f"it ties {name} ({theirs:.4f}): identical scores on every row"
            elif beats:
                champion_text = (
                    f"it beats {name} ({theirs:.4f}) by {improvement:.4f} ({span}, margin "
                    f"{margin:.4f})"
                )
            elif lower <= 0:
                champion_text = (
                    f"it does not reliably beat {name} ({theirs:.4f}): improvement "
                    f"{improvement:.4f}, {span} is not above 0"
                )
            else:
                champion_text = (
                    f"it beats {name} ({theirs:.4f}) by {improvement:.4f}, but the lower end "
                    f"of the {span} is {margin - lower:.4f} short of the margin {margin:.4f} "
                    "(ChampionMargin)"
                )
    decision.update(
        passes_threshold=passes,
        beats_baseline=beats_baseline,
        beats_champion=beats,
        register=passes and beats_baseline and beats,
    )
    decision["reason"] = f"{threshold_text}; {baseline_text}; {champion_text}"
    return decision


def run(args: argparse.Namespace) -> dict:
    bootstrap = Bootstrap(args.confidence_level, args.resamples, args.random_seed)
    with tempfile.TemporaryDirectory(prefix="model-") as work_dir:
        model, metadata = load_model(args.model_dir, Path(work_dir))
    schema = check_model(metadata, args.label_column, args.problem_type)
    test = load_test(args.test_dir, schema)
    predictions = predict(model, test, schema, metadata)
    metrics = score(predictions, schema)
    report = build_report(metrics, schema, metadata, predictions)
    report["evaluation"]["model"]["content_digest"] = mine = content_digest(args.model_dir)
    if args.champion_dir is not None:
        champion, champion_predictions = score_champion(
            args.champion_dir, args.champion_version, args.test_dir, schema
        )
        theirs = None
        if champion["status"] != "none":
            try:
                theirs = content_digest(args.champion_dir)
            except EvaluationError:
                theirs = None  # unreadable: score_champion already says it cannot defend
        champion["content_digest"] = theirs
        same_model = mine is not None and mine == theirs
        higher_is_better = args.higher_is_better == "true"
        value = metric_value(metrics, args.problem_type, args.metric)
        evidence = None
        if value is not None:
            evidence = gather_evidence(
                args.metric, higher_is_better, predictions, champion_predictions, bootstrap
            )
        report["champion"] = champion
        report["decision"] = decide(
            value,
            evidence,
            champion,
            args.metric,
            args.problem_type,
            higher_is_better,
            args.threshold,
            args.champion_margin,
            bootstrap,
            same_model,
        )
        decision = report["decision"]
        verdict = "register" if decision["register"] else "do not register"
        print(f"decision: {verdict}: {decision['reason']}", flush=True)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    _write_json(args.output_dir / MODEL_QUALITY_FILE, model_quality(metrics, len(test)))
    _write_json(args.output_dir / EVALUATION_FILE, report)
    print(f"scored {len(test)} test rows", flush=True)
    for group in metrics.values():
        for name, metric in group.items():
            if isinstance(metric, dict) and isinstance(metric.get("value"), float):
                print(f"test:{name}={metric['value']:.6f};", flush=True)
    return report


def _write_json(path: Path, document: dict) -> None:
    text = json.dumps(document, indent=2, sort_keys=True, allow_nan=False, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    message_file = _exit_message_file(argv)
    try:
        run(parse_args(argv))
    except EvaluationError as error:
        return fail(message_file, str(error))
    except Exception as error:
        traceback.print_exc()
        return fail(message_file, f"unexpected error: {type(error).__name__}: {error}")
    return 0


def fail(message_file: Path, message: str) -> int:
    """Leave the reason where SageMaker shows it (first 1 KB) and as the last stderr line."""
    message = " ".join(message.splitlines())
    sys.stdout.flush()
    try:
        message_file.parent.mkdir(parents=True, exist_ok=True)
        message_file.write_text(message, encoding="utf-8")
    except OSError as error:
        print(f"cannot write the exit message to {message_file}: {error}", file=sys.stderr)
    print(f"ERROR: {message}", file=sys.stderr, flush=True)
    return 1


def _exit_message_file(argv: list[str] | None) -> Path:
    # Known before the full parse, so even bad arguments are reported in the right file.
    parser = _Parser(add_help=False)
    parser.add_argument("--exit-message-file", default=DEFAULT_EXIT_MESSAGE_FILE)
    try:
        known, _ = parser.parse_known_args(argv)
    except EvaluationError:
        return Path(DEFAULT_EXIT_MESSAGE_FILE)
    return Path(known.exit_message_file)


def _metric(value: float | None) -> dict:
    # SageMaker's model-quality JSON: a value and its standard deviation, unknown here.
    return {"value": None if value is None else float(value), "standard_deviation": "NaN"}


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


if __name__ == "__main__":
    sys.exit(main())
