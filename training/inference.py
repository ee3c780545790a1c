"""Inference handler shipped inside the model archive (code/inference.py).

The SageMaker scikit-learn serving container loads it through SAGEMAKER_PROGRAM=inference.py
and SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code and calls, per request,
`output_fn(predict_fn(input_fn(body, content_type), model_fn(model_dir)), accept)`.

Requests:
* text/csv: one row of feature values per line, in the schema's `feature_columns` order,
  no header. A header row naming the features (in any order) is tolerated, and so is the
  label column: rows with one more value than there are features follow the training
  data's `columns` order and the label value is ignored.
* application/json: {"instances": [{feature: value, ...}, ...]}, a list of such objects, or
  one object. The label field is ignored; other unknown fields are an error.
A missing value (empty CSV field, null, absent JSON field) is allowed; the model treats it
as missing. Booleans and "true"/"false" count as 1/0 in numeric features.

Responses (accept text/csv or application/json, the default for none or */*):
* classification: {"predictions": [{"predicted_label": 1, "probability": 0.93}, ...]} with
  the probability of the positive class (the second of the sorted classes); as CSV,
  `label,probability` per line. The label is the positive class when the probability is at
  least the model's decision threshold (metadata.json "decision_threshold", chosen by
  train.py on the validation split), so an endpoint flags at the operating point the model
  was evaluated at; a model without one uses the estimator's own predict;
* regression: {"predictions": [{"prediction": 12.5}, ...]}; as CSV, one value per line.

A malformed payload raises RequestError and an unsupported content or accept type raises
UnsupportedContentTypeError (both ValueErrors), so a server can answer 400 and 415.
Imports only the standard library, numpy, pandas and joblib.
"""

from __future__ import annotations

import csv
import io
import json
import math
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
CSV = "text/csv"
JSON = "application/json"
CONTENT_TYPES = (CSV, JSON)
_TRUE_FALSE = {"true": 1.0, "false": 0.0}


class RequestError(ValueError):
    """A malformed request payload (HTTP 400)."""


class UnsupportedContentTypeError(ValueError):
    """A content type or accept type this handler does not speak (HTTP 415)."""


@dataclass
class ServingModel:
    """The fitted scikit-learn Pipeline with the metadata train.py wrote next to it."""

    pipeline: Any
    metadata: dict

    @property
    def schema(self) -> dict:
        return self.metadata["schema"]

    @property
    def decision_threshold(self) -> float | None:
        chosen = self.metadata.get("decision_threshold") or {}
        value = chosen.get("value") if isinstance(chosen, dict) else None
        return None if value is None else float(value)


@dataclass(frozen=True)
class Request:
    """A parsed payload, not yet checked against the model's schema (input_fn has no model).

    `rows` holds CSV rows of text values, `records` JSON objects.
    """

    rows: list[list[str]] | None = None
    records: list[dict] | None = None


def model_fn(model_dir: str | Path) -> ServingModel:
    model_dir = Path(model_dir)
    for name in (MODEL_FILE, METADATA_FILE):
        if not (model_dir / name).is_file():
            raise FileNotFoundError(f"{model_dir / name} not found: not a model made by train.py")
    metadata = json.loads((model_dir / METADATA_FILE).read_text(encoding="utf-8"))
    return ServingModel(pipeline=joblib.load(model_dir / MODEL_FILE), metadata=metadata)


def input_fn(request_body: bytes | str, request_content_type: str | None) -> Request:
    content_type = _media_type(request_content_type) or JSON
    if content_type not in CONTENT_TYPES:
        raise UnsupportedContentTypeError(
            f"unsupported content type {request_content_type!r}: send {' or '.join(CONTENT_TYPES)}"
        )
    text = _decode(request_body)
    if not text.strip():
        raise RequestError("empty request body: send at least one row")
    if content_type == CSV:
        rows = [row for row in csv.reader(io.StringIO(text)) if row]
        return Request(rows=rows)
    return Request(records=_json_records(text))


def predict_fn(input_data: Request | pd.DataFrame, model: ServingModel) -> list[dict]:
    """One {"predicted_label", "probability"} or {"prediction"} dict per input row.

    `input_data` is what input_fn returned, or a DataFrame of raw feature rows.
    """
    if isinstance(input_data, pd.DataFrame):
        input_data = Request(records=input_data.to_dict("records"))
    features = build_features(input_data, model.schema)
    if model.schema["problem_type"] == "regression":
        return [{"prediction": float(value)} for value in model.pipeline.predict(features)]
    negative, positive = model.schema["classes"]
    column = [_plain(value) for value in model.pipeline.classes_].index(positive)
    probabilities = model.pipeline.predict_proba(features)[:, column]
    threshold = model.decision_threshold
    if threshold is None:
        labels = model.pipeline.predict(features)
    else:
        labels = [positive if p >= threshold else negative for p in probabilities]
    return [
        {"predicted_label": _plain(label), "probability": float(probability)}
        for label, probability in zip(labels, probabilities, strict=True)
    ]


def output_fn(prediction: list[dict], accept: str | None) -> tuple[str, str]:
    """(body, content type) in the first supported type of `accept`."""
    content_type = _accepted(accept)
    if content_type == JSON:
        return json.dumps({"predictions": prediction}, allow_nan=False), JSON
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in prediction:
        writer.writerow(list(row.values()))
    return buffer.getvalue(), CSV


def build_features(request: Request, schema: dict) -> pd.DataFrame:
    """The request as the model's input: the feature columns, numbers as float64 and
    categories as str (NaN when missing), exactly as train.py feeds the Pipeline.
    """
    features = _feature_columns(schema)
    if request.rows is not None:
        records = _csv_records(request.rows, schema)
    else:
        records = _check_fields(request.records or [], features, schema["label_column"])
    if not records:
        raise RequestError("no rows to predict")
    numeric = set(schema["numeric_features"])
    columns = {}
    for column in features:
        parse = _number if column in numeric else _category
        values = [parse(record.get(column), column, row) for row, record in records]
        # An object Series, not an array: pandas 3 would infer its own string dtype.
        columns[column] = pd.Series(values, dtype="float64" if column in numeric else object)
    return pd.DataFrame(columns, columns=features)


def _csv_records(rows: list[list[str]], schema: dict) -> list[tuple[int, dict]]:
    features = _feature_columns(schema)
    label = schema["label_column"]
    with_label = [column for column in schema.get("columns", []) if column in {*features, label}]
    header = [value.strip() for value in rows[0]]
    if set(header) in ({*features}, {*features, label}) and len(set(header)) == len(header):
        layouts = {len(header): header}
        rows = rows[1:]
    else:
        layouts = {len(features): features}
        if label in with_label and len(with_label) == len(features) + 1:
            layouts[len(with_label)] = with_label
    records = []
    for number, row in enumerate(rows, start=1):
        names = layouts.get(len(row))
        if names is None:
            expected = " or ".join(str(count) for count in sorted(layouts))
            raise RequestError(
                f"row {number} has {len(row)} values, expected {expected} "
                f"(features in order: {', '.join(features)})"
            )
        records.append((number, dict(zip(names, row, strict=True))))
    return records


def _check_fields(records: list[dict], features: list[str], label: str) -> list[tuple[int, dict]]:
    known = {*features, label}
    for number, record in enumerate(records, start=1):
        unknown = [str(key) for key in record if key not in known]
        if unknown:
            raise RequestError(
                f"instance {number} has unknown field(s) {', '.join(unknown)}; "
                f"expected features: {', '.join(features)}"
            )
    return list(enumerate(records, start=1))


def _number(value: object, column: str, row: int) -> float:
    if value is None or value is pd.NA:
        return math.nan
    if isinstance(value, bool | np.bool_):
        return float(value)
    if isinstance(value, numbers.Real):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return math.nan
        if text.lower() in _TRUE_FALSE:
            return _TRUE_FALSE[text.lower()]
        try:
            number = float(text)
        except ValueError:
            raise RequestError(
                f"row {row}: numeric feature {column!r} has non-numeric value {text[:50]!r}"
            ) from None
    else:
        raise RequestError(
            f"row {row}: numeric feature {column!r} must be a number, got {type(value).__name__}"
        )
    if math.isinf(number):
        raise RequestError(f"row {row}: numeric feature {column!r} is infinite")
    return number


def _category(value: object, column: str, row: int) -> object:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    if isinstance(value, str):
        return value.strip() or math.nan
    if isinstance(value, bool | np.bool_ | numbers.Real):
        return str(_plain(value))
    raise RequestError(
        f"row {row}: categorical feature {column!r} must be text, got {type(value).__name__}"
    )


def _json_records(text: str) -> list[dict]:
    try:
        payload = json.loads(text)
    except ValueError as error:
        raise RequestError(f"body is not valid JSON: {error}") from None
    if isinstance(payload, dict) and "instances" in payload:
        payload = payload["instances"]
    elif isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list):
        raise RequestError(
            'JSON body must be {"instances": [...]}, a list of objects or one object'
        )
    for number, record in enumerate(payload, start=1):
        if not isinstance(record, dict):
            raise RequestError(
                f"instance {number} must be an object of feature values, "
                f"got {type(record).__name__}"
            )
    return payload


def _decode(body: bytes | str) -> str:
    if isinstance(body, str):
        return body
    if isinstance(body, bytearray | memoryview):
        body = bytes(body)
    if not isinstance(body, bytes):
        raise RequestError(f"request body must be bytes or text, got {type(body).__name__}")
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise RequestError(f"request body is not UTF-8 text: {error}") from None


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _accepted(accept: str | None) -> str:
    offered = [_media_type(part) for part in (accept or "").split(",")]
    for media_type in offered:
        if media_type in ("", "*/*", "application/*"):
            return JSON
        if media_type == "text/*":
            return CSV
        if media_type in CONTENT_TYPES:
            return media_type
    raise UnsupportedContentTypeError(
        f"cannot answer in {accept!r}: accept {' or '.join(CONTENT_TYPES)}"
    )


def _feature_columns(schema: dict) -> list[str]:
    return list(
        schema.get("feature_columns")
        or [*schema["numeric_features"], *schema["categorical_features"]]
    )


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value
