"""Data-quality job: baselines and drift checks in SageMaker Model Monitor's formats.

Runs as a SageMaker processing job in the scikit-learn image, in one of two modes:

    python3 data_quality.py baseline --data-dir /opt/ml/processing/input/data \\
        --output-dir /opt/ml/processing/baseline
    python3 data_quality.py check --data-dir /opt/ml/processing/input/data \\
        --baseline-dir /opt/ml/processing/input/baseline --output-dir /opt/ml/processing/drift

One file, two modes: a processing job runs one code file, and both modes must read data,
type values and bin them the same way (the check also describes the current data with the
baseline's code), so they share it here.

`baseline` reads a data set (the training split Preprocess writes: every .csv, .csv.gz,
.parquet and .pq file under --data-dir) and the schema.json Preprocess writes beside it
(which columns are features, numeric or categorical; the label and the columns Preprocess
dropped are never checked), and writes to --output-dir:

* statistics.json ("Schema for Statistics" in the Model Monitor guide): the item count and,
  per feature, num_present / num_missing; numeric: mean, sum, std_dev (population), min,
  max, the distribution as 10 equal-width `kll.buckets` between min and max (exact counts)
  and `kll.sketch` (deequ's parameters c 0.64, k 2048; `data` holds one level: every value
  when there are at most k of them, otherwise the values at k evenly spaced ranks, each
  standing for n/k rows); categorical: distinct_count and `categorical.buckets` (the
  MAX_CATEGORY_BUCKETS most frequent values). Each numeric feature also carries
  `drift_bins`, this project's custom statistic (the schema's "provision for custom
  stats"): the edges of its PSI_BINS quantile bins and the count of values in each.
* constraints.json ("Schema for Constraints"): per feature inferred_type, completeness,
  num_constraints.is_non_negative, string_constraints.domains (for at most
  MAX_DOMAIN_VALUES values) and Model Monitor's monitoring_config with its documented
  defaults; plus `drift_check`, this project's settings, which Model Monitor does not define:
  the feature order of the model's input, the ignored columns and the default thresholds.

`check` compares the data under --data-dir (the same kind of tables, or JSON Lines captured
by an endpoint: captureData.endpointInput with CSV, JSON or BASE64 data, as SageMaker's
data capture writes them) with the baseline in --baseline-dir, and writes:

* statistics.json: the current data's statistics, in the baseline's format;
* constraint_violations.json ("Schema for Violations"): {"violations": [{"feature_name",
  "constraint_check_type", "description"}]} with data_type_check, completeness_check,
  baseline_drift_check, missing_column_check, extra_column_check, categorical_values_check;
* drift_report.json: the verdict and, per feature, the population stability index, a
  two-sample test, the missing-rate change, new categories and both distributions on the
  baseline's bins (see "Measures" below).

With a NO_CHAMPION marker in --baseline-dir (no model to compare with) the check reads no
data and writes drift_report.json with the verdict "no_baseline".

As the endpoint's monitoring job the check also takes the window as --end-time and
--window-hours (a schedule knows only its own time), writes the window's rows as a CSV
table a retraining run can read (--export-dir, under yyyy/mm/dd/ of the window's start) and
the drift metrics as a CloudWatch PutMetricData request (--metrics-namespace, with
--metrics-dimension NAME=VALUE), which --publish-metrics sends with the job's role.

Measures, per feature (numeric bins: the baseline's quantile bins (-inf, e1], (e1, e2], ...,
(ek, inf); categorical bins: the baseline's categories, "(other)" for values beyond the
stored ones, "(new)" for values the baseline never saw; both plus "(missing)"):

* PSI = sum over bins of (q - p) * ln(q / p), p and q the baseline's and the current share of
  rows in the bin, each floored at EPSILON (1e-4) so an empty bin counts as a share of 1e-4.
  Judged only when both data sets have at least --psi-min-rows rows: PSI's expected value
  without any drift is about (bins - 1) * (1/n + 1/m), too noisy on a handful of rows;
* numeric: the two-sample Kolmogorov-Smirnov test on the present values, with the baseline's
  CDF read from its sketch (exact when it holds every value, otherwise within half an item,
  1/(2k), of each rank, which the test subtracts from the distance); categorical: Pearson's
  chi-square test of homogeneity on the present values' counts;
* p-values adjusted with Holm's step-down method across the features tested, so the chance
  that any feature of undrifted data is flagged by its test stays below --alpha;
* Model Monitor's L-infinity distance (linf_simple, and linf_robust = max(0, linf_simple -
  1.8 * sqrt((n + m) / (n m))), as deequ computes them), reported for comparison.

A feature drifts when its PSI reaches --psi-threshold or its adjusted p-value is below
--alpha. The verdict is "drift" when a feature drifts or the columns changed (a feature
missing, an unknown column, values of another type); thresholds not given as arguments come
from the baseline's constraints.json, else the defaults.

Any problem ends the job with exit code 1 and its reason, naming the file and column, in
--exit-message-file, which SageMaker shows as the job's failure reason. Imports only the
standard library, numpy, pandas, pyarrow and scipy.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import csv
import gzip
import io
import itertools
import json
import math
import sys
import tarfile
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from scipy import stats

DEFAULT_EXIT_MESSAGE_FILE = "/opt/ml/output/message"
TABLE_EXTENSIONS = (".csv", ".csv.gz", ".parquet", ".pq")
CAPTURE_EXTENSIONS = (".jsonl",)
SCHEMA_FILE = "schema.json"
# What Train writes beside the model: its "schema" is the merged one of a sharded Preprocess.
MODEL_METADATA = "metadata.json"
STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"
VIOLATIONS_FILE = "constraint_violations.json"
REPORT_FILE = "drift_report.json"
NO_CHAMPION_MARKER = "NO_CHAMPION"

# Model Monitor materializes a numeric distribution in 10 buckets ("Schema for Statistics").
KLL_BUCKETS = 10
# deequ's KLLSketch defaults (DEFAULT_SKETCH_SIZE, DEFAULT_SHRINKING_FACTOR).
KLL_C = 0.64
DEFAULT_SKETCH_SIZE = 2048
# Categorical buckets kept in statistics.json; the rest is counted, not named.
MAX_CATEGORY_BUCKETS = 1000
# Model Monitor writes string domains "for small cardinality".
MAX_DOMAIN_VALUES = 100
# Model Monitor's documented monitoring_config defaults ("Schema for Constraints").
MONITORING_DEFAULTS = {
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 0.1,
    "domain_content_threshold": 0.1,
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    },
}
# deequ's linf_robust: linf_simple less 1.8 * sqrt((n + m) / (n m)) (a two-sample KS bound).
LINF_ROBUST_FACTOR = 1.8
# This project's drift settings (drift_check in constraints.json, and the check's arguments).
DRIFT_DEFAULTS = {
    "psi_threshold": 0.2,
    "psi_moderate": 0.1,
    "alpha": 0.01,
    "psi_min_rows": 500,
}
DEFAULT_PSI_BINS = 10
EPSILON = 1e-4
CORRECTION = "holm"
# Categories drawn in a report's distribution chart; the rest are pooled as "(other)".
CHART_CATEGORIES = 20
TOP_FEATURES = 10
# Captured requests parsed before their rows are typed and the raw text dropped.
CAPTURE_CHUNK = 50_000
OTHER, NEW, MISSING = "(other)", "(new)", "(missing)"
_TRUE_FALSE = {"true": 1.0, "false": 0.0}


class DataQualityError(Exception):
    """Bad input data or arguments; the message becomes the job's failure reason."""


# -- Arguments ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = _Parser(description="Data-quality baselines and drift checks.")
    modes = parser.add_subparsers(dest="mode", required=True, parser_class=_Parser)

    baseline = modes.add_parser("baseline", help="statistics.json and constraints.json")
    baseline.add_argument("--data-dir", type=Path, default=Path("/opt/ml/processing/input/data"))
    baseline.add_argument(
        "--schema", type=Path, help="Preprocess's schema.json (default: DATA_DIR/schema.json)"
    )
    baseline.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing/baseline"))
    baseline.add_argument("--psi-bins", type=int, default=DEFAULT_PSI_BINS)
    baseline.add_argument("--sketch-size", type=int, default=DEFAULT_SKETCH_SIZE)
    _threshold_arguments(baseline, defaults=True)

    check = modes.add_parser("check", help="constraint_violations.json and drift_report.json")
    check.add_argument("--data-dir", type=Path, default=Path("/opt/ml/processing/input/data"))
    check.add_argument(
        "--baseline-dir", type=Path, default=Path("/opt/ml/processing/input/baseline")
    )
    check.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing/drift"))
    check.add_argument("--start-time", help="captured data: first inferenceTime (ISO 8601)")
    check.add_argument("--end-time", help="captured data: inferenceTime before this (ISO 8601)")
    check.add_argument(
        "--window-hours",
        type=float,
        help="captured data: the window's length, ending at --end-time (instead of --start-time)",
    )
    check.add_argument(
        "--export-dir",
        type=Path,
        help="captured data: also write the window's rows as CSV (training columns) under "
        "EXPORT_DIR/yyyy/mm/dd/",
    )
    check.add_argument(
        "--metrics-namespace", help="write the drift metrics as a CloudWatch PutMetricData request"
    )
    check.add_argument(
        "--metrics-dimension",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a dimension of every metric (repeatable), e.g. Endpoint=my-endpoint",
    )
    check.add_argument(
        "--no-data-ok",
        action="store_true",
        help="no data files or no rows (an hour without requests) is a report with the verdict "
        "no_data, not a failure",
    )
    check.add_argument(
        "--publish-metrics",
        action="store_true",
        help="also send the metrics to CloudWatch (PutMetricData, with the job's role)",
    )
    _threshold_arguments(check, defaults=False)

    for mode in (baseline, check):
        mode.add_argument("--exit-message-file", type=Path, default=Path(DEFAULT_EXIT_MESSAGE_FILE))
    args = parser.parse_args(argv)
    _check_thresholds(args)
    if args.mode == "baseline":
        if not 2 <= args.psi_bins <= 100:
            raise DataQualityError(f"--psi-bins must be between 2 and 100, got {args.psi_bins}")
        if args.sketch_size < 16:
            raise DataQualityError(f"--sketch-size must be at least 16, got {args.sketch_size}")
    else:
        start = _instant(args.start_time, "--start-time")
        end = _instant(args.end_time, "--end-time")
        if args.window_hours is not None:
            if end is None or start is not None:
                raise DataQualityError("--window-hours needs --end-time and replaces --start-time")
            if not 0 < args.window_hours <= 24 * 31:
                raise DataQualityError(
                    f"--window-hours must be above 0 and at most 744, got {args.window_hours}"
                )
            start = end - pd.Timedelta(hours=args.window_hours)
            args.start_time = _iso(start)
        args.window = (start, end)
        if args.export_dir is not None and end is None:
            raise DataQualityError("--export-dir needs --end-time: the export is one window's")
        args.dimensions = _dimensions(args.metrics_dimension)
        if args.publish_metrics and not args.metrics_namespace:
            raise DataQualityError("--publish-metrics needs --metrics-namespace")
        if start is not None and end is not None and start >= end:
            raise DataQualityError(
                f"--start-time {args.start_time} must be before --end-time {args.end_time}"
            )
    return args


def _threshold_arguments(parser: argparse.ArgumentParser, defaults: bool) -> None:
    source = "" if defaults else "; default: the baseline's constraints.json, else "
    for name, meaning in (
        ("psi_threshold", "a feature drifts when its PSI reaches this"),
        ("psi_moderate", "PSI from which a feature's shift is reported as moderate"),
        ("alpha", "family-wise level of the tests (Holm); 0 turns the tests off"),
        ("psi_min_rows", "rows each data set needs before PSI is judged"),
    ):
        kind = int if name == "psi_min_rows" else float
        default = DRIFT_DEFAULTS[name]
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=default if defaults else None,
            help=f"{meaning} ({source}{default})",
        )


def _check_thresholds(args: argparse.Namespace) -> None:
    given = {name: getattr(args, name) for name in DRIFT_DEFAULTS}
    if given["psi_threshold"] is not None and not given["psi_threshold"] > 0:
        raise DataQualityError(f"--psi-threshold must be above 0, got {given['psi_threshold']}")
    if given["psi_moderate"] is not None and not given["psi_moderate"] > 0:
        raise DataQualityError(f"--psi-moderate must be above 0, got {given['psi_moderate']}")
    if given["alpha"] is not None and not 0 <= given["alpha"] < 1:
        raise DataQualityError(f"--alpha must be at least 0 and below 1, got {given['alpha']}")
    if given["psi_min_rows"] is not None and given["psi_min_rows"] < 1:
        raise DataQualityError(f"--psi-min-rows must be at least 1, got {given['psi_min_rows']}")
    moderate, significant = given["psi_moderate"], given["psi_threshold"]
    if moderate is not None and significant is not None and moderate > significant:
        raise DataQualityError(
            f"--psi-moderate {moderate} is above --psi-threshold {significant}: a moderate "
            "shift must be smaller than a significant one"
        )


class _Parser(argparse.ArgumentParser):
    # argparse would exit 2 with usage only; the job must also leave its failure reason.
    def error(self, message: str) -> None:  # type: ignore[override]
        raise DataQualityError(f"invalid arguments: {message}")


def _instant(text: str | None, option: str) -> pd.Timestamp | None:
    if text is None:
        return None
    try:
        moment = pd.Timestamp(text)
    except ValueError:
        raise DataQualityError(f"{option} {text!r} is not an ISO 8601 time") from None
    return moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")


# -- Reading data -------------------------------------------------------------------------


@dataclass
class NumericValues:
    """One numeric feature as read: its present, finite values and what else was seen."""

    parts: list[np.ndarray] = field(default_factory=list)
    rows: int = 0
    invalid: int = 0  # present but not a finite number
    non_integral: int = 0

    @property
    def values(self) -> np.ndarray:
        if len(self.parts) != 1:
            self.parts = [np.concatenate(self.parts) if self.parts else np.empty(0)]
        return self.parts[0]

    @property
    def present(self) -> int:
        return sum(len(part) for part in self.parts)


@dataclass
class CategoricalValues:
    """One categorical feature as read: how often each (stripped) value occurs."""

    counts: Counter = field(default_factory=Counter)
    rows: int = 0

    @property
    def present(self) -> int:
        return sum(self.counts.values())


@dataclass
class Dataset:
    """What was read from the data files, one entry per feature found in them."""

    rows: int
    columns: dict[str, NumericValues | CategoricalValues]
    files: list[Path]
    source: str  # "table" or "capture"
    absent: list[str] = field(default_factory=list)  # features in no file
    extra: list[str] = field(default_factory=list)  # columns nobody knows
    skipped: Counter = field(default_factory=Counter)
    first_skipped: str | None = None
    outside_window: int = 0
    inference_times: tuple[str, str] | None = None


def find_data_files(data_dir: Path, allow_capture: bool) -> tuple[list[Path], str]:
    """The data files under `data_dir` (recursively, in path order) and their kind."""
    if not data_dir.is_dir():
        raise DataQualityError(f"data directory {data_dir} does not exist")
    candidates = sorted(path for path in data_dir.rglob("*") if path.is_file())
    tables = [path for path in candidates if path.name.lower().endswith(TABLE_EXTENSIONS)]
    captures = [path for path in candidates if path.name.lower().endswith(CAPTURE_EXTENSIONS)]
    if captures and not allow_capture:
        raise DataQualityError(
            f"{captures[0]}: a baseline is built from a table (CSV or Parquet), not from "
            "captured JSON Lines"
        )
    if tables and captures:
        raise DataQualityError(
            f"{data_dir} mixes tables ({tables[0].name}) and captured JSON Lines "
            f"({captures[0].name}): check one kind of data at a time"
        )
    if not tables and not captures:
        expected = TABLE_EXTENSIONS + (CAPTURE_EXTENSIONS if allow_capture else ())
        seen = ", ".join(path.name for path in candidates[:5]) or "nothing"
        raise DataQualityError(
            f"no data files in {data_dir}: expected files ending in {', '.join(expected)} "
            f"(found {seen})"
        )
    return (tables, "table") if tables else (captures, "capture")


def read_tables(
    files: list[Path], kinds: dict[str, str], ignored: set[str], *, strict: bool
) -> Dataset:
    """Every feature of `kinds` ("numeric" or "categorical") from each file, column by column.

    `strict` (a baseline): every file must have every feature and numeric features only
    numbers; otherwise those become violations of the check.
    """
    columns = {name: _empty_column(kind) for name, kind in kinds.items()}
    found: set[str] = set()
    extra: dict[str, None] = {}
    rows = 0
    for path in files:
        names = header_names(path)
        present = [name for name in kinds if name in names]
        missing = [name for name in kinds if name not in names]
        if strict and missing:
            raise DataQualityError(
                f"{path} lacks feature column(s) {', '.join(missing)} named in the schema "
                f"(its columns: {', '.join(names) or 'none'})"
            )
        for name in names:
            # pandas writes a DataFrame's index into Parquet as __index_level_0__: not data.
            if name not in kinds and name not in ignored and not _is_index(name):
                extra[name] = None
        frame = read_table(path, present, kinds)
        if strict and len(frame) == 0:
            raise DataQualityError(f"{path} has no rows")
        found.update(present)
        for name in present:
            add_values(columns[name], frame.pop(name), name, path, strict)
        for name in missing:
            columns[name].rows += len(frame.index)
        rows += len(frame.index)
    return Dataset(
        rows=rows,
        columns={name: column for name, column in columns.items() if name in found},
        files=files,
        source="table",
        absent=[name for name in kinds if name not in found],
        extra=list(extra),
    )


def header_names(path: Path) -> list[str]:
    """The column names the file states; an unreadable file is an error naming it."""
    try:
        if _is_parquet(path):
            return list(pq.read_schema(path).names)
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            return next(csv.reader(handle), [])
    except Exception as error:  # any reader failure means the file itself is bad
        raise DataQualityError(f"cannot read {path}: {_describe(error)}") from None


def read_table(path: Path, names: list[str], kinds: dict[str, str]) -> pd.DataFrame:
    """Only the named columns; categorical ones as pandas categories of their raw text."""
    try:
        if _is_parquet(path):
            return pd.read_parquet(path, columns=names)
        if not names:  # none of the features: the first column, only to count the rows
            return pd.read_csv(path, usecols=[0], dtype=str).iloc[:, :0]
        dtypes = {name: "category" for name in names if kinds[name] == "categorical"}
        return pd.read_csv(path, usecols=names, dtype=dtypes, low_memory=False)
    except pd.errors.EmptyDataError:
        raise DataQualityError(f"{path} is empty: no header and no rows") from None
    except MemoryError:
        raise
    except Exception as error:  # any parser failure means the file itself is bad
        raise DataQualityError(f"cannot read {path}: {_describe(error)}") from None


def _empty_column(kind: str) -> NumericValues | CategoricalValues:
    return NumericValues() if kind == "numeric" else CategoricalValues()


def add_values(
    column: NumericValues | CategoricalValues,
    series: pd.Series,
    name: str,
    source: Path | str,
    strict: bool,
) -> None:
    """Fold one file's values of a feature into `column`, column-wise."""
    column.rows += len(series)
    if isinstance(column, CategoricalValues):
        column.counts.update(category_counts(series))
        return
    numbers, invalid = to_numbers(series)
    if invalid.any():
        position = int(np.flatnonzero(invalid)[0])
        if strict:
            raise DataQualityError(
                f"non-numeric value {_quote(series.iloc[position])} in numeric feature "
                f"{name!r} at row {position + 1} of {source} ({int(invalid.sum())} of "
                f"{len(series)} values are not finite numbers)"
            )
        column.invalid += int(invalid.sum())
    present = numbers[~np.isnan(numbers)]
    column.non_integral += int(np.count_nonzero(present != np.floor(present)))
    column.parts.append(present)


def to_numbers(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values, NaN where missing or invalid; the invalid mask): what the model's
    inference handler accepts as a number (numbers, numeric text, true/false)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    if pd.api.types.is_bool_dtype(series.dtype):
        numbers = series.to_numpy(dtype="float64", na_value=np.nan)
        return numbers, np.zeros(len(numbers), dtype=bool)
    if pd.api.types.is_numeric_dtype(series.dtype):
        numbers = series.to_numpy(dtype="float64", na_value=np.nan, copy=True)
        invalid = np.isinf(numbers)
        numbers[invalid] = np.nan
        return numbers, invalid
    # Text, or Python values from JSON. float() on each, as the inference handler parses
    # them: exact (pandas' to_numeric may round the last digit), and in C while every value
    # is a number or numeric text; value by value only when some are not.
    values = series.astype(object).to_numpy()
    present = pd.notna(values)
    subset = values[present]
    try:
        parsed = subset.astype(np.float64)
        bad = np.zeros(len(subset), dtype=bool)
    except (TypeError, ValueError):
        pairs = [_number(value) for value in subset]
        parsed = np.fromiter((number for number, _ in pairs), np.float64, len(pairs))
        bad = np.fromiter((invalid for _, invalid in pairs), bool, len(pairs))
    infinite = np.isinf(parsed)
    parsed[infinite] = np.nan
    numbers = np.full(len(values), np.nan)
    numbers[present] = parsed
    invalid = np.zeros(len(values), dtype=bool)
    invalid[present] = bad | infinite
    return numbers, invalid


def _number(value: object) -> tuple[float, bool]:
    """(the number, invalid?) of one value, as the inference handler reads it: blank text is
    missing, true/false are 1/0, "nan" is missing, other text must parse as a number."""
    if isinstance(value, bool | np.bool_ | int | float | np.number):
        return float(value), False
    if not isinstance(value, str):
        return math.nan, True
    text = value.strip()
    if not text:
        return math.nan, False
    if text.lower() in _TRUE_FALSE:
        return _TRUE_FALSE[text.lower()], False
    try:
        return float(text), False
    except ValueError:
        return math.nan, True


def category_counts(series: pd.Series) -> Counter:
    """Occurrences of each value as text, stripped; empty text counts as missing.

    Counted on the raw values first, so only the distinct ones are turned into text."""
    counts: Counter = Counter()
    for value, count in series.value_counts(dropna=True).items():
        label = _text(value).strip()
        if label and count:
            counts[label] += int(count)
    return counts


def _text(value: object) -> str:
    # One text form on every pandas version and for JSON values: 3 -> "3", True -> "True".
    if isinstance(value, np.generic):
        value = value.item()
    return value if isinstance(value, str) else str(value)


class WindowExport:
    """The rows of one capture window as CSV, in the training data's column order: input a
    retraining run can read. The label column holds what requests carried (empty where a
    request had none) and is left out when no request carried one; the file lies under
    yyyy/mm/dd/ of the window's start, the dated partitions SnapshotInput understands."""

    def __init__(
        self, directory: Path, start: pd.Timestamp, end: pd.Timestamp, layout: dict
    ) -> None:
        self.directory = directory
        self.relative = Path(
            f"{start:%Y}", f"{start:%m}", f"{start:%d}", f"window-{_stamp(start)}-{_stamp(end)}.csv"
        )
        self.path = directory / self.relative
        self.label = layout["label_column"]
        self.columns = list(layout["columns"])
        if self.label and self.label not in self.columns:
            self.columns.append(self.label)
        self.rows = 0
        self.labelled = 0

    def write(self, frame: pd.DataFrame) -> None:
        part = frame.reindex(columns=self.columns)
        if self.label:
            values = part[self.label]
            self.labelled += int((values.notna() & (values.astype(str).str.strip() != "")).sum())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        part.to_csv(self.path, mode="a", header=self.rows == 0, index=False)
        self.rows += len(part.index)

    def finish(self) -> dict:
        """What was written (for the report); without any label, the column is dropped."""
        if self.rows and self.label and not self.labelled:
            table = pd.read_csv(self.path, dtype=str, keep_default_na=False)
            table.drop(columns=[self.label]).to_csv(self.path, index=False)
        return {
            "file": self.relative.as_posix() if self.rows else None,
            "rows": self.rows,
            "labelled_rows": self.labelled,
            "label_column": self.label if self.labelled else None,
        }


def _stamp(moment: pd.Timestamp) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def read_captures(
    files: list[Path],
    kinds: dict[str, str],
    layout: dict,
    window: tuple[pd.Timestamp | None, pd.Timestamp | None],
    export: WindowExport | None = None,
) -> Dataset:
    """The model inputs captured by an endpoint (SageMaker data capture JSON Lines).

    Each line is one request: captureData.endpointInput holds its body (`data`) in
    `encoding` CSV, JSON or BASE64, and `observedContentType` says which of the inference
    handler's formats it is. A body the handler would refuse (wrong number of CSV values, an
    unknown JSON field, another content type) is skipped and counted: the model never scored
    it. Lines are parsed one by one (JSON Lines has no column-wise reader) in chunks of
    CAPTURE_CHUNK requests; each chunk's time window is applied and its rows are typed
    column by column like a table's, so memory holds one chunk of raw requests at a time.
    """
    dataset = Dataset(rows=0, columns={}, files=files, source="capture")
    columns = {name: _empty_column(kind) for name, kind in kinds.items()}
    chunk: list[dict] = []
    for path in files:
        for number, line in _lines(path):
            chunk.append(_capture_record(line, f"{path} line {number}"))
            if len(chunk) == CAPTURE_CHUNK:
                _fold_captures(chunk, columns, dataset, layout, window, export)
                chunk = []
    _fold_captures(chunk, columns, dataset, layout, window, export)
    dataset.columns = {name: column for name, column in columns.items() if column.rows}
    dataset.absent = [name for name in kinds if name not in dataset.columns]
    return dataset


def _fold_captures(
    records: list[dict],
    columns: dict[str, NumericValues | CategoricalValues],
    dataset: Dataset,
    layout: dict,
    window: tuple[pd.Timestamp | None, pd.Timestamp | None],
    export: WindowExport | None = None,
) -> None:
    """One chunk of captured requests into `columns` (and its counts into `dataset`), and
    its rows into `export`."""
    times = pd.to_datetime(
        pd.Series([record["time"] for record in records], dtype=object),
        utc=True,
        errors="coerce",
        format="ISO8601",
    )
    start, end = window
    keep = np.ones(len(records), dtype=bool)
    if start is not None or end is not None:
        undated = times.isna().to_numpy()
        for index in np.flatnonzero(undated):
            _skip(dataset, "no valid eventMetadata.inferenceTime", records[index]["where"])
        inside = ~undated
        if start is not None:
            inside &= (times >= start).to_numpy()
        if end is not None:
            inside &= (times < end).to_numpy()
        dataset.outside_window += int(np.count_nonzero(~undated & ~inside))
        keep = inside
    csv_rows: dict[tuple[str, ...], list[list[str]]] = {}
    json_rows: list[dict] = []
    used = np.zeros(len(records), dtype=bool)
    for index in np.flatnonzero(keep):
        record = records[index]
        try:
            kind, rows = payload_rows(record, layout)
        except DataQualityError as problem:
            _skip(dataset, str(problem), record["where"])
            continue
        used[index] = True
        if kind == "csv":
            for names, group in rows:
                csv_rows.setdefault(names, []).extend(group)
        else:
            json_rows.extend(rows)
    frames = [
        pd.DataFrame(rows, columns=list(names), dtype=object) for names, rows in csv_rows.items()
    ]
    if json_rows:
        label = layout["label_column"]
        names = list(layout["feature_columns"])
        if label and any(label in row for row in json_rows):
            names.append(label)
        frames.append(pd.DataFrame(json_rows, columns=names, dtype=object))
    if not frames:
        return
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    dataset.rows += len(frame.index)
    if export is not None:
        export.write(frame)
    for name, column in columns.items():
        add_values(column, frame.pop(name), name, "the captured records", strict=False)
    scored = times[used].dropna()
    if len(scored):
        first, last = _iso(scored.min()), _iso(scored.max())
        if dataset.inference_times:
            first = min(first, dataset.inference_times[0])
            last = max(last, dataset.inference_times[1])
        dataset.inference_times = (first, last)


def _iso(moment: pd.Timestamp) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _lines(path: Path):
    with path.open("r", encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


def _capture_record(line: str, where: str) -> dict:
    try:
        event = json.loads(line)
    except ValueError as error:
        raise DataQualityError(f"{where} is not JSON: {error}") from None
    capture = event.get("captureData") if isinstance(event, dict) else None
    body = capture.get("endpointInput") if isinstance(capture, dict) else None
    if not isinstance(body, dict) or not isinstance(body.get("data"), str):
        raise DataQualityError(
            f"{where} has no captureData.endpointInput.data: not a SageMaker data capture "
            "record of the endpoint's input (DataCaptureConfig must capture Input)"
        )
    metadata = event.get("eventMetadata")
    moment = metadata.get("inferenceTime") if isinstance(metadata, dict) else None
    return {
        "where": where,
        "data": body["data"],
        "encoding": str(body.get("encoding", "")).upper(),
        "content_type": str(body.get("observedContentType", "")),
        "time": moment if isinstance(moment, str) else None,
    }


def payload_rows(record: dict, layout: dict) -> tuple[str, list]:
    """One request body, read as the inference handler reads it: ("csv", [(column names,
    rows of text)]) or ("json", [instances])."""
    text = record["data"]
    if record["encoding"] == "BASE64":
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8-sig")
        except (binascii.Error, UnicodeDecodeError) as error:
            raise DataQualityError(f"BASE64 data that is not UTF-8 text: {error}") from None
    elif record["encoding"] not in ("CSV", "JSON"):
        raise DataQualityError(f"unknown encoding {record['encoding']!r}")
    media_type = record["content_type"].split(";", 1)[0].strip().lower()
    if media_type == "text/csv":
        return "csv", _csv_rows(text, layout)
    if media_type == "application/json":
        return "json", _json_rows(text, layout)
    raise DataQualityError(f"content type {record['content_type']!r} is neither CSV nor JSON")


def _csv_rows(text: str, layout: dict) -> list[tuple[tuple[str, ...], list[list[str]]]]:
    features, label = layout["feature_columns"], layout["label_column"]
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if not rows:
        raise DataQualityError("an empty CSV body")
    header = [value.strip() for value in rows[0]]
    if set(header) in ({*features}, {*features, label}) and len(set(header)) == len(header):
        layouts = {len(header): tuple(header)}
        rows = rows[1:]
    else:
        layouts = {len(features): tuple(features)}
        with_label = layout["columns"]
        if label in with_label and len(with_label) == len(features) + 1:
            layouts[len(with_label)] = tuple(with_label)
    lengths = {len(row) for row in rows}
    unknown = sorted(lengths - set(layouts))
    if unknown:
        raise DataQualityError(
            f"a CSV row with {unknown[0]} values, expected "
            f"{' or '.join(str(count) for count in sorted(layouts))}"
        )
    if len(lengths) == 1:
        return [(layouts[len(rows[0])], rows)] if rows else []
    return [
        (names, [row for row in rows if len(row) == count])
        for count, names in layouts.items()
        if count in lengths
    ]


def _json_rows(text: str, layout: dict) -> list[dict]:
    try:
        payload = json.loads(text)
    except ValueError as error:
        raise DataQualityError(f"a JSON body that does not parse: {error}") from None
    if isinstance(payload, dict) and "instances" in payload:
        payload = payload["instances"]
    elif isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list) or not all(isinstance(item, dict) for item in payload):
        raise DataQualityError('a JSON body that is not {"instances": [...]} or objects')
    known = {*layout["feature_columns"], layout["label_column"]}
    for item in payload:
        unknown = [str(key) for key in item if key not in known]
        if unknown:
            raise DataQualityError(f"a JSON instance with unknown field(s) {', '.join(unknown)}")
    return payload


def _skip(dataset: Dataset, reason: str, where: str) -> None:
    dataset.skipped[reason] += 1
    if dataset.first_skipped is None:
        dataset.first_skipped = f"{where}: {reason}"


# -- Statistics (statistics.json) ---------------------------------------------------------


def numeric_statistics(
    name: str, column: NumericValues, rows: int, psi_bins: int, sketch_size: int
) -> dict:
    """One numeric feature in Model Monitor's statistics format, plus its drift_bins."""
    values = np.sort(column.values)
    column.parts = [values]
    present = len(values)
    inferred = "Fractional" if column.non_integral else "Integral"
    feature: dict = {
        "name": name,
        "inferred_type": inferred,
        "numerical_statistics": {
            "common": {"num_present": present, "num_missing": rows - present},
        },
    }
    if present == 0:
        return feature
    numeric = feature["numerical_statistics"]
    total = float(values.sum())
    numeric.update(
        {
            "mean": total / present,
            "sum": total,
            "std_dev": float(values.std()),
            "min": float(values[0]),
            "max": float(values[-1]),
            "distribution": {
                "kll": {
                    "buckets": kll_buckets(values),
                    "sketch": {
                        "parameters": {"c": KLL_C, "k": float(sketch_size)},
                        "data": [sketch_items(values, sketch_size).tolist()],
                    },
                }
            },
        }
    )
    edges = quantile_edges(values, psi_bins)
    feature["drift_bins"] = {"edges": edges.tolist(), "counts": bin_counts(values, edges).tolist()}
    return feature


def kll_buckets(values: np.ndarray) -> list[dict]:
    """KLL_BUCKETS equal-width buckets between min and max, with exact counts."""
    counts, bounds = np.histogram(values, bins=KLL_BUCKETS)
    return [
        {"lower_bound": float(low), "upper_bound": float(high), "count": int(count)}
        for low, high, count in zip(bounds[:-1], bounds[1:], counts, strict=True)
    ]


def sketch_items(values: np.ndarray, size: int) -> np.ndarray:
    """Every sorted value when there are at most `size`, else the values at `size` evenly
    spaced ranks (each standing for len(values) / size rows)."""
    if len(values) <= size:
        return values
    positions = ((np.arange(size) + 0.5) * len(values) / size).astype(np.int64)
    return values[positions]


def quantile_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Upper edges of right-closed bins for sorted `values`: with at most `bins` distinct
    values, one bin per value (a 0/1 flag gets two); otherwise the distinct values at the
    1/bins, ..., (bins-1)/bins quantiles (a value holding many rows keeps a bin of its own)."""
    distinct = values[np.concatenate([[True], values[1:] != values[:-1]])]
    if len(distinct) <= bins:
        return distinct[:-1]
    ranks = np.ceil(np.arange(1, bins) * len(values) / bins).astype(np.int64) - 1
    edges = np.unique(values[ranks])
    return edges[edges < values[-1]]


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Values per bin (-inf, e1], (e1, e2], ..., (ek, inf)."""
    return np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)


def categorical_statistics(name: str, column: CategoricalValues, rows: int) -> dict:
    present = column.present
    ranked = sorted(column.counts.items(), key=lambda item: (-item[1], item[0]))
    return {
        "name": name,
        "inferred_type": "String",
        "string_statistics": {
            "common": {"num_present": present, "num_missing": rows - present},
            "distinct_count": float(len(ranked)),
            "distribution": {
                "categorical": {
                    "buckets": [
                        {"value": value, "count": int(count)}
                        for value, count in ranked[:MAX_CATEGORY_BUCKETS]
                    ]
                }
            },
        },
    }


def statistics_document(
    dataset: Dataset, kinds: dict[str, str], psi_bins: int, sketch_size: int
) -> dict:
    features = []
    for name in kinds:
        column = dataset.columns.get(name)
        if isinstance(column, NumericValues):
            features.append(numeric_statistics(name, column, column.rows, psi_bins, sketch_size))
        elif isinstance(column, CategoricalValues):
            features.append(categorical_statistics(name, column, column.rows))
    return {"version": 0.0, "dataset": {"item_count": dataset.rows}, "features": features}


# -- Baseline -----------------------------------------------------------------------------


def load_schema(path: Path, data_dir: Path) -> dict:
    """Preprocess's schema.json (or a model's metadata.json, whose "schema" is the merge of a
    sharded Preprocess's parts)."""
    if not path.is_file():
        parts = sorted(data_dir.glob("schema-*.json")) if data_dir.is_dir() else []
        if parts:
            raise DataQualityError(
                f"{path} not found; {data_dir} holds the per-instance parts of a sharded "
                f"Preprocess ({', '.join(p.name for p in parts)}), which Train merges: pass "
                "--schema with the merged schema (the model's metadata.json)"
            )
        raise DataQualityError(
            f"{path} not found: the baseline needs Preprocess's {SCHEMA_FILE} to know the "
            "features (pass --schema)"
        )
    document = _read_archived_metadata(path) if _is_archive(path) else _read_json(path)
    schema = document.get("schema", document) if isinstance(document, dict) else None
    keys = ("label_column", "numeric_features", "categorical_features")
    if not isinstance(schema, dict) or any(key not in schema for key in keys):
        raise DataQualityError(f"{path} is not a Preprocess schema: it lacks {', '.join(keys)}")
    if not schema["numeric_features"] and not schema["categorical_features"]:
        raise DataQualityError(f"{path} names no features")
    return schema


def feature_kinds(schema: dict) -> dict[str, str]:
    """Features in the model's input order, each "numeric" or "categorical"."""
    numeric = set(schema["numeric_features"])
    order = schema.get("feature_columns") or [
        *schema["numeric_features"],
        *schema["categorical_features"],
    ]
    return {name: "numeric" if name in numeric else "categorical" for name in order}


def constraints_document(statistics: dict, schema: dict, settings: dict) -> dict:
    features = []
    for feature in statistics["features"]:
        common = _section(feature)["common"]
        rows = common["num_present"] + common["num_missing"]
        constraint: dict = {
            "name": feature["name"],
            "inferred_type": feature["inferred_type"],
            "completeness": common["num_present"] / rows if rows else 0.0,
        }
        if "numerical_statistics" in feature:
            minimum = feature["numerical_statistics"].get("min")
            constraint["num_constraints"] = {
                "is_non_negative": minimum is not None and minimum >= 0
            }
        else:
            strings = feature["string_statistics"]
            buckets = strings["distribution"]["categorical"]["buckets"]
            if strings["distinct_count"] <= MAX_DOMAIN_VALUES:
                constraint["string_constraints"] = {
                    "domains": sorted(bucket["value"] for bucket in buckets)
                }
        features.append(constraint)
    kinds = feature_kinds(schema)
    label = schema["label_column"]
    return {
        "version": 0.0,
        "features": features,
        "monitoring_config": json.loads(json.dumps(MONITORING_DEFAULTS)),
        "drift_check": {
            "feature_columns": list(kinds),
            "label_column": label,
            "columns": list(schema.get("columns") or [*kinds, label]),
            "ignored_columns": [label, *sorted(schema.get("dropped_columns") or {})],
            "psi_bins": settings["psi_bins"],
            "epsilon": EPSILON,
            "correction": CORRECTION,
            **{name: settings[name] for name in DRIFT_DEFAULTS},
        },
    }


def run_baseline(args: argparse.Namespace) -> dict:
    files, _ = find_data_files(args.data_dir, allow_capture=False)
    schema = load_schema(args.schema or args.data_dir / SCHEMA_FILE, args.data_dir)
    kinds = feature_kinds(schema)
    ignored = {schema["label_column"], *(schema.get("dropped_columns") or {})}
    dataset = read_tables(files, kinds, ignored, strict=True)
    statistics = statistics_document(dataset, kinds, args.psi_bins, args.sketch_size)
    settings = {"psi_bins": args.psi_bins, **{name: getattr(args, name) for name in DRIFT_DEFAULTS}}
    constraints = constraints_document(statistics, schema, settings)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    _write_json(args.output_dir / STATISTICS_FILE, statistics)
    _write_json(args.output_dir / CONSTRAINTS_FILE, constraints)
    print(
        f"baseline of {dataset.rows} rows from {len(files)} file(s): "
        f"{len(statistics['features'])} features ({', '.join(kinds)}) -> {args.output_dir}",
        flush=True,
    )
    return {"statistics": statistics, "constraints": constraints}


# -- The baseline a check compares with ---------------------------------------------------


@dataclass
class BaselineFeature:
    name: str
    kind: str  # "numeric" or "categorical"
    inferred_type: str
    rows: int
    present: int
    completeness: float | None = None
    is_non_negative: bool | None = None
    domains: list[str] | None = None
    # numeric
    sketch: np.ndarray | None = None
    edges: np.ndarray | None = None
    counts: np.ndarray | None = None
    # categorical
    categories: dict[str, int] = field(default_factory=dict)
    complete: bool = True  # every category is named in `categories`


@dataclass
class Baseline:
    features: dict[str, BaselineFeature]
    monitoring: dict
    settings: dict
    layout: dict
    item_count: int


def load_baseline(baseline_dir: Path) -> Baseline | None:
    """statistics.json and constraints.json written by `baseline`; None for a NO_CHAMPION
    marker (nothing to compare with)."""
    if (baseline_dir / NO_CHAMPION_MARKER).is_file():
        return None
    statistics_path = baseline_dir / STATISTICS_FILE
    constraints_path = baseline_dir / CONSTRAINTS_FILE
    for path in (statistics_path, constraints_path):
        if not path.is_file():
            raise DataQualityError(
                f"{path} not found: the baseline directory must hold {STATISTICS_FILE} and "
                f"{CONSTRAINTS_FILE} written by `data_quality.py baseline`, or a "
                f"{NO_CHAMPION_MARKER} marker (found: {_listing(baseline_dir)})"
            )
    statistics = _read_json(statistics_path)
    constraints = _read_json(constraints_path)
    drift = constraints.get("drift_check") if isinstance(constraints, dict) else None
    if not isinstance(drift, dict) or "feature_columns" not in drift:
        raise DataQualityError(
            f"{constraints_path} has no drift_check section: the baseline must be written by "
            "`data_quality.py baseline`"
        )
    by_name = {c.get("name"): c for c in constraints.get("features", []) if isinstance(c, dict)}
    features = {}
    for entry in statistics.get("features", []) if isinstance(statistics, dict) else []:
        feature = _baseline_feature(entry, statistics_path)
        constraint = by_name.get(feature.name, {})
        feature.completeness = constraint.get("completeness")
        feature.is_non_negative = (constraint.get("num_constraints") or {}).get("is_non_negative")
        feature.domains = (constraint.get("string_constraints") or {}).get("domains")
        features[feature.name] = feature
    unknown = [name for name in drift["feature_columns"] if name not in features]
    if not features or unknown:
        raise DataQualityError(
            f"{statistics_path} lacks the statistics of feature(s) "
            f"{', '.join(unknown) or 'all'} named in {constraints_path}"
        )
    monitoring = json.loads(json.dumps(MONITORING_DEFAULTS))
    given = constraints.get("monitoring_config") or {}
    monitoring.update({k: v for k, v in given.items() if k != "distribution_constraints"})
    monitoring["distribution_constraints"].update(given.get("distribution_constraints") or {})
    return Baseline(
        features={name: features[name] for name in drift["feature_columns"]},
        monitoring=monitoring,
        settings=drift,
        layout={
            "feature_columns": list(drift["feature_columns"]),
            "label_column": drift.get("label_column"),
            "columns": list(drift.get("columns") or drift["feature_columns"]),
            "ignored": set(drift.get("ignored_columns") or []),
        },
        item_count=int(statistics.get("dataset", {}).get("item_count", 0)),
    )


def _baseline_feature(entry: dict, path: Path) -> BaselineFeature:
    name = entry.get("name") if isinstance(entry, dict) else None
    try:
        section = _section(entry)
        common = section["common"]
        feature = BaselineFeature(
            name=name,
            kind="numeric" if "numerical_statistics" in entry else "categorical",
            inferred_type=entry["inferred_type"],
            rows=int(common["num_present"]) + int(common["num_missing"]),
            present=int(common["num_present"]),
        )
        if feature.kind == "numeric":
            sketch = section["distribution"]["kll"]["sketch"]["data"]
            feature.sketch = np.sort(np.concatenate([np.asarray(level, float) for level in sketch]))
            feature.edges = np.asarray(entry["drift_bins"]["edges"], dtype=float)
            feature.counts = np.asarray(entry["drift_bins"]["counts"], dtype=float)
            if len(feature.counts) != len(feature.edges) + 1:
                raise ValueError("drift_bins needs one count more than edges")
        else:
            buckets = section["distribution"]["categorical"]["buckets"]
            feature.categories = {str(b["value"]): int(b["count"]) for b in buckets}
            feature.complete = len(buckets) >= section["distinct_count"]
    except (KeyError, TypeError, ValueError) as error:
        raise DataQualityError(
            f"{path}: feature {name!r} is not a baseline written by `data_quality.py "
            f"baseline` ({type(error).__name__}: {error})"
        ) from None
    return feature


def _section(feature: dict) -> dict:
    return feature.get("numerical_statistics") or feature["string_statistics"]


# -- Drift measures -----------------------------------------------------------------------


def psi(baseline_shares: np.ndarray, current_shares: np.ndarray) -> float:
    """Population stability index, every share floored at EPSILON."""
    p = np.maximum(baseline_shares, EPSILON)
    q = np.maximum(current_shares, EPSILON)
    return float(np.sum((q - p) * np.log(q / p)))


def linf_robust(linf: float, n: int, m: int) -> float:
    return max(0.0, linf - LINF_ROBUST_FACTOR * math.sqrt((n + m) / (n * m)))


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error rate, any dependence)."""
    count = len(p_values)
    adjusted = [1.0] * count
    running = 0.0
    for rank, index in enumerate(np.argsort(p_values, kind="stable")):
        running = max(running, min(1.0, (count - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def compare_numeric(base: BaselineFeature, column: NumericValues) -> dict:
    values = np.sort(column.values)
    column.parts = [values]
    present, rows = len(values), column.rows
    current = np.append(bin_counts(values, base.edges), rows - present) / max(rows, 1)
    reference = np.append(base.counts, base.rows - base.present) / max(base.rows, 1)
    result = {
        "psi": psi(reference, current),
        "bins": [*_numeric_labels(base.edges), MISSING],
        "baseline_shares": reference,
        "current_shares": current,
        "test": None,
        "linf": None,
        "negative_values": int(np.count_nonzero(values < 0)),
    }
    if present and base.present:
        points = np.concatenate([base.sketch, values])
        before = np.searchsorted(base.sketch, points, side="right") / len(base.sketch)
        after = np.searchsorted(values, points, side="right") / present
        distance = float(np.max(np.abs(before - after)))
        # A summarized baseline's CDF is off by at most half an item's rank: the test takes
        # the distance less that, so the summary never makes it see drift that is not there.
        error = 0.5 / len(base.sketch) if base.present > len(base.sketch) else 0.0
        effective = max(1, round(base.present * present / (base.present + present)))
        tested = max(0.0, distance - error)
        p_value = float(np.clip(stats.kstwo.sf(tested, effective), 0.0, 1.0))
        result["test"] = {"name": "kolmogorov_smirnov", "statistic": distance, "p_value": p_value}
        result["linf"] = (distance, linf_robust(distance, base.present, present))
    return result


def compare_categorical(base: BaselineFeature, column: CategoricalValues) -> dict:
    known = base.categories
    reference_counts = [*known.values()]
    current_counts = [column.counts.get(value, 0) for value in known]
    unseen = {value: count for value, count in column.counts.items() if value not in known}
    labels = [*known]
    other_baseline = base.present - sum(reference_counts)
    new: dict[str, int] = {}
    if base.complete:
        new = unseen
        other_current = 0
    else:
        other_current = sum(unseen.values())
    labels += [OTHER, NEW]
    reference_counts += [other_baseline, 0]
    current_counts += [other_current, sum(new.values())]
    reference_present = np.asarray(reference_counts, dtype=float)
    current_present = np.asarray(current_counts, dtype=float)
    reference = np.append(reference_present, base.rows - base.present) / max(base.rows, 1)
    current = np.append(current_present, column.rows - column.present) / max(column.rows, 1)
    result = {
        "psi": psi(reference, current),
        "bins": [*labels, MISSING],
        "baseline_shares": reference,
        "current_shares": current,
        "test": None,
        "linf": None,
        "new_categories": sorted(new.items(), key=lambda item: (-item[1], item[0])),
    }
    if column.present and base.present:
        table = np.vstack([reference_present, current_present])
        table = table[:, table.sum(axis=0) > 0]
        if table.shape[1] > 1:
            statistic, p_value, _, _ = stats.chi2_contingency(table, correction=False)
        else:
            statistic, p_value = 0.0, 1.0
        result["test"] = {
            "name": "chi_square",
            "statistic": float(statistic),
            "p_value": float(p_value),
        }
        distance = float(
            np.max(np.abs(reference_present / base.present - current_present / column.present))
        )
        result["linf"] = (distance, linf_robust(distance, base.present, column.present))
    return result


# -- Check ---------------------------------------------------------------------------------


def resolve_settings(args: argparse.Namespace, baseline: Baseline | None) -> dict:
    """Each threshold and where it came from: the argument, the baseline, the default."""
    recorded = baseline.settings if baseline else {}
    settings = {}
    for name, default in DRIFT_DEFAULTS.items():
        if getattr(args, name) is not None:
            settings[name] = {"value": getattr(args, name), "source": "argument"}
        elif recorded.get(name) is not None:
            settings[name] = {"value": recorded[name], "source": "baseline"}
        else:
            settings[name] = {"value": default, "source": "default"}
    moderate, significant = settings["psi_moderate"], settings["psi_threshold"]
    if moderate["value"] > significant["value"]:
        raise DataQualityError(
            f"psi_moderate {moderate['value']} (from the {moderate['source']}) is above "
            f"psi_threshold {significant['value']} (from the {significant['source']}): a "
            "moderate shift must be smaller than a significant one"
        )
    settings["epsilon"] = {"value": EPSILON, "source": "fixed"}
    settings["correction"] = {"value": CORRECTION, "source": "fixed"}
    return settings


def evaluate_features(baseline: Baseline, dataset: Dataset, settings: dict) -> list[dict]:
    """Every baseline feature's measures, test decisions and status."""
    values = {name: setting["value"] for name, setting in settings.items()}
    comparisons = {}
    for name, base in baseline.features.items():
        column = dataset.columns.get(name)
        if column is None:
            continue
        if isinstance(column, NumericValues):  # read with the baseline's kinds
            comparisons[name] = compare_numeric(base, column)
        else:
            comparisons[name] = compare_categorical(base, column)
    tested = [name for name, result in comparisons.items() if result["test"]]
    adjusted = dict(
        zip(tested, holm([comparisons[name]["test"]["p_value"] for name in tested]), strict=True)
    )
    compare = baseline.monitoring["distribution_constraints"].get("perform_comparison")
    features = []
    for name, base in baseline.features.items():
        column = dataset.columns.get(name)
        if column is None:
            features.append({"name": name, "kind": base.kind, "status": "missing"})
            continue
        result = comparisons[name]
        judged = min(base.rows, column.rows) >= values["psi_min_rows"]
        psi_value = result["psi"]
        level = "stable"
        if psi_value >= values["psi_moderate"]:
            level = "moderate"
        if psi_value >= values["psi_threshold"]:
            level = "significant"
        test = result["test"]
        if test is not None:
            test["p_value_adjusted"] = adjusted[name]
            test["significant"] = adjusted[name] < values["alpha"]
        drifted = (judged and level == "significant") or bool(test and test["significant"])
        status = (
            "drift" if drifted else ("moderate" if judged and level == "moderate" else "stable")
        )
        if compare == "Disabled":
            status = "not_compared"
        features.append(
            _feature_report(name, base, column, result, status, level if judged else None)
        )
    return features


def _feature_report(
    name: str,
    base: BaselineFeature,
    column: NumericValues | CategoricalValues,
    result: dict,
    status: str,
    level: str | None,
) -> dict:
    rows = column.rows
    missing_now = (rows - column.present) / rows if rows else 0.0
    missing_then = (base.rows - base.present) / base.rows if base.rows else 0.0
    report = {
        "name": name,
        "kind": base.kind,
        "status": status,
        "psi": round(result["psi"], 6),
        "psi_level": level,
        "test": result["test"],
        "linf_distance": None
        if result["linf"] is None
        else {"simple": result["linf"][0], "robust": result["linf"][1]},
        "missing_rate": {
            "baseline": missing_then,
            "current": missing_now,
            "change": missing_now - missing_then,
        },
        "rows": {"baseline": base.rows, "current": rows},
        "distribution": chart(result),
    }
    if base.kind == "numeric":
        report["negative_values"] = result["negative_values"]
        report["invalid_values"] = column.invalid
    else:
        new = result["new_categories"]
        report["new_categories"] = [
            {"value": value, "count": count} for value, count in new[:CHART_CATEGORIES]
        ]
        report["new_category_count"] = len(new)
    return report


def chart(result: dict) -> dict:
    """The baseline and current shares per bin, small enough to draw: every numeric bin;
    the CHART_CATEGORIES largest categories, the rest pooled as (other)."""
    labels = list(result["bins"])
    before = result["baseline_shares"]
    after = result["current_shares"]
    special = {OTHER, NEW, MISSING}
    named = [i for i, label in enumerate(labels) if label not in special]
    if len(named) > CHART_CATEGORIES:
        order = sorted(named, key=lambda i: -max(before[i], after[i]))
        kept, pooled = set(order[:CHART_CATEGORIES]), order[CHART_CATEGORIES:]
        other = labels.index(OTHER)
        before, after = before.copy(), after.copy()
        before[other] += before[pooled].sum()
        after[other] += after[pooled].sum()
        keep = [i for i in range(len(labels)) if i in kept or labels[i] in special]
        labels = [labels[i] for i in keep]
        before, after = before[keep], after[keep]
    shown = [i for i, label in enumerate(labels) if label not in special or before[i] or after[i]]
    return {
        "bins": [labels[i] for i in shown],
        "baseline": [round(float(before[i]), 6) for i in shown],
        "current": [round(float(after[i]), 6) for i in shown],
    }


def _numeric_labels(edges: np.ndarray) -> list[str]:
    if len(edges) == 0:
        return ["all values"]
    shown = [f"{value:.6g}" for value in edges]
    labels = [f"<= {shown[0]}"]
    labels += [f"({low}, {high}]" for low, high in itertools.pairwise(shown)]
    return [*labels, f"> {shown[-1]}"]


def constraint_violations(
    baseline: Baseline, dataset: Dataset, features: list[dict], settings: dict
) -> list[dict]:
    """The check's findings in Model Monitor's violation format."""
    monitoring = baseline.monitoring
    alpha = settings["alpha"]["value"]
    violations = []
    evaluate = monitoring.get("evaluate_constraints") != "Disabled"
    if evaluate:
        for name in dataset.absent:
            violations.append(
                _violation(
                    name,
                    "missing_column_check",
                    f"baseline feature {name!r} is not in the current data ({_files(dataset)})",
                )
            )
        for name in dataset.extra:
            violations.append(
                _violation(
                    name,
                    "extra_column_check",
                    f"column {name!r} of the current data is not in the baseline (neither a "
                    "feature nor an ignored column)",
                )
            )
    for report in features:
        if report["status"] == "missing":
            continue
        name = report["name"]
        base = baseline.features[name]
        column = dataset.columns[name]
        if evaluate:
            violations += _quality_violations(base, column, monitoring, alpha, len(features))
        if report["status"] == "drift":
            violations.append(
                _violation(name, "baseline_drift_check", _drift_text(report, settings))
            )
    return violations


def _quality_violations(
    base: BaselineFeature,
    column: NumericValues | CategoricalValues,
    monitoring: dict,
    alpha: float,
    tests: int,
) -> list[dict]:
    name = base.name
    found = []
    rows = column.rows
    non_null = column.present + (column.invalid if isinstance(column, NumericValues) else 0)
    if base.completeness is not None and rows:
        completeness = non_null / rows
        # The chance of so few present values were the baseline's completeness still true.
        chance = float(stats.binom.cdf(non_null, rows, min(1.0, base.completeness)))
        if completeness < base.completeness and chance < alpha / max(tests, 1):
            found.append(
                _violation(
                    name,
                    "completeness_check",
                    f"completeness {completeness:.4f} is below the baseline's "
                    f"{base.completeness:.4f} (binomial p = {chance:.3g} over {rows} rows)",
                )
            )
    if isinstance(column, NumericValues) and column.rows:
        strange = column.invalid
        expected = base.inferred_type
        if expected == "Integral":
            strange += column.non_integral
        share = strange / non_null if non_null else 0.0
        if share > monitoring["datatype_check_threshold"]:
            found.append(
                _violation(
                    name,
                    "data_type_check",
                    f"{share:.4f} of the present values are not {expected} numbers "
                    f"({column.invalid} not numbers at all), above datatype_check_threshold "
                    f"{monitoring['datatype_check_threshold']}",
                )
            )
    if isinstance(column, CategoricalValues) and base.domains is not None and column.present:
        domain = set(base.domains)
        outside = {value: count for value, count in column.counts.items() if value not in domain}
        share = sum(outside.values()) / column.present
        if share > monitoring["domain_content_threshold"]:
            examples = ", ".join(repr(value) for value, _ in Counter(outside).most_common(5))
            found.append(
                _violation(
                    name,
                    "categorical_values_check",
                    f"{share:.4f} of the present values are outside the baseline's domain "
                    f"(e.g. {examples}), above domain_content_threshold "
                    f"{monitoring['domain_content_threshold']}",
                )
            )
    return found


def _drift_text(report: dict, settings: dict) -> str:
    parts = []
    if report["psi_level"] == "significant":
        parts.append(
            f"PSI {report['psi']:.4f} >= psi_threshold {settings['psi_threshold']['value']}"
        )
    test = report["test"]
    if test and test["significant"]:
        parts.append(
            f"{test['name'].replace('_', '-')} p = {test['p_value']:.3g} (Holm-adjusted "
            f"{test['p_value_adjusted']:.3g} < alpha {settings['alpha']['value']})"
        )
    if report["linf_distance"]:
        parts.append(f"L-infinity distance {report['linf_distance']['simple']:.4f}")
    return "; ".join(parts)


def _violation(name: str, check: str, description: str) -> dict:
    return {"feature_name": name, "constraint_check_type": check, "description": description}


def drift_report(
    baseline: Baseline | None,
    dataset: Dataset | None,
    features: list[dict],
    violations: list[dict],
    settings: dict,
) -> dict:
    if baseline is None:
        return {
            "verdict": "no_baseline",
            "drift_detected": False,
            "reasons": [f"no baseline to compare with ({NO_CHAMPION_MARKER} marker)"],
            "drifted_features": [],
            "top_drifting_features": [],
            "thresholds": settings,
            "violations": 0,
            "features": [],
        }
    ranked = sorted(
        (feature for feature in features if feature["status"] != "missing"),
        key=lambda f: (f["status"] != "drift", -f["psi"], _p_adjusted(f)),
    )
    drifted = [feature["name"] for feature in ranked if feature["status"] == "drift"]
    reasons = []
    if drifted:
        reasons.append(f"{len(drifted)} feature(s) drifted: {', '.join(drifted)}")
    schema_checks = {"missing_column_check", "extra_column_check", "data_type_check"}
    for check in sorted(schema_checks):
        names = [v["feature_name"] for v in violations if v["constraint_check_type"] == check]
        if names:
            reasons.append(f"{check}: {', '.join(names)}")
    detected = bool(reasons)
    if not detected:
        reasons.append("no feature drifted and the columns are unchanged")
    unjudged = [f for f in ranked if f["psi_level"] is None and f["status"] != "not_compared"]
    if unjudged:
        # A "stable" feature whose PSI was not judged rests on its test alone: say so, or a
        # handful of rows reads like evidence of no drift.
        reasons.append(
            f"PSI not judged for {len(unjudged)} feature(s): {dataset.rows} rows against a "
            f"baseline of {baseline.item_count}, fewer than psi_min_rows "
            f"{settings['psi_min_rows']['value']}; only their tests could flag drift"
        )
    data = {
        "source": dataset.source,
        "files": len(dataset.files),
        "rows": dataset.rows,
        "baseline_rows": baseline.item_count,
    }
    if dataset.source == "capture":
        data["records_skipped"] = sum(dataset.skipped.values())
        data["skipped_reasons"] = dict(dataset.skipped)
        data["first_skipped"] = dataset.first_skipped
        data["records_outside_window"] = dataset.outside_window
        data["inference_times"] = (
            {"first": dataset.inference_times[0], "last": dataset.inference_times[1]}
            if dataset.inference_times
            else None
        )
    return {
        "verdict": "drift" if detected else "no_drift",
        "drift_detected": detected,
        "reasons": reasons,
        "drifted_features": drifted,
        "top_drifting_features": [
            {
                "name": feature["name"],
                "status": feature["status"],
                "psi": feature["psi"],
                # None: too few rows to judge PSI (psi_min_rows).
                "psi_level": feature["psi_level"],
                "test": feature["test"]["name"] if feature["test"] else None,
                "p_value_adjusted": _p_adjusted(feature),
            }
            for feature in ranked[:TOP_FEATURES]
        ],
        "thresholds": settings,
        "data": data,
        "violations": len(violations),
        "features": features,
    }


def _p_adjusted(feature: dict) -> float:
    return feature["test"]["p_value_adjusted"] if feature.get("test") else 1.0


def run_check(args: argparse.Namespace) -> dict:
    baseline = load_baseline(args.baseline_dir)
    settings = resolve_settings(args, baseline)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    if baseline is None:
        report = drift_report(None, None, [], [], settings)
        _write_json(args.output_dir / REPORT_FILE, report)
        print(f"no baseline in {args.baseline_dir}: nothing to compare with", flush=True)
        _metrics(args, report)
        return report
    try:
        files, kind = find_data_files(args.data_dir, allow_capture=True)
    except DataQualityError as error:
        if not args.no_data_ok or not args.data_dir.is_dir():
            raise
        return _no_data(args, settings, str(error))
    kinds = {name: feature.kind for name, feature in baseline.features.items()}
    export = None
    if kind == "capture":
        if args.export_dir is not None:
            export = WindowExport(args.export_dir, *args.window, baseline.layout)
        dataset = read_captures(files, kinds, baseline.layout, args.window, export)
    else:
        if args.export_dir is not None:
            raise DataQualityError("--export-dir exports captured requests, not tables")
        dataset = read_tables(files, kinds, baseline.layout["ignored"], strict=False)
    if dataset.rows == 0:
        if args.no_data_ok:
            return _no_data(args, settings, _no_rows(args.data_dir, dataset, args))
        raise DataQualityError(_no_rows(args.data_dir, dataset, args))
    features = evaluate_features(baseline, dataset, settings)
    violations = constraint_violations(baseline, dataset, features, settings)
    report = drift_report(baseline, dataset, features, violations, settings)
    if args.window != (None, None):
        start, end = args.window
        report["data"]["window"] = {
            "start": _iso(start) if start is not None else None,
            "end": _iso(end) if end is not None else None,
        }
    if export is not None:
        report["data"]["export"] = export.finish()
    bins = int(baseline.settings.get("psi_bins", DEFAULT_PSI_BINS))
    current = statistics_document(dataset, kinds, bins, DEFAULT_SKETCH_SIZE)
    _write_json(args.output_dir / STATISTICS_FILE, current)
    _write_json(args.output_dir / VIOLATIONS_FILE, {"violations": violations})
    _write_json(args.output_dir / REPORT_FILE, report)
    print(summary(report), flush=True)
    _metrics(args, report)
    return report


def _no_data(args: argparse.Namespace, settings: dict, why: str) -> dict:
    """--no-data-ok: nothing to check is a report (verdict no_data), not a failure."""
    start, end = args.window
    report = {
        "verdict": "no_data",
        "drift_detected": False,
        "reasons": [why],
        "drifted_features": [],
        "top_drifting_features": [],
        "thresholds": settings,
        "data": {
            "rows": 0,
            "window": {
                "start": _iso(start) if start is not None else None,
                "end": _iso(end) if end is not None else None,
            },
        },
        "violations": 0,
        "features": [],
    }
    _write_json(args.output_dir / REPORT_FILE, report)
    print(f"no data to check: {why}", flush=True)
    _metrics(args, report)
    return report


def _no_rows(data_dir: Path, dataset: Dataset, args: argparse.Namespace) -> str:
    if dataset.source == "table":
        return f"no rows in the data files under {data_dir}"
    message = f"no captured rows to check in {data_dir}"
    if dataset.outside_window:
        message += (
            f": {dataset.outside_window} record(s) fall outside --start-time "
            f"{args.start_time} / --end-time {args.end_time}"
        )
    if dataset.first_skipped:
        message += (
            f"; {sum(dataset.skipped.values())} record(s) skipped, the first: "
            f"{dataset.first_skipped}"
        )
    return message


def summary(report: dict) -> str:
    lines = [f"verdict: {report['verdict']}: {'; '.join(report['reasons'])}"]
    for feature in report["top_drifting_features"]:
        p_value = feature["p_value_adjusted"]
        lines.append(
            f"  {feature['name']}: {feature['status']}, PSI {feature['psi']:.4f}, "
            f"{feature['test'] or 'no test'} adjusted p {p_value:.3g}"
        )
    lines.append(f"{report['violations']} constraint violation(s)")
    return "\n".join(lines)


# -- Metrics (CloudWatch) -----------------------------------------------------------------

METRICS_FILE = "cloudwatch_metrics.json"
# PutMetricData takes at most 1,000 metrics a request (CloudWatch API reference).
METRICS_PER_REQUEST = 1000
# CloudWatch rejects values too close to 0 ("too small"); p-values can be far smaller.
_SMALLEST_METRIC = 1e-100


def metric_request(report: dict, namespace: str, dimensions: list[dict], when: str) -> dict:
    """The report as one PutMetricData request: per check DriftedFeatures (what the alarm
    watches), DriftDetected, ConstraintViolations and Rows; per feature PSI and, when it was
    tested, TestPValue (Holm-adjusted), with a Feature dimension. No baseline: no metrics; no
    data: Rows 0 alone."""
    data: list[dict] = []
    if report["verdict"] == "no_data":
        # Rows 0 and no DriftedFeatures: the alarm treats the missing datapoint as OK.
        return {
            "Namespace": namespace,
            "MetricData": [
                {
                    "MetricName": "Rows",
                    "Dimensions": list(dimensions),
                    "Timestamp": when,
                    "Value": 0.0,
                    "Unit": "Count",
                }
            ],
        }
    if report["verdict"] != "no_baseline":

        def datum(name: str, value: float, unit: str, extra: list[dict]) -> dict:
            value = float(value)
            if 0 < abs(value) < _SMALLEST_METRIC:
                value = 0.0
            return {
                "MetricName": name,
                "Dimensions": [*dimensions, *extra],
                "Timestamp": when,
                "Value": value,
                "Unit": unit,
            }

        data += [
            datum("DriftedFeatures", len(report["drifted_features"]), "Count", []),
            datum("DriftDetected", 1 if report["drift_detected"] else 0, "None", []),
            datum("ConstraintViolations", report["violations"], "Count", []),
            datum("Rows", report["data"]["rows"], "Count", []),
        ]
        for feature in report["features"]:
            if feature["status"] == "missing":
                continue
            extra = [{"Name": "Feature", "Value": feature["name"]}]
            data.append(datum("PSI", feature["psi"], "None", extra))
            if feature.get("test"):
                data.append(datum("TestPValue", feature["test"]["p_value_adjusted"], "None", extra))
    return {"Namespace": namespace, "MetricData": data}


def publish_metrics(request: dict, client: object = None) -> int:
    """PutMetricData with the job's role, in requests of at most METRICS_PER_REQUEST; returns
    the number of requests sent. boto3 is in the scikit-learn image (its requirements pin it);
    only this function needs it."""
    if client is None:
        import boto3

        client = boto3.client("cloudwatch")
    data = request["MetricData"]
    sent = 0
    for first in range(0, len(data), METRICS_PER_REQUEST):
        client.put_metric_data(
            Namespace=request["Namespace"], MetricData=data[first : first + METRICS_PER_REQUEST]
        )
        sent += 1
    return sent


def _metrics(args: argparse.Namespace, report: dict) -> None:
    if not args.metrics_namespace:
        return
    when = _iso(pd.Timestamp.now(tz="UTC"))
    request = metric_request(report, args.metrics_namespace, args.dimensions, when)
    _write_json(args.output_dir / METRICS_FILE, request)
    if args.publish_metrics and request["MetricData"]:
        try:
            sent = publish_metrics(request)
        except Exception as error:  # botocore's errors; the report is written already
            raise DataQualityError(
                f"PutMetricData to namespace {args.metrics_namespace} failed: {_describe(error)}"
            ) from None
        print(f"published {len(request['MetricData'])} metric(s) in {sent} request(s)", flush=True)


def _dimensions(pairs: list[str]) -> list[dict]:
    dimensions = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name or not value:
            raise DataQualityError(f"--metrics-dimension {pair!r}: expected NAME=VALUE")
        dimensions.append({"Name": name, "Value": value})
    return dimensions


# -- Entry point -----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    message_file = _exit_message_file(argv)
    try:
        args = parse_args(argv)
        if args.mode == "baseline":
            run_baseline(args)
        else:
            run_check(args)
    except DataQualityError as error:
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
    except DataQualityError:
        return Path(DEFAULT_EXIT_MESSAGE_FILE)
    return Path(known.exit_message_file)


def _is_archive(path: Path) -> bool:
    return path.name.lower().endswith((".tar.gz", ".tgz"))


def _read_archived_metadata(path: Path) -> dict:
    """metadata.json from a model.tar.gz, read in place (nothing is extracted)."""
    try:
        with tarfile.open(path, mode="r:gz") as archive:
            member = next(
                (m for m in archive if m.isfile() and m.name.removeprefix("./") == MODEL_METADATA),
                None,
            )
            if member is None:
                raise DataQualityError(f"{path} holds no {MODEL_METADATA}: not a model of Train")
            handle = archive.extractfile(member)
            return json.loads(handle.read().decode("utf-8")) if handle else {}
    except (OSError, tarfile.TarError, EOFError, ValueError) as error:
        raise DataQualityError(
            f"cannot read {MODEL_METADATA} from {path}: {_describe(error)}"
        ) from None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataQualityError(f"cannot read {path}: {_describe(error)}") from None


def _write_json(path: Path, document: dict) -> None:
    text = json.dumps(document, indent=2, allow_nan=False, ensure_ascii=False, default=_plain)
    path.write_text(text + "\n", encoding="utf-8")


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"


def _quote(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 50 else text[:47] + "...")


def _files(dataset: Dataset) -> str:
    first = dataset.files[0]
    return str(first) if len(dataset.files) == 1 else f"{first} and {len(dataset.files) - 1} more"


def _listing(directory: Path) -> str:
    if not directory.is_dir():
        return "the directory does not exist"
    names = sorted(path.name for path in directory.iterdir())
    return ", ".join(names[:10]) or "nothing"


def _is_index(name: str) -> bool:
    return name.startswith("__index_level_") and name.endswith("__")


def _is_parquet(path: Path) -> bool:
    return path.name.lower().endswith((".parquet", ".pq"))


if __name__ == "__main__":
    sys.exit(main())
