"""Preprocess job: validate the raw input, clean it and split it into train / validation / test.

Runs as a SageMaker processing job in the scikit-learn image (see pipelines/definition.py):

    python3 preprocess.py --label-column is_fraud --problem-type binary_classification \\
        --input-dir /opt/ml/processing/input/data --train-dir /opt/ml/processing/train \\
        --validation-dir /opt/ml/processing/validation --test-dir /opt/ml/processing/test \\
        --exit-message-file /opt/ml/output/message

Reads every .csv, .csv.gz, .parquet and .pq file under --input-dir (recursively, in path
order), writes train/train.parquet, validation/validation.parquet, test/test.parquet and
train/schema.json. Feature types are inferred:

* numeric: numeric columns, and text columns whose every value parses as a number;
* boolean (True/False) columns become numeric 0/1, so the model and the inference handler
  treat them like any other number (a missing value stays missing);
* categorical: every other column, with surrounding whitespace stripped and empty text
  treated as missing.

A text column where at least 90% of the values are numbers but some are not is reported as
an error (a typo or a unit in a numeric column), as are empty or unreadable files,
mismatched columns, an all-empty column and a label unfit for the problem type.

Data that cannot make an honest model is refused too:

* a column name that appears twice in a file's header (CSV) or schema (Parquet), which pandas
  would silently read as two columns `x` and `x.1`;
* a feature that is the label, or predicts it perfectly on its own (leakage): for
  classification, one threshold on a numeric feature, or the values of a categorical one,
  that put every row in its class, when chance could not have done it (under independence
  the probability of so clean a split is below LEAKAGE_CHANCE, so a coincidence on a handful
  of rows is not refused); for regression, a numeric feature of which the label is a
  monotone function (rank correlation 1);
* fewer than --min-class-count rows of either class in any split: a test split with one
  positive measures nothing.

Any problem ends the job with exit code 1 and its reason in --exit-message-file, which
SageMaker shows as the job's failure reason. Imports only the standard library, numpy,
pandas and pyarrow.

On more than one instance (`hosts` in --resource-config, SageMaker's
/opt/ml/config/resourceconfig.json) the input is sharded by S3 key: each instance cleans and
splits its own files and writes its own part, named after its host (train/train-algo-1.parquet,
..., train/schema-algo-1.json), because every instance uploads to the same S3 location. What
needs the whole data (feature types, constant and identifier columns, the classes) is not
decided here: each part records its columns' facts and train.py merges the parts. See
"Sharded runs" below.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import math
import sys
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

PROBLEM_TYPES = ("binary_classification", "regression")
EXTENSIONS = (".csv", ".csv.gz", ".parquet", ".pq")
DEFAULT_EXIT_MESSAGE_FILE = "/opt/ml/output/message"
DEFAULT_RESOURCE_CONFIG = "/opt/ml/config/resourceconfig.json"
SCHEMA_FILE = "schema.json"
SPLITS = ("train", "validation", "test")
# A text column is taken for a numeric column with bad values when at least this share of
# its values are numbers; below it, it is a categorical column that has some numbers in it.
NUMERIC_MAJORITY = 0.9
# Every value distinct in a small file is normal; in more rows it marks an identifier.
IDENTIFIER_MIN_ROWS = 50
# Each split needs at least this many rows of each class (--min-class-count).
DEFAULT_MIN_CLASS_COUNT = 10
# A feature that sorts every row into its class is leakage unless chance could have done it:
# refused when, were the feature independent of the label, a split that clean would have a
# probability below this.
LEAKAGE_CHANCE = 1e-6


class InputError(Exception):
    """Bad input data or arguments; the message becomes the job's failure reason."""


@dataclass
class Inputs:
    """The input files concatenated, with where each file's rows start in `frame`."""

    frame: pd.DataFrame
    files: list[Path]
    offsets: list[int] = field(default_factory=lambda: [0])

    def locate(self, position: int) -> str:
        """'row N of FILE' for a 0-based position in `frame` (N counts data rows from 1)."""
        index = int(np.searchsorted(self.offsets, position, side="right")) - 1
        return f"row {position - self.offsets[index] + 1} of {self.files[index]}"

    def describe(self) -> str:
        if len(self.files) == 1:
            return str(self.files[0])
        return f"{self.files[0]} and {len(self.files) - 1} more input file(s)"


@dataclass
class Prepared:
    """The cleaned data and what was learned about its columns."""

    frame: pd.DataFrame
    label_column: str
    problem_type: str
    numeric_features: list[str]
    categorical_features: list[str]
    classes: list | None
    dropped_columns: dict[str, str]
    rows_read: int
    missing_label_rows: int
    # Every feature column's kind on this data ("numeric", "categorical"; "empty" only on a
    # shard, where a column may be blank in this instance's files alone).
    column_kinds: dict[str, str] = field(default_factory=dict)

    @property
    def feature_columns(self) -> list[str]:
        features = set(self.numeric_features) | set(self.categorical_features)
        return [column for column in self.frame.columns if column in features]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = _Parser(description="Validate, clean and split the input data.")
    parser.add_argument("--label-column", required=True)
    parser.add_argument("--problem-type", required=True, help=" or ".join(PROBLEM_TYPES))
    parser.add_argument("--input-dir", type=Path, default=Path("/opt/ml/processing/input/data"))
    parser.add_argument("--train-dir", type=Path, default=Path("/opt/ml/processing/train"))
    parser.add_argument(
        "--validation-dir", type=Path, default=Path("/opt/ml/processing/validation")
    )
    parser.add_argument("--test-dir", type=Path, default=Path("/opt/ml/processing/test"))
    parser.add_argument("--validation-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--random-seed", type=int, default=42)
    parser.add_argument("--min-class-count", type=int, default=DEFAULT_MIN_CLASS_COUNT)
    parser.add_argument("--exit-message-file", type=Path, default=Path(DEFAULT_EXIT_MESSAGE_FILE))
    parser.add_argument(
        "--resource-config", type=Path, default=Path(DEFAULT_RESOURCE_CONFIG), help="hosts"
    )
    args = parser.parse_args(argv)
    if args.problem_type not in PROBLEM_TYPES:
        raise InputError(
            f"--problem-type must be one of {', '.join(PROBLEM_TYPES)}, got {args.problem_type!r}"
        )
    fractions = (args.validation_fraction, args.test_fraction)
    if not all(0 < fraction < 1 for fraction in fractions) or sum(fractions) >= 1:
        raise InputError(
            "--validation-fraction and --test-fraction must each be between 0 and 1 and sum "
            f"to less than 1, got {args.validation_fraction} and {args.test_fraction}"
        )
    if args.min_class_count < 1:
        raise InputError(f"--min-class-count must be at least 1, got {args.min_class_count}")
    return args


class _Parser(argparse.ArgumentParser):
    # argparse would exit 2 with usage only; the job must also leave its failure reason.
    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError(f"invalid arguments: {message}")


def find_input_files(input_dir: Path) -> list[Path]:
    if not input_dir.is_dir():
        raise InputError(f"input directory {input_dir} does not exist")
    candidates = sorted(path for path in input_dir.rglob("*") if path.is_file())
    files = [path for path in candidates if path.name.lower().endswith(EXTENSIONS)]
    if not files:
        seen = ", ".join(path.name for path in candidates[:5]) or "nothing"
        raise InputError(
            f"no input files in {input_dir}: expected files ending in "
            f"{', '.join(EXTENSIONS)} (found {seen})"
        )
    return files


def read_table(path: Path) -> pd.DataFrame:
    """One input file; an empty or unreadable file is an InputError naming it."""
    try:
        if path.name.lower().endswith((".parquet", ".pq")):
            frame = pd.read_parquet(path)
        else:
            # low_memory=False types each column from the whole file, not chunk by chunk,
            # so a column never mixes numbers and text.
            frame = pd.read_csv(path, low_memory=False)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path} is empty: no header and no rows") from None
    except MemoryError:
        raise
    except Exception as error:  # any parser failure means the file itself is bad
        detail = " ".join(str(error).split())[:300]
        raise InputError(
            f"cannot read {path}: {type(error).__name__}: {detail} (corrupt or not a valid "
            f"{_format_of(path)} file?)"
        ) from error
    if len(frame) == 0:
        raise InputError(f"{path} has no rows (columns: {_names(frame.columns)})")
    return frame


def refuse_duplicate_columns(files: list[Path]) -> None:
    """A name twice in one header: pandas would read the copies as `x.1`, `x.2` (so a copy of
    the label becomes a feature), and Parquet files may hold them too."""
    for path in files:
        names = header_names(path)
        repeated = [
            name for name, count in Counter(names).items() if count > 1 and name.strip() != ""
        ]
        if not repeated:
            continue
        name = repeated[0]
        positions = [str(number) for number, seen in enumerate(names, start=1) if seen == name]
        where = "Parquet schema" if _format_of(path) == "Parquet" else "header"
        raise InputError(
            f"{path}: column name {name!r} appears {len(positions)} times in the {where} "
            f"(columns {', '.join(positions)}); pandas would silently read the copies as "
            f"{name + '.1'!r} and so on. Rename or drop the duplicate columns"
        )


def header_names(path: Path) -> list[str]:
    """The column names as the file states them; [] when the file cannot tell (read_table
    then reports why)."""
    try:
        if _format_of(path) == "Parquet":
            return list(pq.read_schema(path).names)
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as handle:
            return next(csv.reader(handle), [])
    except Exception:  # a corrupt or unreadable file: read_table names the problem
        return []


def load_inputs(input_dir: Path) -> Inputs:
    files = find_input_files(input_dir)
    frames: list[pd.DataFrame] = []
    offsets: list[int] = []
    rows = 0
    for path in files:
        frame = read_table(path)
        if frames:
            frame = _align_columns(frame, list(frames[0].columns), path, files[0])
        frames.append(frame)
        offsets.append(rows)
        rows += len(frame)
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return Inputs(frame=frame, files=files, offsets=offsets)


def _align_columns(
    frame: pd.DataFrame, expected: list[str], path: Path, first: Path
) -> pd.DataFrame:
    if list(frame.columns) == expected:
        return frame
    missing = [column for column in expected if column not in frame.columns]
    extra = [column for column in frame.columns if column not in expected]
    if missing or extra:
        raise InputError(
            f"{path} has different columns from {first}: "
            f"missing {_names(missing) or 'none'}; unexpected {_names(extra) or 'none'}"
        )
    return frame[expected]


def prepare(
    inputs: Inputs, label_column: str, problem_type: str, *, shard: bool = False
) -> Prepared:
    """Validate and clean every column, drop unlabelled rows and useless columns.

    Cleans `inputs.frame` column by column in place rather than copying the whole table.
    With `shard` (one instance's share of a sharded input) the decisions that need the
    whole data are left to the merge in train.py: no column is dropped, a column blank in
    this share is "empty", and one class alone is allowed.
    """
    frame = inputs.frame
    if label_column not in frame.columns:
        raise InputError(
            f"label column {label_column!r} not found in {inputs.describe()}; "
            f"available columns: {_names(frame.columns)}"
        )
    rows_read = len(frame)
    label = clean_label(frame[label_column], label_column, problem_type, inputs)
    kinds: dict[str, str] = {}
    for column in frame.columns:
        if column == label_column:
            continue
        original = frame[column]
        if shard and not original.notna().any():
            kinds[column] = "empty"
            frame[column] = np.nan  # float64: concatenates with numbers and with text
            continue
        cleaned, kinds[column] = normalize_column(original, column, inputs)
        if cleaned is not original:
            frame[column] = cleaned
    frame[label_column] = label

    labelled = label.notna().to_numpy()
    missing_label_rows = int((~labelled).sum())
    if missing_label_rows:
        frame = frame.loc[labelled].reset_index(drop=True)
    if problem_type != "regression":
        frame[label_column] = _integral_classes(frame[label_column])
    classes = check_classes(
        frame[label_column], label_column, problem_type, inputs, single_class_ok=shard
    )

    dropped = {} if shard else useless_columns(frame, kinds)
    if dropped:
        frame = frame.drop(columns=list(dropped))
    numeric = [column for column in frame.columns if kinds.get(column) == "numeric"]
    categorical = [column for column in frame.columns if kinds.get(column) == "categorical"]
    if not numeric and not categorical and not shard:
        raise InputError(
            f"no feature columns left in {inputs.describe()} besides the label "
            f"{label_column!r} (dropped: {_names(dropped) or 'none'})"
        )
    return Prepared(
        frame=frame,
        label_column=label_column,
        problem_type=problem_type,
        numeric_features=numeric,
        categorical_features=categorical,
        classes=classes,
        dropped_columns=dropped,
        rows_read=rows_read,
        missing_label_rows=missing_label_rows,
        column_kinds=kinds,
    )


def normalize_column(series: pd.Series, name: str, inputs: Inputs) -> tuple[pd.Series, str]:
    """The column as model input and its kind: "numeric" or "categorical".

    Numbers become float64/int64, booleans 0/1, text is stripped with "" as missing.
    """
    if not series.notna().any():
        raise InputError(
            f"column {name!r} has no values (every row is empty) in {inputs.describe()}"
        )
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    if pd.api.types.is_bool_dtype(series) or _inferred(series) == "boolean":
        return _booleans_to_numbers(series), "numeric"
    if pd.api.types.is_numeric_dtype(series) or _inferred(series) in _NUMBER_KINDS:
        return _finite_numbers(_to_float_if_extension(series), name, inputs), "numeric"

    text = _stripped_text(series)
    parsed = pd.to_numeric(text, errors="coerce")
    present = text.notna().to_numpy()
    bad = present & parsed.isna().to_numpy()
    n_present, n_bad = int(present.sum()), int(bad.sum())
    if n_present == 0:
        raise InputError(f"column {name!r} has no values (only blanks) in {inputs.describe()}")
    if n_bad == 0:
        return _finite_numbers(parsed, name, inputs), "numeric"
    if (n_present - n_bad) / n_present >= NUMERIC_MAJORITY:
        position = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"non-numeric value {_quote(text.iloc[position])} in numeric column {name!r} at "
            f"{inputs.locate(position)} ({n_bad} of {n_present} values are not numbers)"
        )
    return text, "categorical"


_NUMBER_KINDS = ("integer", "floating", "mixed-integer-float", "decimal")


def _inferred(series: pd.Series) -> str:
    if not pd.api.types.is_object_dtype(series):
        return ""
    return pd.api.types.infer_dtype(series, skipna=True)


def _booleans_to_numbers(series: pd.Series) -> pd.Series:
    # int64 without missing values, float64 with NaN where they are missing.
    return series.map({True: 1, False: 0}).astype("float64" if series.hasnans else "int64")


def _to_float_if_extension(series: pd.Series) -> pd.Series:
    if isinstance(series.dtype, np.dtype) and series.dtype != object:
        return series
    # Nullable or object numbers: plain float64 with NaN, which every library version takes.
    return pd.Series(
        pd.to_numeric(series).to_numpy(dtype="float64", na_value=np.nan),
        index=series.index,
        name=series.name,
    )


def _finite_numbers(series: pd.Series, name: str, inputs: Inputs) -> pd.Series:
    if pd.api.types.is_float_dtype(series):
        infinite = np.isinf(series.to_numpy())
        if infinite.any():
            position = int(np.flatnonzero(infinite)[0])
            raise InputError(
                f"infinite value {series.iloc[position]} in numeric column {name!r} at "
                f"{inputs.locate(position)}"
            )
    return series


def _stripped_text(series: pd.Series) -> pd.Series:
    all_text = isinstance(series.dtype, pd.StringDtype) or _inferred(series) == "string"
    if not all_text:
        # Numbers mixed with text (files typed differently), dates, bytes: compare as text,
        # since .str would turn every non-text value into a missing one.
        series = series.astype(object)
        series = series.where(series.isna(), series.astype(str))
    text = series.str.strip()
    return text.mask(text == "")


def clean_label(series: pd.Series, name: str, problem_type: str, inputs: Inputs) -> pd.Series:
    """The label as numbers (regression) or class values (classification), NaN if missing."""
    if not series.notna().any():
        raise InputError(f"label column {name!r} has no values in {inputs.describe()}")
    if problem_type == "regression" and (
        pd.api.types.is_bool_dtype(series) or _inferred(series) == "boolean"
    ):
        raise InputError(
            f"regression label column {name!r} holds True/False values in "
            f"{inputs.describe()}; use --problem-type binary_classification"
        )
    label, kind = normalize_column(series, name, inputs)
    if kind == "categorical" and problem_type == "regression":
        not_numbers = label.notna() & pd.to_numeric(label, errors="coerce").isna()
        position = int(np.flatnonzero(not_numbers.to_numpy())[0])
        raise InputError(
            f"regression label column {name!r} is not numeric: value "
            f"{_quote(label.iloc[position])} at {inputs.locate(position)}"
        )
    return label


def _integral_classes(label: pd.Series) -> pd.Series:
    # A missing label makes pandas read 0/1 as 0.0/1.0: the classes stay integers.
    if pd.api.types.is_float_dtype(label) and (label == np.floor(label)).all():
        return label.astype("int64")
    return label


def check_classes(
    label: pd.Series,
    name: str,
    problem_type: str,
    inputs: Inputs,
    *,
    single_class_ok: bool = False,
) -> list | None:
    """The sorted classes of a classification label, which must have exactly two (or one,
    with `single_class_ok`: a shard whose other class is in other instances' shards)."""
    if problem_type == "regression":
        return None
    if len(label) == 0:
        raise InputError(f"label column {name!r} has no values in {inputs.describe()}")
    counts = label.value_counts()
    classes = sorted(counts.index.tolist())
    if len(classes) == 1 and not single_class_ok:
        raise InputError(
            f"label column {name!r} has a single class ({classes[0]!r}, {counts.iloc[0]} rows) "
            f"in {inputs.describe()}: a classifier needs two"
        )
    if len(classes) > 2:
        shown = ", ".join(f"{value!r} ({counts[value]})" for value in classes[:10])
        raise InputError(
            f"binary_classification needs exactly 2 classes but label column {name!r} has "
            f"{len(classes)} in {inputs.describe()}: {shown}"
            + (", ..." if len(classes) > 10 else "")
        )
    return [_plain(value) for value in classes]


def useless_columns(frame: pd.DataFrame, kinds: dict[str, str]) -> dict[str, str]:
    """{column: reason} for identifier-like and constant feature columns."""
    dropped: dict[str, str] = {}
    rows = len(frame)
    for column, kind in kinds.items():
        distinct = frame[column].nunique(dropna=False)
        if distinct <= 1:
            dropped[column] = "constant"
        elif kind == "categorical" and rows > IDENTIFIER_MIN_ROWS and distinct == rows:
            dropped[column] = "identifier"
    return dropped


def refuse_leaking_features(prepared: Prepared, inputs: Inputs) -> None:
    """A feature that is the label or predicts it perfectly on its own leaks the answer: the
    model would learn the copy and the gate would measure it."""
    label = prepared.frame[prepared.label_column]
    numeric = set(prepared.numeric_features)
    for column in prepared.feature_columns:
        values = prepared.frame[column]
        if prepared.problem_type == "regression":
            leak = _regression_leak(values, label) if column in numeric else None
        else:
            leak = _classification_leak(values, label, column, column in numeric)
        if leak:
            raise InputError(
                f"column {column!r} in {inputs.describe()} {leak}. "
                "A feature that is the label, or is derived from it, leaks the answer into "
                "training (leakage): drop the column or fix the data"
            )


def _classification_leak(values: pd.Series, label: pd.Series, name: str, numeric: bool):
    """How `values` gives the label away, or None."""
    if _same_values(values, label):
        return f"is identical to the label {label.name!r}"
    classes = sorted(label.unique().tolist())
    if len(classes) < 2:
        return None  # one instance's share may hold one class; train.py counts them all
    positive = (label == classes[1]).to_numpy()
    rows, positives = len(positive), int(positive.sum())
    perfect = f"predicts the label {label.name!r} perfectly on its own: every row with "
    if numeric:
        numbers = values.to_numpy(dtype="float64")
        # Chance of the rarer class's rows being the top (or bottom) ones: 2 / C(rows, rarer).
        chance = math.log(2) - _log_binomial(rows, min(positives, rows - positives))
        if chance >= math.log(LEAKAGE_CHANCE):
            return None
        # Missing values sort below every number, then above: missingness may be the leak.
        for missing in (-np.inf, np.inf):
            filled = np.where(np.isnan(numbers), missing, numbers)
            upper, lower = classes[1], classes[0]
            high, low = filled[positive], filled[~positive]
            if high.max() < low.min():
                upper, lower, high, low = lower, upper, low, high
            elif not low.max() < high.min():
                continue
            cut = high.min()
            side = f"{name} missing" if math.isinf(cut) else f"{name} >= {cut:g}"
            return perfect + f"{side} is {upper!r}, every other row {lower!r}"
        return None
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    sizes = np.bincount(codes)
    hits = np.bincount(codes, weights=positive.astype("float64"))
    if not np.all((hits == 0) | (hits == sizes)):
        return None
    rate = positives / rows
    # Chance of every category holding one class, were categories and classes independent.
    chance = float(np.sum(np.logaddexp(sizes * math.log(rate), sizes * math.log1p(-rate))))
    if chance >= math.log(LEAKAGE_CHANCE):
        return None
    pure = [str(uniques[code]) for code in np.flatnonzero(hits == sizes)]
    shown = ", ".join(pure[:3]) + (", ..." if len(pure) > 3 else "")
    return perfect + f"{name} in {shown} is {classes[1]!r}, every other row {classes[0]!r}"


def _regression_leak(values: pd.Series, label: pd.Series):
    numbers, target = values.to_numpy(dtype="float64"), label.to_numpy(dtype="float64")
    if np.array_equal(numbers, target):
        return f"is identical to the label {label.name!r}"
    present = ~np.isnan(numbers)
    rows = int(present.sum())
    # The ranks of n distinct values line up by chance with probability 2 / n!.
    if rows < 0.9 * len(numbers) or math.log(2) - math.lgamma(rows + 1) >= math.log(LEAKAGE_CHANCE):
        return None
    ranks = pd.Series(numbers[present]).rank().to_numpy()
    target_ranks = pd.Series(target[present]).rank().to_numpy()
    if np.std(ranks) == 0 or np.std(target_ranks) == 0:
        return None
    if abs(float(np.corrcoef(ranks, target_ranks)[0, 1])) < 1 - 1e-12:
        return None
    return (
        f"predicts the label {label.name!r} perfectly on its own: the label is a monotone "
        "function of it (rank correlation 1)"
    )


def _same_values(values: pd.Series, label: pd.Series) -> bool:
    if values.isna().any():
        return False
    if pd.api.types.is_numeric_dtype(values) and pd.api.types.is_numeric_dtype(label):
        return bool(np.array_equal(values.to_numpy("float64"), label.to_numpy("float64")))
    return bool((values.astype(str).to_numpy() == label.astype(str).to_numpy()).all())


def _log_binomial(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def split_indices(
    label: pd.Series,
    problem_type: str,
    validation_fraction: float,
    test_fraction: float,
    seed: int,
) -> dict[str, np.ndarray]:
    """Sorted row positions of each split; stratified on the label for classification.

    Each class (or, for regression, the whole data) is shuffled with a fixed seed and cut
    by the fractions, keeping at least one row of every class in train.
    """
    rng = np.random.default_rng(seed)
    if problem_type == "regression":
        groups = [np.arange(len(label))]
    else:
        codes, _ = pd.factorize(label, sort=True)
        groups = [np.flatnonzero(codes == code) for code in range(codes.max() + 1)]
    parts: dict[str, list[np.ndarray]] = {split: [] for split in SPLITS}
    for group in groups:
        shuffled = rng.permutation(group)
        n = len(shuffled)
        n_test = min(round(n * test_fraction), max(n - 1, 0))
        n_validation = min(round(n * validation_fraction), max(n - 1 - n_test, 0))
        parts["test"].append(shuffled[:n_test])
        parts["validation"].append(shuffled[n_test : n_test + n_validation])
        parts["train"].append(shuffled[n_test + n_validation :])
    return {split: np.sort(np.concatenate(chunks)) for split, chunks in parts.items()}


def split_class_counts(prepared: Prepared, indices: dict[str, np.ndarray]) -> dict:
    """{split: [[class, rows], ...]} for classification (JSON-ready: a sharded run's parts
    carry it so train.py can apply the minimum to the whole data)."""
    label = prepared.frame[prepared.label_column]
    return {
        split: [
            [_plain(value), int(label.take(indices[split]).value_counts().get(value, 0))]
            for value in prepared.classes
        ]
        for split in SPLITS
    }


def thinnest_split(counts: dict) -> tuple[int, str, object]:
    """(rows, split, class) of the rarest class in any split; on a tie the test split, which
    measures."""
    order = {split: position for position, split in enumerate(SPLITS)}
    rows, _, split, value = min(
        (int(count), -order[split], split, value)
        for split, pairs in counts.items()
        for value, count in pairs
    )
    return rows, split, value


def refuse_thin_splits(
    prepared: Prepared, indices: dict[str, np.ndarray], minimum: int, inputs: Inputs
) -> None:
    """Every split needs `minimum` rows of each class: a test split with one positive
    measures nothing, a validation split with one cannot choose a threshold."""
    if prepared.classes is None or any(len(rows) == 0 for rows in indices.values()):
        return  # regression; or an empty split, which write_outputs names
    totals = prepared.frame[prepared.label_column].value_counts()
    count, split, value = thinnest_split(split_class_counts(prepared, indices))
    if count < minimum:
        raise InputError(
            f"label column {prepared.label_column!r}: the {split} split has only {count} "
            f"row(s) of class {value!r} ({int(totals.get(value, 0))} in all of "
            f"{inputs.describe()}); every split needs at least {minimum} of each class to "
            "measure anything (--min-class-count, [quality_gate].min_class_count). Add data "
            f"with more rows of class {value!r}"
        )


def build_schema(prepared: Prepared, sizes: dict[str, int]) -> dict:
    schema = {
        "label_column": prepared.label_column,
        "problem_type": prepared.problem_type,
        "columns": list(prepared.frame.columns),
        "feature_columns": prepared.feature_columns,
        "numeric_features": prepared.numeric_features,
        "categorical_features": prepared.categorical_features,
        "dropped_columns": prepared.dropped_columns,
        "row_counts": {
            "read": prepared.rows_read,
            "missing_label": prepared.missing_label_rows,
            **sizes,
        },
    }
    if prepared.classes is not None:
        schema["classes"] = prepared.classes
    return schema


def write_outputs(
    prepared: Prepared,
    indices: dict[str, np.ndarray],
    directories: dict[str, Path],
    cluster: Cluster | None = None,
    min_class_count: int = 1,
) -> dict:
    cluster = cluster or Cluster()
    sizes = {split: len(indices[split]) for split in SPLITS}
    empty = [split for split in SPLITS if sizes[split] == 0]
    # A shard's empty split is fine while other instances' parts fill it; train.py checks.
    if empty and not cluster.sharded:
        raise InputError(
            f"only {len(prepared.frame)} labelled rows: too few to fill the "
            f"{' and '.join(empty)} split(s); add data or change the split fractions"
        )
    for split in SPLITS:
        directories[split].mkdir(parents=True, exist_ok=True)
        # One split in memory at a time keeps the peak at about twice the data.
        part = prepared.frame.take(indices[split])
        part.to_parquet(directories[split] / cluster.part_name(split), index=False)
        del part
    schema = build_schema(prepared, sizes)
    if cluster.sharded:
        schema.update(shard_facts(prepared, cluster, indices, min_class_count))
    schema_text = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    (directories["train"] / cluster.schema_name).write_text(schema_text, encoding="utf-8")
    return schema


def summary(prepared: Prepared, schema: dict, inputs: Inputs) -> str:
    label = prepared.frame[prepared.label_column]
    counts = schema["row_counts"]
    lines = [
        f"read {counts['read']} rows and {len(inputs.frame.columns)} columns from "
        f"{len(inputs.files)} file(s): {inputs.describe()}",
        f"dropped {counts['missing_label']} rows with a missing label",
        "dropped columns: "
        + (
            ", ".join(f"{c} ({why})" for c, why in prepared.dropped_columns.items())
            or ("decided by the Train step from every part" if "hosts" in schema else "none")
        ),
        f"numeric features ({len(prepared.numeric_features)}): "
        f"{_names(prepared.numeric_features) or 'none'}",
        f"categorical features ({len(prepared.categorical_features)}): "
        f"{_names(prepared.categorical_features) or 'none'}",
    ]
    if prepared.classes is not None:
        balance = label.value_counts()
        lines.append(
            "class balance: "
            + ", ".join(
                f"{value}: {balance[value]} ({balance[value] / len(label):.2%})"
                for value in sorted(balance.index)
            )
        )
    else:
        lines.append(
            f"label: mean {label.mean():.4g}, std {label.std():.4g}, "
            f"min {label.min():.4g}, max {label.max():.4g}"
        )
    lines.append("split: " + ", ".join(f"{split} {counts[split]}" for split in SPLITS))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict:
    cluster = read_cluster(args.resource_config)
    if cluster.sharded:
        require_share(args.input_dir, cluster)
    refuse_duplicate_columns(find_input_files(args.input_dir))
    inputs = load_inputs(args.input_dir)
    prepared = prepare(inputs, args.label_column, args.problem_type, shard=cluster.sharded)
    refuse_leaking_features(prepared, inputs)
    indices = split_indices(
        prepared.frame[prepared.label_column],
        prepared.problem_type,
        args.validation_fraction,
        args.test_fraction,
        args.random_seed,
    )
    # One instance of several sees a share of the rows: there the minimum applies to the
    # whole data, which train.py checks when it merges the parts' counts.
    if not cluster.sharded:
        refuse_thin_splits(prepared, indices, args.min_class_count, inputs)
    directories = {
        "train": args.train_dir,
        "validation": args.validation_dir,
        "test": args.test_dir,
    }
    schema = write_outputs(prepared, indices, directories, cluster, args.min_class_count)
    print(summary(prepared, schema, inputs), flush=True)
    if cluster.sharded:
        print(shard_summary(cluster), flush=True)
    return schema


# -- Sharded runs ---------------------------------------------------------------------------
#
# With N instances the Preprocess input is ShardedByS3Key: each instance gets about 1/N of
# the input's objects (whole files, never parts of one), so every input row is read by
# exactly one instance and lands in exactly one of its splits. Each instance's part is
# named after its host. Per-column decisions depend on all the data, so a part records the
# facts they are made from (kind, rows, distinct values, the value of a constant column, the
# classes and their counts) and train.py merges every part with the rules useless_columns()
# and check_classes() apply to a single instance's data, refusing parts that contradict
# each other.


@dataclass(frozen=True)
class Cluster:
    """This instance and all of the job's, from SageMaker's resourceconfig.json."""

    current_host: str = "algo-1"
    hosts: tuple[str, ...] = ("algo-1",)

    @property
    def sharded(self) -> bool:
        return len(self.hosts) > 1

    def part_name(self, split: str) -> str:
        return f"{split}-{self.current_host}.parquet" if self.sharded else f"{split}.parquet"

    @property
    def schema_name(self) -> str:
        return f"schema-{self.current_host}.json" if self.sharded else SCHEMA_FILE


def read_cluster(path: Path) -> Cluster:
    """The hosts in `path`; one host when the file is absent (a run outside SageMaker)."""
    if not path.is_file():
        return Cluster()
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        host, hosts = config["current_host"], tuple(config["hosts"])
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(
            f"{path} is not a resource config with current_host and hosts: {error}"
        ) from None
    if host not in hosts:
        raise InputError(f"{path}: current_host {host!r} is not one of its hosts {list(hosts)}")
    return Cluster(current_host=host, hosts=hosts)


def require_share(input_dir: Path, cluster: Cluster) -> None:
    """This instance must have files; none means the input has fewer objects than instances."""
    has_files = input_dir.is_dir() and any(p.is_file() for p in input_dir.rglob("*"))
    if not has_files:
        count = len(cluster.hosts)
        raise InputError(
            f"host {cluster.current_host} of {count} received no input files in {input_dir}: "
            f"the input is sharded by S3 key (ShardedByS3Key), so each of the {count} "
            f"instances gets about 1/{count} of its objects, and it has fewer objects than "
            "instances. Split the input into at least ProcessingInstanceCount files, or "
            "lower ProcessingInstanceCount"
        )


def shard_facts(
    prepared: Prepared, cluster: Cluster, indices: dict[str, np.ndarray], min_class_count: int
) -> dict:
    """What train.py needs to merge this part with the others' (see train.merge_schemas)."""
    frame = prepared.frame
    facts = {}
    for column, kind in prepared.column_kinds.items():
        values = frame[column]
        distinct = int(values.nunique(dropna=False))
        constant = None
        if distinct == 1:
            value = values.iloc[0]
            if not pd.isna(value):
                constant = float(value) if kind == "numeric" else str(value)
        facts[column] = {
            "kind": kind,
            "rows": len(frame),
            "distinct": distinct,
            "constant": constant,
        }
    shard = {
        "host": cluster.current_host,
        "hosts": list(cluster.hosts),
        "column_facts": facts,
    }
    if prepared.classes is not None:
        counts = frame[prepared.label_column].value_counts()
        shard["class_counts"] = [
            [_plain(value), int(counts[value])] for value in sorted(counts.index)
        ]
    if prepared.classes is not None:
        shard["split_class_counts"] = split_class_counts(prepared, indices)
        shard["min_class_count"] = min_class_count
    return shard


def shard_summary(cluster: Cluster) -> str:
    return (
        f"host {cluster.current_host} of {len(cluster.hosts)} ({', '.join(cluster.hosts)}): "
        "this instance's share of the input only. Feature types, dropped columns and the "
        "classes are decided by the Train step from every instance's "
        f"schema-<host>.json; this part is {cluster.schema_name}"
    )


def main(argv: list[str] | None = None) -> int:
    message_file = _exit_message_file(argv)
    try:
        args = parse_args(argv)
        run(args)
    except InputError as error:
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
    except InputError:
        return Path(DEFAULT_EXIT_MESSAGE_FILE)
    return Path(known.exit_message_file)


def _names(columns) -> str:
    return ", ".join(str(column) for column in columns)


def _quote(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 50 else text[:47] + "...")


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def _format_of(path: Path) -> str:
    return "Parquet" if path.name.lower().endswith((".parquet", ".pq")) else "CSV"


if __name__ == "__main__":
    sys.exit(main())
