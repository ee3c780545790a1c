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
     "evaluation": {"problem_type": ..., "test_rows": ..., "positive_class": 1, "model": {...}},
     "champion": {...}, "decision": {...}}

(regression: "regression_metrics" with mse, rmse, mae, r2), which the CheckMetric step reads
and the model registry shows.

Champion/challenger: with --champion-dir (the current approved model's model.tar.gz, or a
NO_CHAMPION marker when the registry has none) the champion is re-scored on this same test
split, and "decision" records both values of --metric, the --threshold rule, the champion
rule (the challenger must be strictly better by at least --champion-margin) and a reason
that says which rule failed and by how much. The pipeline's CheckChampion step reads
decision.beats_champion. A problem ends the job with exit code 1 and its reason in
--exit-message-file. Imports only the standard library, numpy, pandas, scikit-learn and joblib.
"""

from __future__ import annotations

import argparse
import hashlib
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
NO_CHAMPION_MARKER = "NO_CHAMPION"
METRIC_GROUPS = {
    "binary_classification": "binary_classification_metrics",
    "regression": "regression_metrics",
}


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
    parser.add_argument("--metric", help="the metric the decision compares, e.g. accuracy")
    parser.add_argument("--higher-is-better", default="true", choices=("true", "false"))
    parser.add_argument("--threshold", type=float, help="the metric's absolute threshold")
    parser.add_argument("--champion-margin", type=float, default=0.0)
    args = parser.parse_args(argv)
    if args.problem_type not in PROBLEM_TYPES:
        raise EvaluationError(
            f"--problem-type must be one of {', '.join(PROBLEM_TYPES)}, got {args.problem_type!r}"
        )
    if args.champion_dir is not None and (args.metric is None or args.threshold is None):
        raise EvaluationError("--champion-dir needs --metric and --threshold to decide")
    if args.champion_margin < 0:
        raise EvaluationError(f"--champion-margin must be >= 0, got {args.champion_margin}")
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


def metric_value(metrics: dict, problem_type: str, metric: str) -> float | None:
    group = metrics.get(METRIC_GROUPS[problem_type], {})
    if metric not in group:
        raise EvaluationError(
            f"--metric {metric!r} is not a {problem_type} metric "
            f"({', '.join(name for name in group if name != 'confusion_matrix')})"
        )
    return group[metric]["value"]


def archive_digest(model_dir: Path) -> str | None:
    archive = model_dir / MODEL_ARCHIVE
    if not archive.is_file():
        return None
    digest = hashlib.sha256()
    with archive.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def score_champion(
    champion_dir: Path, version: str, test_dir: Path, label_column: str, problem_type: str
) -> dict:
    """The champion re-scored on today's test split: status none / scored / unscorable."""
    if (champion_dir / NO_CHAMPION_MARKER).is_file():
        return {"status": "none"}
    # ResolveChampion says "none" when the registry has no approved model.
    champion = {"status": "scored", "version": version if version not in ("", "none") else None}
    try:
        with tempfile.TemporaryDirectory(prefix="champion-") as work_dir:
            model, metadata = load_model(champion_dir, Path(work_dir))
        schema = check_model(metadata, label_column, problem_type)
        champion.update(score_model(model, load_test(test_dir, schema), schema))
    except EvaluationError as error:
        # An old model that cannot read today's data cannot defend its title.
        champion.update(status="unscorable", error=str(error))
    return champion


def decide(
    challenger: float | None,
    champion: dict,
    metric: str,
    problem_type: str,
    higher_is_better: bool,
    threshold: float,
    margin: float,
    same_model: bool = False,
) -> dict:
    """Both rules, their outcome and one sentence saying which failed and by how much."""
    sign = 1 if higher_is_better else -1
    word = "below" if higher_is_better else "above"
    decision = {
        "metric": metric,
        "higher_is_better": higher_is_better,
        "challenger": challenger,
        "threshold": threshold,
        "margin": margin,
        "champion_version": champion.get("version"),
        "champion": None,
        "improvement": None,
    }
    if challenger is None:
        decision.update(passes_threshold=False, beats_champion=False, register=False)
        decision["reason"] = f"{metric} is undefined on this test split"
        return decision
    gap = sign * (challenger - threshold)
    passes = gap >= 0
    threshold_text = (
        f"{metric} {challenger:.4f} clears the threshold {threshold:.4f} by {gap:.4f}"
        if passes
        else f"{metric} {challenger:.4f} is {-gap:.4f} {word} the threshold {threshold:.4f} "
        "(MetricThreshold)"
    )
    name = f"champion v{champion['version']}" if champion.get("version") else "the champion"
    status = champion["status"]
    if status == "none":
        beats, champion_text = True, "no approved champion yet, so the threshold alone decides"
    elif status == "unscorable":
        beats = True
        champion_text = (
            f"{name} cannot score today's test data ({champion['error']}), "
            "so the threshold alone decides"
        )
    else:
        theirs = metric_value(champion, problem_type, metric)
        decision["champion"] = theirs
        if theirs is None:
            beats, champion_text = True, f"{name}'s {metric} is undefined on this split"
        else:
            improvement = sign * (challenger - theirs)
            decision["improvement"] = improvement
            # A tie is not a win: re-registering an equal model would only add noise.
            beats = improvement > 0 and improvement >= margin
            if same_model:
                champion_text = f"it is {name}'s own model (identical model.tar.gz)"
            elif beats:
                champion_text = (
                    f"beats {name} ({theirs:.4f}) by {improvement:.4f} (margin {margin:.4f})"
                )
            elif improvement < 0:
                champion_text = (
                    f"does not beat {name} ({theirs:.4f}): it is {-improvement:.4f} worse"
                )
            elif improvement == 0:
                champion_text = f"does not beat {name} ({theirs:.4f}): a tie"
            else:
                champion_text = (
                    f"beats {name} ({theirs:.4f}) by only {improvement:.4f}, "
                    f"{margin - improvement:.4f} short of the margin {margin:.4f} "
                    "(ChampionMargin)"
                )
    decision.update(passes_threshold=passes, beats_champion=beats, register=passes and beats)
    decision["reason"] = f"{threshold_text}; {champion_text}"
    return decision


def run(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="model-") as work_dir:
        model, metadata = load_model(args.model_dir, Path(work_dir))
    schema = check_model(metadata, args.label_column, args.problem_type)
    test = load_test(args.test_dir, schema)
    metrics = score_model(model, test, schema)
    report = build_report(metrics, schema, metadata, len(test))
    if args.champion_dir is not None:
        champion = score_champion(
            args.champion_dir,
            args.champion_version,
            args.test_dir,
            args.label_column,
            args.problem_type,
        )
        mine = archive_digest(args.model_dir)
        same_model = mine is not None and mine == archive_digest(args.champion_dir)
        report["champion"] = champion
        report["decision"] = decide(
            metric_value(metrics, args.problem_type, args.metric),
            champion,
            args.metric,
            args.problem_type,
            args.higher_is_better == "true",
            args.threshold,
            args.champion_margin,
            same_model,
        )
        decision = report["decision"]
        verdict = "register" if decision["register"] else "do not register"
        print(f"decision: {verdict}: {decision['reason']}", flush=True)
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
