"""Evaluate job: score the trained model on the held-out test split.

Runs as a SageMaker processing job in the scikit-learn image (see pipelines/definition.py):

    python3 evaluate.py --label-column is_fraud --problem-type binary_classification \\
        --model-dir /opt/ml/processing/model --test-dir /opt/ml/processing/test \\
        --output-dir /opt/ml/processing/evaluation --exit-message-file /opt/ml/output/message

--model-dir holds model.tar.gz, the training job's packed model dir (or its extracted files).
The archive is extracted safely (no absolute paths, `..`, escaping links or devices) into a
temporary dir. Writes --output-dir/evaluation.json in SageMaker's model-quality format,

    {"binary_classification_metrics": {"accuracy": {"value": 0.97, "standard_deviation": "NaN"},
                                       ..., "confusion_matrix": {"0": {"0": 7250, "1": 20}}},
     "evaluation": {"problem_type": ..., "test_rows": ..., "positive_class": 1, "model": {...}}}

(regression: "regression_metrics" with mse, rmse, mae, r2), which the CheckMetric step reads
and the model registry shows. A problem ends the job with exit code 1 and its reason in
--exit-message-file. Imports only the standard library, numpy, pandas, scikit-learn and joblib.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tarfile
import tempfile
import traceback
from pathlib import Path, PurePosixPath

import joblib
import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)

PROBLEM_TYPES = ("binary_classification", "regression")
DEFAULT_EXIT_MESSAGE_FILE = "/opt/ml/output/message"
MODEL_ARCHIVE = "model.tar.gz"
MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
TEST_FILE = "test.parquet"
EVALUATION_FILE = "evaluation.json"


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
    args = parser.parse_args(argv)
    if args.problem_type not in PROBLEM_TYPES:
        raise EvaluationError(
            f"--problem-type must be one of {', '.join(PROBLEM_TYPES)}, got {args.problem_type!r}"
        )
    return args


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
    path = test_dir / TEST_FILE
    if not path.is_file():
        raise EvaluationError(f"{path} not found: the test input must be the Preprocess output")
    try:
        frame = pd.read_parquet(path)
    except Exception as error:  # any reader failure means the file itself is bad
        raise EvaluationError(f"cannot read {path}: {type(error).__name__}: {error}") from None
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


def score_model(model: object, frame: pd.DataFrame, schema: dict) -> dict:
    """The model-quality metrics of `model` on `frame`, in SageMaker's JSON shape."""
    features = model_input(frame, schema)
    actual = frame[schema["label_column"]].to_numpy()
    predicted = model.predict(features)
    if schema["problem_type"] == "regression":
        mse = float(mean_squared_error(actual, predicted))
        return {
            "regression_metrics": {
                "mse": _metric(mse),
                "rmse": _metric(math.sqrt(mse)),
                "mae": _metric(mean_absolute_error(actual, predicted)),
                "r2": _metric(r2_score(actual, predicted) if len(actual) > 1 else None),
            }
        }
    classes = schema["classes"]
    positive = classes[1]
    column = [_plain(value) for value in model.classes_].index(positive)
    probability = model.predict_proba(features)[:, column]
    scores = {"pos_label": positive, "zero_division": 0}
    matrix = confusion_matrix(actual, predicted, labels=classes)
    return {
        "binary_classification_metrics": {
            "accuracy": _metric(accuracy_score(actual, predicted)),
            "precision": _metric(precision_score(actual, predicted, **scores)),
            "recall": _metric(recall_score(actual, predicted, **scores)),
            "f1": _metric(f1_score(actual, predicted, **scores)),
            # Undefined when the test split holds one class only.
            "auc": _metric(
                roc_auc_score(actual == positive, probability)
                if len(np.unique(actual)) == 2
                else None
            ),
            "confusion_matrix": {
                str(truth): {str(guess): int(matrix[row][col]) for col, guess in enumerate(classes)}
                for row, truth in enumerate(classes)
            },
        }
    }


def model_summary(metadata: dict) -> dict:
    """What evaluation.json says about the model: enough to tell two models apart."""
    keys = ("hyperparameters", "training_rows", "validation_metrics", "library_versions")
    return {key: metadata.get(key) for key in keys}


def build_report(metrics: dict, schema: dict, metadata: dict, test_rows: int) -> dict:
    evaluation = {
        "problem_type": schema["problem_type"],
        "label_column": schema["label_column"],
        "test_rows": test_rows,
        "model": model_summary(metadata),
    }
    if schema["problem_type"] == "binary_classification":
        evaluation["positive_class"] = schema["classes"][1]
    return {**metrics, "evaluation": evaluation}


def run(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="model-") as work_dir:
        model, metadata = load_model(args.model_dir, Path(work_dir))
    schema = check_model(metadata, args.label_column, args.problem_type)
    test = load_test(args.test_dir, schema)
    metrics = score_model(model, test, schema)
    report = build_report(metrics, schema, metadata, len(test))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, sort_keys=True, allow_nan=False, ensure_ascii=False)
    (args.output_dir / EVALUATION_FILE).write_text(text + "\n", encoding="utf-8")
    print(f"scored {len(test)} test rows", flush=True)
    for group in metrics.values():
        for name, metric in group.items():
            if isinstance(metric, dict) and isinstance(metric.get("value"), float):
                print(f"test:{name}={metric['value']:.6f};", flush=True)
    return report


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
