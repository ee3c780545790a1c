"""Train job: fit a scikit-learn Pipeline on the Preprocess step's train split.

Runs in the SageMaker scikit-learn image through the training toolkit, which starts

    python train.py --label-column is_fraud --problem-type binary_classification \\
        --learning-rate 0.1 --max-iter 200 --max-leaf-nodes 31 --l2-regularization 0.0 \\
        --class-weight none --threshold-objective f1

in the extracted source dir (this file and inference.py side by side) with the SM_* variables
set. The model is one Pipeline that takes raw feature rows (a DataFrame with the original
feature columns): numeric features pass through (the booster handles missing values
itself), categorical ones are ordinal-encoded (unknown and missing categories become NaN,
which the booster treats as missing) and fed to a HistGradientBoosting classifier or
regressor that knows which columns are categorical. --class-weight balanced weighs each
class inversely to its frequency (scikit-learn's class_weight="balanced").

Classification: the decision threshold (the probability from which a row is flagged) is
chosen on the validation split for --threshold-objective: "f1" (the highest F1), "cost"
(the lowest cost, a missed positive costing --threshold-cost-ratio false alarms) or
"min_precision" (the highest recall with precision >= --threshold-min-precision; if no
threshold reaches it, the most precise one, marked constraint_met false). It is stored in
metadata.json ("decision_threshold"), and inference.py and evaluate.py flag at it.

Writes to SM_MODEL_DIR: model.joblib (the whole Pipeline), metadata.json (schema,
hyperparameters, decision threshold, validation metrics at that threshold, library versions)
and code/inference.py, so the model archive ships with its inference handler. Validation
metrics go to stdout as `validation:average_precision=0.3712;` lines and to
SM_OUTPUT_DATA_DIR/validation_metrics.json. A problem ends the job with exit code 1 and its
reason in SM_OUTPUT_DIR/failure, which SageMaker shows as the job's FailureReason. Imports
only the standard library, numpy, pandas, pyarrow, scikit-learn and joblib.

A Preprocess step on N instances leaves one part per instance (train-algo-1.parquet,
schema-algo-1.json, ...): they are merged into one schema here ("Sharded Preprocess
output" below). Training itself runs on one instance: HistGradientBoosting fits on a single
machine, and every host of a multi-instance job would write the same /opt/ml/model files,
which SageMaker packs into one model.tar.gz; such a job is refused (SM_HOSTS).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sys
import traceback
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_curve,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

PROBLEM_TYPES = ("binary_classification", "regression")
MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
SCHEMA_FILE = "schema.json"
METRICS_FILE = "validation_metrics.json"
INFERENCE_SCRIPT = "inference.py"
RANDOM_STATE = 0
# The booster bins a categorical feature into at most 255 bins, one of them for missing.
MAX_CATEGORIES = 254
DEFAULT_HYPERPARAMETERS = {
    "learning-rate": "0.1",
    "max-iter": "200",
    "max-leaf-nodes": "31",
    "l2-regularization": "0.0",
    "class-weight": "none",
}
CLASS_WEIGHTS = ("none", "balanced")
OPERATING_POINT_DEFAULTS = {
    "threshold-objective": "f1",
    "threshold-cost-ratio": "10.0",
    "threshold-min-precision": "0.5",
}
THRESHOLD_OBJECTIVES = ("f1", "cost", "min_precision")
# Without a validation split (or a class in it), the estimator's own cut-off.
DEFAULT_THRESHOLD = 0.5
SCHEMA_KEYS = ("label_column", "problem_type", "numeric_features", "categorical_features")
SPLITS = ("train", "validation", "test")
# preprocess.py's rule: every value distinct in more rows than this marks an identifier.
IDENTIFIER_MIN_ROWS = 50


class TrainingError(Exception):
    """Bad input data, schema or hyperparameters; the message becomes the FailureReason."""


@dataclass(frozen=True)
class Hyperparameters:
    learning_rate: float
    max_iter: int
    max_leaf_nodes: int
    l2_regularization: float
    class_weight: str = "none"


@dataclass(frozen=True)
class OperatingPoint:
    """How the decision threshold is chosen on the validation split."""

    objective: str = "f1"
    cost_ratio: float = 10.0
    min_precision: float = 0.5


def parse_args(
    argv: list[str] | None = None, env: dict[str, str] | None = None
) -> argparse.Namespace:
    """The toolkit's CLI arguments, defaulting to SM_HPS and the SM_* paths."""
    env = dict(os.environ if env is None else env)
    hps = _sm_hyperparameters(env)
    parser = argparse.ArgumentParser(description="Train the model on the train split.")
    parser.add_argument("--label-column", default=_text(hps.get("label-column")))
    parser.add_argument("--problem-type", default=_text(hps.get("problem-type")))
    for name, default in {**DEFAULT_HYPERPARAMETERS, **OPERATING_POINT_DEFAULTS}.items():
        # Kept as text: parse_hyperparameters names the hyperparameter in its error.
        parser.add_argument(f"--{name}", default=_text(hps.get(name, default)))
    parser.add_argument(
        "--model-dir", type=Path, default=Path(env.get("SM_MODEL_DIR", "/opt/ml/model"))
    )
    parser.add_argument(
        "--train",
        type=Path,
        default=Path(env.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")),
    )
    parser.add_argument(
        "--validation",
        type=Path,
        default=Path(env.get("SM_CHANNEL_VALIDATION", "/opt/ml/input/data/validation")),
    )
    parser.add_argument(
        "--output-data-dir",
        type=Path,
        default=Path(env.get("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data")),
    )
    # The toolkit passes every hyperparameter as --name value; some are not ours.
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        print(f"ignoring arguments: {' '.join(unknown)}", flush=True)
    args.hosts = _sm_hosts(env)
    return args


def parse_hyperparameters(raw: dict[str, str]) -> Hyperparameters:
    """{"learning-rate": "0.1", ...} (text, as SageMaker passes them) -> checked values."""
    return Hyperparameters(
        learning_rate=_number(raw, "learning-rate", minimum=0.0, inclusive=False),
        max_iter=_integer(raw, "max-iter", minimum=1),
        max_leaf_nodes=_integer(raw, "max-leaf-nodes", minimum=2),
        l2_regularization=_number(raw, "l2-regularization", minimum=0.0, inclusive=True),
        class_weight=_choice(raw, "class-weight", CLASS_WEIGHTS),
    )


def parse_operating_point(raw: dict[str, str]) -> OperatingPoint:
    """{"threshold-objective": "f1", ...} (text) -> checked values."""
    raw = {**OPERATING_POINT_DEFAULTS, **{k: v for k, v in raw.items() if v is not None}}
    minimum_precision = _number(raw, "threshold-min-precision", minimum=0.0, inclusive=False)
    if minimum_precision > 1:
        raise TrainingError(
            f"hyperparameter threshold-min-precision must be at most 1, got "
            f"{raw['threshold-min-precision']!r}"
        )
    return OperatingPoint(
        objective=_choice(raw, "threshold-objective", THRESHOLD_OBJECTIVES),
        cost_ratio=_number(raw, "threshold-cost-ratio", minimum=0.0, inclusive=False),
        min_precision=minimum_precision,
    )


def _choice(raw: dict[str, str], name: str, choices: tuple[str, ...]) -> str:
    text = str(raw.get(name, DEFAULT_HYPERPARAMETERS.get(name, ""))).strip()
    if text not in choices:
        raise TrainingError(
            f"hyperparameter {name} must be one of {', '.join(choices)}, got {raw.get(name)!r}"
        )
    return text


def _number(raw: dict[str, str], name: str, minimum: float, inclusive: bool) -> float:
    text = raw.get(name)
    try:
        value = float(str(text).strip())
    except ValueError:
        raise TrainingError(f"hyperparameter {name} must be a number, got {text!r}") from None
    if not math.isfinite(value) or value < minimum or (value == minimum and not inclusive):
        bound = f">= {minimum}" if inclusive else f"> {minimum}"
        raise TrainingError(f"hyperparameter {name} must be a finite number {bound}, got {text!r}")
    return value


def _integer(raw: dict[str, str], name: str, minimum: int) -> int:
    text = raw.get(name)
    try:
        value = float(str(text).strip())
    except ValueError:
        value = math.nan
    # "200.0" is an integer too: numeric pipeline parameters may arrive in that form.
    if not math.isfinite(value) or value != int(value):
        raise TrainingError(f"hyperparameter {name} must be an integer, got {text!r}")
    if value < minimum:
        raise TrainingError(f"hyperparameter {name} must be >= {minimum}, got {text!r}")
    return int(value)


def load_schema(train_dir: Path) -> dict:
    """schema.json, or the merge of the schema-<host>.json parts of a sharded Preprocess."""
    path = train_dir / SCHEMA_FILE
    parts = sorted(train_dir.glob("schema-*.json")) if train_dir.is_dir() else []
    if parts and path.is_file():
        raise TrainingError(
            f"{train_dir} holds both {SCHEMA_FILE} and per-instance parts "
            f"({', '.join(p.name for p in parts)}): the train channel must be one "
            "Preprocess step's train output"
        )
    if parts:
        schema = merge_schemas(parts)
    elif not path.is_file():
        raise TrainingError(
            f"{path} not found: the train channel must hold the Preprocess step's train "
            f"output (found: {_listing(train_dir)})"
        )
    else:
        schema = _read_json(path)
    missing = [key for key in SCHEMA_KEYS if key not in schema]
    if missing:
        raise TrainingError(f"{path} lacks {', '.join(missing)}")
    if schema["problem_type"] not in PROBLEM_TYPES:
        raise TrainingError(f"{path}: unknown problem_type {schema['problem_type']!r}")
    if schema["problem_type"] == "binary_classification" and len(schema.get("classes", [])) != 2:
        raise TrainingError(f"{path}: binary_classification needs 2 classes in 'classes'")
    return schema


def check_arguments(args: argparse.Namespace, schema: dict) -> None:
    """The pipeline's label and problem type must be the ones the data was prepared for."""
    for option, key in (("label_column", "label_column"), ("problem_type", "problem_type")):
        given = getattr(args, option)
        if given is not None and given != schema[key]:
            raise TrainingError(
                f"--{option.replace('_', '-')} is {given!r} but the train channel's "
                f"{SCHEMA_FILE} says {schema[key]!r}"
            )


def load_split(directory: Path, name: str, schema: dict) -> pd.DataFrame:
    """`<directory>/<name>.parquet` (or one part per Preprocess instance) with every feature
    and the label present."""
    paths = split_files(directory, name, schema)
    if len(paths) == 1:
        return _load_split_file(paths[0], schema)
    parts = [_load_split_file(path, schema, allow_empty=True) for path in paths]
    expected = schema["row_counts"]["by_host"]
    for path, host, part in zip(paths, schema["hosts"], parts, strict=True):
        if len(part) != expected[host][name]:
            raise TrainingError(
                f"{path} has {len(part)} rows but {host}'s schema part recorded "
                f"{expected[host][name]}: the file is not that instance's {name} split"
            )
    frame = pd.concat(parts, ignore_index=True)
    if len(frame) == 0:
        raise TrainingError(f"the {name} parts in {directory} have no rows")
    return frame


def _load_split_file(path: Path, schema: dict, allow_empty: bool = False) -> pd.DataFrame:
    if not path.is_file():
        raise TrainingError(f"{path} not found (found: {_listing(path.parent)})")
    needed = [*feature_columns(schema), schema["label_column"]]
    try:
        # Only the model's columns: a sharded Preprocess's parts also hold the ones the
        # merge dropped (an identifier column is most of a file's bytes).
        present = set(pq.read_schema(path).names)
        missing = [column for column in needed if column not in present]
        frame = None if missing else pd.read_parquet(path, columns=needed)
    except Exception as error:  # any reader failure means the file itself is bad
        raise TrainingError(f"cannot read {path}: {type(error).__name__}: {error}") from None
    if missing:
        raise TrainingError(f"{path} lacks column(s) {', '.join(missing)} named in schema.json")
    if len(frame) == 0 and not allow_empty:
        raise TrainingError(f"{path} has no rows")
    for column in schema["numeric_features"]:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise TrainingError(
                f"{path}: numeric feature {column!r} has type {frame[column].dtype}, not numbers"
            )
    if frame[schema["label_column"]].isna().any():
        raise TrainingError(f"{path} has rows without a {schema['label_column']!r} label")
    if schema["problem_type"] == "binary_classification":
        unknown = set(frame[schema["label_column"]].unique().tolist()) - set(schema["classes"])
        if unknown:
            raise TrainingError(
                f"{path}: label values {sorted(map(str, unknown))} are not among the "
                f"schema's classes {schema['classes']}"
            )
    return frame


def feature_columns(schema: dict) -> list[str]:
    return list(
        schema.get("feature_columns")
        or [
            *schema["numeric_features"],
            *schema["categorical_features"],
        ]
    )


def model_input(frame: pd.DataFrame, schema: dict) -> pd.DataFrame:
    """The feature columns typed as the model expects: floats, and text objects or NaN.

    inference.py does the same for request payloads; the two must agree.
    """
    columns = {}
    for column in schema["numeric_features"]:
        columns[column] = frame[column].astype("float64")
    for column in schema["categorical_features"]:
        values = frame[column]
        # One representation on every pandas version: Python str, or NaN when missing.
        columns[column] = values.astype(str).astype(object).where(values.notna(), np.nan)
    return pd.DataFrame(columns, index=frame.index)[feature_columns(schema)]


def build_model(schema: dict, hyperparameters: Hyperparameters) -> Pipeline:
    numeric, categorical = schema["numeric_features"], schema["categorical_features"]
    transformers = []
    if numeric:
        # The booster routes missing values itself, learning where they go; imputing
        # would erase missingness, which can be a signal (e.g. an unknown distance).
        transformers.append(("numeric", "passthrough", numeric))
    if categorical:
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=np.nan,
            encoded_missing_value=np.nan,
            max_categories=MAX_CATEGORIES,
        )
        transformers.append(("categorical", encoder, categorical))
    features = ColumnTransformer(transformers, remainder="drop")
    # ColumnTransformer puts the numeric block first, then the categorical one.
    categorical_mask = [False] * len(numeric) + [True] * len(categorical) if categorical else None
    booster = (
        HistGradientBoostingClassifier
        if schema["problem_type"] == "binary_classification"
        else HistGradientBoostingRegressor
    )
    options = {}
    if booster is HistGradientBoostingClassifier and hyperparameters.class_weight != "none":
        options["class_weight"] = hyperparameters.class_weight
    estimator = booster(
        learning_rate=hyperparameters.learning_rate,
        max_iter=hyperparameters.max_iter,
        max_leaf_nodes=hyperparameters.max_leaf_nodes,
        l2_regularization=hyperparameters.l2_regularization,
        categorical_features=categorical_mask,
        random_state=RANDOM_STATE,
        **options,
    )
    return Pipeline([("features", features), ("model", estimator)])


def positive_probability(model: Pipeline, features: pd.DataFrame, schema: dict) -> np.ndarray:
    column = [_plain(value) for value in model.classes_].index(schema["classes"][1])
    return model.predict_proba(features)[:, column]


def choose_threshold(
    positive: np.ndarray, probability: np.ndarray, point: OperatingPoint
) -> dict[str, object]:
    """The decision threshold for `point.objective` on these (validation) rows: a row is
    flagged when its probability is >= the threshold. Where several thresholds score the
    same, the highest (fewest false alarms) wins."""
    chosen: dict[str, object] = {"objective": point.objective}
    if point.objective == "cost":
        # Every cut-off, including "flag nothing" (the first, at +inf).
        false_positive_rates, true_positive_rates, thresholds = roc_curve(
            positive, probability, drop_intermediate=False
        )
        positives, negatives = int(positive.sum()), int((~positive).sum())
        costs = (
            point.cost_ratio * (1 - true_positive_rates) * positives
            + false_positive_rates * negatives
        )
        best = int(np.argmin(costs))  # thresholds decrease: the first minimum is the highest
        value = min(float(thresholds[best]), 1.0)  # "flag nothing" (+inf) as a probability
        chosen.update(cost_ratio=point.cost_ratio, validation_cost=float(costs[best]))
    else:
        precisions, recalls, thresholds = precision_recall_curve(positive, probability)
        # The curve's last point (precision 1, recall 0) has no threshold.
        precisions, recalls = precisions[:-1], recalls[:-1]
        if point.objective == "f1":
            total = precisions + recalls
            scores = np.divide(
                2 * precisions * recalls, total, out=np.zeros_like(total), where=total > 0
            )
        else:
            met = precisions >= point.min_precision
            chosen.update(min_precision=point.min_precision, constraint_met=bool(met.any()))
            # The best recall among thresholds precise enough; if none is, the most precise.
            scores = np.where(met, recalls, -1.0) if met.any() else precisions
        # Thresholds increase: the last maximum is the highest threshold.
        best = len(scores) - 1 - int(np.argmax(scores[::-1]))
        value = float(thresholds[best])
    flagged = probability >= value
    chosen["value"] = value
    chosen["validation"] = {
        "rows": len(positive),
        "flagged": int(flagged.sum()),
        "precision": float(precision_score(positive, flagged, zero_division=0)),
        "recall": float(recall_score(positive, flagged, zero_division=0)),
    }
    return chosen


def default_threshold(why: str) -> dict[str, object]:
    return {"objective": "default", "value": DEFAULT_THRESHOLD, "note": why}


def compute_metrics(
    model: Pipeline, frame: pd.DataFrame, schema: dict, threshold: float = DEFAULT_THRESHOLD
) -> dict[str, float | None]:
    """Validation metrics at the decision threshold; None where a metric is undefined (e.g.
    AUC with one class)."""
    features = model_input(frame, schema)
    actual = frame[schema["label_column"]].to_numpy()
    if schema["problem_type"] == "regression":
        predicted = model.predict(features)
        mse = float(mean_squared_error(actual, predicted))
        return {
            "mse": mse,
            "rmse": math.sqrt(mse),
            "mae": float(mean_absolute_error(actual, predicted)),
            "r2": float(r2_score(actual, predicted)) if len(actual) > 1 else None,
        }
    positive = np.array([_plain(value) == schema["classes"][1] for value in actual])
    probability = positive_probability(model, features, schema)
    flagged = probability >= threshold
    both_classes = 0 < positive.sum() < len(positive)
    return {
        "accuracy": float(accuracy_score(positive, flagged)),
        "precision": float(precision_score(positive, flagged, zero_division=0)),
        "recall": float(recall_score(positive, flagged, zero_division=0)),
        "f1": float(f1_score(positive, flagged, zero_division=0)),
        "auc": float(roc_auc_score(positive, probability)) if both_classes else None,
        "average_precision": float(average_precision_score(positive, probability))
        if positive.any()
        else None,
    }


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("scikit-learn", "numpy", "pandas", "pyarrow", "joblib"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def save_model(
    model: Pipeline, model_dir: Path, info: dict, inference_script: Path | None = None
) -> None:
    """model.joblib, metadata.json and code/inference.py: everything serving needs."""
    inference_script = inference_script or Path(__file__).with_name(INFERENCE_SCRIPT)
    if not inference_script.is_file():
        raise TrainingError(f"{inference_script} not found: it must ship next to train.py")
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, model_dir / MODEL_FILE)
    _write_json(model_dir / METADATA_FILE, info)
    code_dir = model_dir / "code"
    code_dir.mkdir(exist_ok=True)
    shutil.copyfile(inference_script, code_dir / INFERENCE_SCRIPT)


def run(args: argparse.Namespace) -> dict:
    check_single_instance(args.hosts)
    hyperparameters = parse_hyperparameters(
        {name: getattr(args, name.replace("-", "_")) for name in DEFAULT_HYPERPARAMETERS}
    )
    point = parse_operating_point(
        {name: getattr(args, name.replace("-", "_")) for name in OPERATING_POINT_DEFAULTS}
    )
    schema = load_schema(args.train)
    if len(schema.get("hosts") or []) > 1:
        print(merge_summary(schema), flush=True)
    check_arguments(args, schema)
    train = load_split(args.train, "train", schema)
    validation = None
    if args.validation.is_dir():
        validation = load_split(args.validation, "validation", schema)
    else:
        print(f"no validation channel at {args.validation}: skipping validation metrics")

    model = build_model(schema, hyperparameters)
    model.fit(model_input(train, schema), train[schema["label_column"]].to_numpy())
    print(f"trained on {len(train)} rows, {len(feature_columns(schema))} features", flush=True)

    threshold = None
    if schema["problem_type"] == "binary_classification":
        threshold = operating_threshold(model, validation, schema, point)
        print(f"decision threshold {threshold['value']:.6f} ({threshold['objective']})", flush=True)
    metrics = None
    if validation is not None:
        cut = threshold["value"] if threshold else DEFAULT_THRESHOLD
        metrics = compute_metrics(model, validation, schema, cut)
        for name, value in metrics.items():
            if value is not None:
                # The format SageMaker metric definitions scrape from the logs.
                print(f"validation:{name}={value:.6f};", flush=True)
        args.output_data_dir.mkdir(parents=True, exist_ok=True)
        _write_json(args.output_data_dir / METRICS_FILE, metrics)

    info = {
        "schema": schema,
        "hyperparameters": asdict(hyperparameters),
        "random_state": RANDOM_STATE,
        "training_rows": len(train),
        "validation_rows": None if validation is None else len(validation),
        "validation_metrics": metrics,
        "decision_threshold": threshold,
        "library_versions": library_versions(),
        "model_file": MODEL_FILE,
    }
    save_model(model, args.model_dir, info)
    print(f"saved the model to {args.model_dir / MODEL_FILE}", flush=True)
    return info


def operating_threshold(
    model: Pipeline, validation: pd.DataFrame | None, schema: dict, point: OperatingPoint
) -> dict[str, object]:
    """The decision threshold chosen on the validation split (the test split stays unseen)."""
    if validation is None:
        return default_threshold("no validation split to choose a threshold on")
    positive = np.array(
        [_plain(value) == schema["classes"][1] for value in validation[schema["label_column"]]]
    )
    if positive.all() or not positive.any():
        return default_threshold("the validation split holds one class only")
    probability = positive_probability(model, model_input(validation, schema), schema)
    return choose_threshold(positive, probability, point)


# -- Sharded Preprocess output --------------------------------------------------------------
#
# A Preprocess step on N instances writes, per instance, <split>-<host>.parquet and
# schema-<host>.json: that instance's rows and the facts about its columns (kind, rows,
# distinct values, a constant column's value, the class counts). The column decisions
# preprocess.py makes for a single instance are made here from every part's facts with the
# same rules: a column is constant when it has one and the same value everywhere, an
# identifier when it is text with every value distinct in every part (and more than
# IDENTIFIER_MIN_ROWS rows in all), and a binary label needs two classes across all parts.
# Parts that contradict each other (a column numbers in one, text in another; different
# columns, labels or hosts) are refused, naming the files.


def merge_schemas(paths: list[Path]) -> dict:
    """One schema, as preprocess.py writes it for one instance, from every instance's part."""
    parts = {path: _read_json(path) for path in paths}
    first_path, first = next(iter(parts.items()))
    for key in ("label_column", "problem_type", "hosts", "columns"):
        for path, part in parts.items():
            if key not in part:
                raise TrainingError(f"{path} lacks {key!r}: not a Preprocess schema part")
            if part[key] != first[key]:
                raise TrainingError(
                    f"{path.name} and {first_path.name} in {path.parent} disagree on {key}: "
                    f"{part[key]!r} vs {first[key]!r}"
                )
    hosts = list(first["hosts"])
    by_host = {}
    for path, part in parts.items():
        if path.name != f"schema-{part.get('host')}.json" or part["host"] not in hosts:
            raise TrainingError(
                f"{path} says it is host {part.get('host')!r}'s part of {hosts}: it was not "
                "written by one of the Preprocess job's instances under its own name"
            )
        by_host[part["host"]] = part
    missing = [host for host in hosts if host not in by_host]
    if missing:
        raise TrainingError(
            f"no schema part from {', '.join(missing)} in {first_path.parent} (found "
            f"{', '.join(p.name for p in paths)}): each of the Preprocess job's {len(hosts)} "
            "instances writes schema-<host>.json"
        )
    label = first["label_column"]
    numeric, categorical, dropped = [], [], {}
    for column in first["columns"]:
        if column == label:
            continue
        facts = {path: part["column_facts"][column] for path, part in parts.items()}
        kind = _merged_kind(column, facts)
        reason = _useless(kind, list(facts.values()))
        if reason:
            dropped[column] = reason
        elif kind == "numeric":
            numeric.append(column)
        else:
            categorical.append(column)
    if not numeric and not categorical:
        raise TrainingError(
            f"no feature columns left in the parts {', '.join(p.name for p in paths)} besides "
            f"the label {label!r} (dropped: {', '.join(dropped) or 'none'})"
        )
    columns = [column for column in first["columns"] if column not in dropped]
    counts = ("read", "missing_label", *SPLITS)
    schema = {
        "label_column": label,
        "problem_type": first["problem_type"],
        "hosts": hosts,
        "columns": columns,
        "feature_columns": [c for c in columns if c in numeric or c in categorical],
        "numeric_features": numeric,
        "categorical_features": categorical,
        "dropped_columns": dropped,
        "row_counts": {
            **{key: sum(int(p["row_counts"][key]) for p in by_host.values()) for key in counts},
            "by_host": {h: {k: int(by_host[h]["row_counts"][k]) for k in counts} for h in hosts},
        },
    }
    if first["problem_type"] == "binary_classification":
        schema["classes"] = _merged_classes(label, parts)
        _refuse_thin_splits(label, parts)
    return schema


def merge_summary(schema: dict) -> str:
    dropped = ", ".join(f"{c} ({why})" for c, why in schema["dropped_columns"].items())
    return (
        f"merged the schema parts of {len(schema['hosts'])} Preprocess instances "
        f"({', '.join(schema['hosts'])}): {len(schema['feature_columns'])} features, "
        f"dropped columns: {dropped or 'none'}"
    )


def _merged_kind(column: str, facts: dict[Path, dict]) -> str:
    kinds = {path: fact["kind"] for path, fact in facts.items()}
    found = {kind for kind in kinds.values() if kind != "empty"}
    if len(found) > 1:
        numeric = [path.name for path, kind in kinds.items() if kind == "numeric"]
        text = [path.name for path, kind in kinds.items() if kind == "categorical"]
        raise TrainingError(
            f"column {column!r} holds numbers in {', '.join(numeric)} but text in "
            f"{', '.join(text)} ({next(iter(facts)).parent}): the Preprocess instances found "
            "different kinds of values in their shares of the input; make the column's "
            "values consistent across the input files"
        )
    if not found:
        raise TrainingError(
            f"column {column!r} has no values in any part ({', '.join(p.name for p in facts)})"
        )
    return found.pop()


def _useless(kind: str, facts: list[dict]) -> str | None:
    """preprocess.useless_columns() on the union of the parts' rows."""
    filled = [fact for fact in facts if fact["rows"] > 0]
    if all(f["distinct"] <= 1 for f in filled) and len({f["constant"] for f in filled}) <= 1:
        return "constant"
    if (
        kind == "categorical"
        and sum(f["rows"] for f in filled) > IDENTIFIER_MIN_ROWS
        and all(f["distinct"] == f["rows"] for f in filled)
    ):
        return "identifier"
    return None


def _merged_classes(label: str, parts: dict[Path, dict]) -> list:
    counts: dict = {}
    for path, part in parts.items():
        for value, count in part.get("class_counts") or []:
            if counts and type(value) is not type(next(iter(counts))):
                raise TrainingError(
                    f"label column {label!r} has values of different types across the parts "
                    f"({path.name} has {value!r}, another part {next(iter(counts))!r})"
                )
            counts[value] = counts.get(value, 0) + int(count)
    classes = sorted(counts)
    names = ", ".join(path.name for path in parts)
    if len(classes) == 1:
        raise TrainingError(
            f"label column {label!r} has a single class ({classes[0]!r}, {counts[classes[0]]} "
            f"rows) across the parts {names}: a classifier needs two"
        )
    if len(classes) != 2:
        shown = ", ".join(f"{value!r} ({counts[value]})" for value in classes[:10])
        raise TrainingError(
            f"binary_classification needs exactly 2 classes but label column {label!r} has "
            f"{len(classes)} across the parts {names}: {shown}"
        )
    return classes


def _refuse_thin_splits(label: str, parts: dict[Path, dict]) -> None:
    """Preprocess's minimum rows of each class in every split, on the whole data: one
    instance's share may hold fewer without the data being too thin."""
    minimum = max(int(part.get("min_class_count") or 1) for part in parts.values())
    totals: dict = {}
    for part in parts.values():
        for split, pairs in (part.get("split_class_counts") or {}).items():
            for value, count in pairs:
                totals[(split, value)] = totals.get((split, value), 0) + int(count)
    order = {split: position for position, split in enumerate(SPLITS)}
    thin = sorted((count, -order[split], split, value) for (split, value), count in totals.items())
    if thin and thin[0][0] < minimum:
        count, _, split, value = thin[0]
        names = ", ".join(path.name for path in parts)
        raise TrainingError(
            f"label column {label!r}: the {split} split has only {count} row(s) of class "
            f"{value!r} across the parts {names}; every split needs at least {minimum} of each "
            "class to measure anything (--min-class-count, [quality_gate].min_class_count). "
            f"Add data with more rows of class {value!r}"
        )


def split_files(directory: Path, name: str, schema: dict) -> list[Path]:
    """The files of one split: `<name>.parquet`, or one `<name>-<host>.parquet` per host of
    a sharded Preprocess (the merged schema lists the hosts)."""
    hosts = schema.get("hosts") or []
    if len(hosts) > 1:
        return [directory / f"{name}-{host}.parquet" for host in hosts]
    return [directory / f"{name}.parquet"]


def check_single_instance(hosts: list[str]) -> None:
    """Refuse a training job on more than one instance (see the module docstring)."""
    if len(hosts) > 1:
        raise TrainingError(
            f"this training job runs on {len(hosts)} instances ({', '.join(hosts)}), but "
            "scikit-learn's HistGradientBoosting trains on one: every instance would fit "
            "the same model and write the same /opt/ml/model files, which SageMaker packs "
            "into one model.tar.gz and which must not clash. Run the training job on 1 "
            "instance (InstanceCount 1)"
        )


def main(argv: list[str] | None = None) -> int:
    failure_file = Path(os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output")) / "failure"
    try:
        run(parse_args(argv))
    except TrainingError as error:
        return fail(failure_file, str(error))
    except Exception as error:
        traceback.print_exc()
        return fail(failure_file, f"unexpected error: {type(error).__name__}: {error}")
    return 0


def fail(failure_file: Path, message: str) -> int:
    """Leave the reason where SageMaker shows it (first 1 KB) and as the last stderr line."""
    message = " ".join(message.splitlines())
    sys.stdout.flush()
    try:
        failure_file.parent.mkdir(parents=True, exist_ok=True)
        failure_file.write_text(message, encoding="utf-8")
    except OSError as error:
        print(f"cannot write the failure reason to {failure_file}: {error}", file=sys.stderr)
    print(f"ERROR: {message}", file=sys.stderr, flush=True)
    return 1


def _sm_hyperparameters(env: dict[str, str]) -> dict:
    try:
        hps = json.loads(env.get("SM_HPS") or "{}")
    except ValueError:
        return {}
    return hps if isinstance(hps, dict) else {}


def _sm_hosts(env: dict[str, str]) -> list[str]:
    try:
        hosts = json.loads(env.get("SM_HOSTS") or "[]")
    except ValueError:
        return []
    return [str(host) for host in hosts] if isinstance(hosts, list) else []


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise TrainingError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise TrainingError(f"{path} is not a JSON object")
    return data


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _listing(directory: Path) -> str:
    if not directory.is_dir():
        return f"no directory {directory}"
    names = sorted(path.name for path in directory.iterdir())
    return ", ".join(names[:10]) + (", ..." if len(names) > 10 else "") if names else "nothing"


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def _write_json(path: Path, data: dict) -> None:
    text = json.dumps(data, indent=2, sort_keys=True, allow_nan=False, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
