"""training/inference.py: the serving handler on CSV and JSON payloads, good and malformed."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import evaluate
import inference
import numpy as np
import pandas as pd
import pytest
from inference import Request, RequestError, UnsupportedContentTypeError
from model_helpers import FEATURES, RECORD, ROW, train_model

from pipelines.sample_data import generate_transactions

pytestmark = pytest.mark.container


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("classifier")
    return train_model(
        root, generate_transactions(3_000, seed=5), "is_fraud", "binary_classification"
    )


@pytest.fixture(scope="module")
def model(model_dir: Path) -> inference.ServingModel:
    return inference.model_fn(str(model_dir))


def features_of(body: bytes | str, content_type: str, model) -> pd.DataFrame:
    return inference.build_features(inference.input_fn(body, content_type), model.schema)


# --- model_fn ------------------------------------------------------------------------------------


def test_model_fn_loads_pipeline_and_metadata(model):
    assert model.schema["feature_columns"] == FEATURES
    assert model.schema["classes"] == [0, 1]
    assert hasattr(model.pipeline, "predict_proba")


def test_model_fn_names_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model\.joblib not found"):
        inference.model_fn(tmp_path)


# --- CSV input ---------------------------------------------------------------------------------


def test_csv_rows_in_feature_order(model):
    features = features_of(
        f"{ROW}\n4.2,grocery,14,in_store,0,900,0,1,3.5,20.0,0\n", "text/csv", model
    )
    assert list(features.columns) == FEATURES
    assert features["amount"].tolist() == [120.5, 4.2]
    assert features["merchant_category"].tolist() == ["jewelry", "grocery"]
    assert features["amount"].dtype == "float64" and features["channel"].dtype == object
    assert math.isnan(features["distance_from_home_km"].iloc[0])  # empty field: missing


def test_csv_bytes_with_charset_and_crlf(model):
    body = f"{ROW}\r\n{ROW}\r\n".encode()
    features = features_of(body, "text/csv; charset=utf-8", model)
    assert len(features) == 2


def test_csv_header_is_tolerated_in_any_order_with_or_without_label(model):
    values = dict(zip(FEATURES, ROW.split(","), strict=True))
    names = [*reversed(FEATURES), "is_fraud"]
    body = ",".join(names) + "\n" + ",".join([*(values[n] for n in names[:-1]), "1"]) + "\n"
    features = features_of(body, "text/csv", model)
    pd.testing.assert_frame_equal(features, features_of(ROW, "text/csv", model))
    only_features = ",".join(FEATURES) + "\n" + ROW
    assert len(features_of(only_features, "text/csv", model)) == 1


def test_csv_row_with_the_label_in_its_training_position(model):
    with_label = features_of(ROW + ",0", "text/csv", model)
    without = features_of(ROW, "text/csv", model)
    pd.testing.assert_frame_equal(with_label, without)


def test_csv_wrong_column_count(model):
    with pytest.raises(RequestError) as error:
        features_of(f"{ROW}\n1,2,3\n", "text/csv", model)
    message = str(error.value)
    assert "row 2 has 3 values, expected 11 or 12" in message
    assert "features in order: amount, merchant_category" in message


def test_csv_non_numeric_value_in_numeric_feature(model):
    bad = ROW.replace("120.5", "12O.5")
    with pytest.raises(RequestError, match=r"row 1: numeric feature 'amount' has non-numeric "):
        features_of(bad, "text/csv", model)


def test_csv_infinite_value(model):
    with pytest.raises(RequestError, match="'amount' is infinite"):
        features_of(ROW.replace("120.5", "inf"), "text/csv", model)


def test_csv_true_false_count_as_one_zero(model):
    row = ROW.split(",")
    row[FEATURES.index("is_new_device")] = "TRUE"
    row[FEATURES.index("country_mismatch")] = "false"
    features = features_of(",".join(row), "text/csv", model)
    assert features[["is_new_device", "country_mismatch"]].iloc[0].tolist() == [1.0, 0.0]


# --- JSON input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {"instances": [RECORD, RECORD]},
        [RECORD, RECORD],
    ],
)
def test_json_instances_or_list(model, payload):
    features = features_of(json.dumps(payload), "application/json", model)
    assert len(features) == 2
    assert features.iloc[0]["merchant_category"] == "jewelry"


def test_json_single_object_with_label_and_missing_fields(model):
    record = {k: v for k, v in RECORD.items() if k != "hour"} | {"is_fraud": 1}
    features = features_of(json.dumps(record).encode(), "application/json", model)
    assert len(features) == 1
    assert math.isnan(features["hour"].iloc[0])


def test_json_values_are_coerced(model):
    record = RECORD | {"amount": " 99.5 ", "is_new_device": True, "channel": "  atm ", "hour": None}
    features = features_of(json.dumps({"instances": [record]}), "application/json", model)
    row = features.iloc[0]
    assert row["amount"] == 99.5 and row["is_new_device"] == 1.0 and row["channel"] == "atm"
    assert math.isnan(row["hour"])


def test_json_unknown_field(model):
    with pytest.raises(RequestError, match=r"instance 2 has unknown field\(s\) colour"):
        features_of(json.dumps([RECORD, RECORD | {"colour": "red"}]), "application/json", model)


def test_json_non_numeric_value(model):
    with pytest.raises(RequestError, match=r"row 1: numeric feature 'hour' has non-numeric"):
        features_of(json.dumps(RECORD | {"hour": "three"}), "application/json", model)


def test_json_nested_value(model):
    with pytest.raises(RequestError, match=r"'amount' must be a number, got list"):
        features_of(json.dumps(RECORD | {"amount": [1]}), "application/json", model)
    with pytest.raises(RequestError, match=r"'channel' must be text, got dict"):
        features_of(json.dumps(RECORD | {"channel": {"a": 1}}), "application/json", model)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"instances": [', "body is not valid JSON"),
        ('"just text"', 'JSON body must be {"instances": [...]}'),
        ("[1, 2]", "instance 1 must be an object of feature values, got int"),
        ('{"instances": []}', "no rows to predict"),
        ("   ", "empty request body"),
        (b"", "empty request body"),
        (b"\xff\xfe\x00", "not UTF-8"),
    ],
)
def test_malformed_json(model, body, expected):
    with pytest.raises(RequestError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        features_of(body, "application/json", model)


def test_unsupported_content_type_is_its_own_error():
    with pytest.raises(UnsupportedContentTypeError, match="unsupported content type 'text/xml'"):
        inference.input_fn("<a/>", "text/xml")
    assert not issubclass(UnsupportedContentTypeError, RequestError)
    assert issubclass(UnsupportedContentTypeError, ValueError)
    assert issubclass(RequestError, ValueError)


def test_missing_content_type_means_json():
    assert inference.input_fn('{"amount": 1}', None) == Request(records=[{"amount": 1}])


# --- predictions and output ------------------------------------------------------------------


def test_predict_classification(model):
    request = inference.input_fn(f"{ROW}\n4.2,grocery,14,in_store,0,900,0,1,3.5,20.0,0", "text/csv")
    predictions = inference.predict_fn(request, model)
    assert len(predictions) == 2
    for prediction in predictions:
        assert set(prediction) == {"predicted_label", "probability"}
        assert prediction["predicted_label"] in (0, 1)
        assert type(prediction["predicted_label"]) is int
        assert 0.0 <= prediction["probability"] <= 1.0
    # The risky row (new device, foreign, 3 am, jewelry, 3x usual amount) scores higher.
    assert predictions[0]["probability"] > predictions[1]["probability"]


def test_unknown_category_still_predicts(model):
    request = inference.input_fn(json.dumps(RECORD | {"merchant_category": "spaceships"}), None)
    assert len(inference.predict_fn(request, model)) == 1


def test_output_json_by_default(model):
    prediction = [{"predicted_label": 1, "probability": 0.75}]
    for accept in (None, "", "*/*", "application/json", "application/json; charset=utf-8"):
        body, content_type = inference.output_fn(prediction, accept)
        assert content_type == "application/json"
        assert json.loads(body) == {"predictions": prediction}


def test_output_csv(model):
    prediction = [
        {"predicted_label": 1, "probability": 0.75},
        {"predicted_label": 0, "probability": 0.125},
    ]
    assert inference.output_fn(prediction, "text/csv") == ("1,0.75\n0,0.125\n", "text/csv")
    assert inference.output_fn(prediction, "text/xml, text/csv")[1] == "text/csv"


def test_output_unsupported_accept():
    with pytest.raises(UnsupportedContentTypeError, match="cannot answer in 'image/png'"):
        inference.output_fn([], "image/png")


def test_predictions_match_the_evaluated_model(model, model_dir):
    """The serving path gives exactly what evaluate.py scores for the same rows."""
    test = pd.read_parquet(model_dir.parent / "test" / "test.parquet").head(200)
    expected = model.pipeline.predict_proba(evaluate.model_input(test, model.schema))[:, 1]
    body = test[FEATURES].to_csv(index=False, header=False)
    served = inference.predict_fn(inference.input_fn(body, "text/csv"), model)
    np.testing.assert_allclose([p["probability"] for p in served], expected, rtol=0, atol=1e-12)
    from_json = inference.predict_fn(
        inference.input_fn(test.to_json(orient="records"), "application/json"), model
    )
    np.testing.assert_allclose([p["probability"] for p in from_json], expected, atol=1e-12)
    from_frame = inference.predict_fn(test, model)
    assert from_frame == served
    # The labels are evaluate.py's too: flagged at the model's own decision threshold.
    metadata = model.metadata
    scored = evaluate.predict(model.pipeline, test, model.schema, metadata)
    assert [p["predicted_label"] == 1 for p in served] == scored.flagged.tolist()


def test_labels_are_flagged_at_the_models_decision_threshold(model_dir, tmp_path):
    """The threshold train.py chose on the validation split, not the estimator's 0.5."""
    test = pd.read_parquet(model_dir.parent / "test" / "test.parquet")
    body = test[FEATURES].to_csv(index=False, header=False)
    chosen = inference.model_fn(model_dir)
    threshold = chosen.metadata["decision_threshold"]["value"]
    assert chosen.decision_threshold == threshold and threshold < 0.5  # rare fraud: below 0.5
    served = inference.predict_fn(inference.input_fn(body, "text/csv"), chosen)
    for prediction in served:
        assert prediction["predicted_label"] == int(prediction["probability"] >= threshold)
    flagged = sum(p["predicted_label"] for p in served)
    # The same model without a threshold in its metadata (an older model) flags fewer rows.
    older = inference.ServingModel(
        chosen.pipeline, {k: v for k, v in chosen.metadata.items() if k != "decision_threshold"}
    )
    assert older.decision_threshold is None
    default = inference.predict_fn(inference.input_fn(body, "text/csv"), older)
    expected = chosen.pipeline.predict(evaluate.model_input(test, chosen.schema)).tolist()
    assert [p["predicted_label"] for p in default] == expected
    assert sum(expected) < flagged


def test_shipped_handler_serves_the_model(model_dir, monkeypatch):
    """What the serving container does: import code/inference.py and chain the functions."""
    spec = importlib.util.spec_from_file_location(
        "shipped_inference", model_dir / "code" / "inference.py"
    )
    shipped = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "shipped_inference", shipped)
    spec.loader.exec_module(shipped)
    loaded = shipped.model_fn(str(model_dir))
    body, content_type = shipped.output_fn(
        shipped.predict_fn(shipped.input_fn(ROW.encode(), "text/csv"), loaded), "text/csv"
    )
    label, probability = body.strip().split(",")
    assert content_type == "text/csv" and label in ("0", "1") and 0 <= float(probability) <= 1


def test_regression_model(tmp_path):
    frame = generate_transactions(800, seed=8)
    model_dir = train_model(tmp_path, frame, "amount", "regression")
    model = inference.model_fn(model_dir)
    record = {k: v for k, v in RECORD.items() if k != "amount"} | {"is_fraud": 0}
    predictions = inference.predict_fn(inference.input_fn(json.dumps(record), None), model)
    assert list(predictions[0]) == ["prediction"] and predictions[0]["prediction"] > 0
    body, _ = inference.output_fn(predictions, "text/csv")
    assert float(body.strip()) == predictions[0]["prediction"]
