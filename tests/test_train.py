"""training/train.py: hyperparameters, arguments, the model Pipeline, outputs and failures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import preprocess
import pytest
import train
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.preprocessing import OrdinalEncoder
from train import Hyperparameters, TrainingError

from pipelines.sample_data import generate_transactions

pytestmark = pytest.mark.container

DEFAULTS = dict(train.DEFAULT_HYPERPARAMETERS)
QUICK = Hyperparameters(learning_rate=0.2, max_iter=30, max_leaf_nodes=15, l2_regularization=0.0)


def prepare_splits(directory: Path, frame: pd.DataFrame, label: str, problem_type: str) -> Path:
    """The Preprocess step's outputs for `frame`, under `directory`."""
    (directory / "input").mkdir(parents=True)
    frame.to_csv(directory / "input" / "data.csv", index=False)
    code = preprocess.main(
        [
            *("--label-column", label, "--problem-type", problem_type),
            *("--input-dir", str(directory / "input")),
            *("--train-dir", str(directory / "train")),
            *("--validation-dir", str(directory / "validation")),
            *("--test-dir", str(directory / "test")),
            *("--exit-message-file", str(directory / "message")),
        ]
    )
    assert code == 0
    return directory


@pytest.fixture(scope="module")
def splits(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("splits")
    return prepare_splits(
        directory, generate_transactions(3_000, seed=21), "is_fraud", "binary_classification"
    )


@pytest.fixture(scope="module")
def schema(splits: Path) -> dict:
    return train.load_schema(splits / "train")


def sm_env(root: Path, splits: Path, **extra: str) -> dict[str, str]:
    return {
        "SM_MODEL_DIR": str(root / "model"),
        "SM_CHANNEL_TRAIN": str(splits / "train"),
        "SM_CHANNEL_VALIDATION": str(splits / "validation"),
        "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
        "SM_OUTPUT_DIR": str(root / "output"),
        **extra,
    }


def hyperparameter_args(**overrides: str) -> list[str]:
    values = {**DEFAULTS, "max-iter": "40", **overrides}
    return [item for name, value in values.items() for item in (f"--{name}", value)]


# --- hyperparameters ---------------------------------------------------------------------------


def test_hyperparameters_arrive_as_text():
    parsed = train.parse_hyperparameters(
        {
            "learning-rate": "0.05",
            "max-iter": "200.0",
            "max-leaf-nodes": " 31 ",
            "l2-regularization": "0",
        }
    )
    assert parsed == Hyperparameters(0.05, 200, 31, 0.0)
    assert isinstance(parsed.max_iter, int)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("learning-rate", "-0.1", "learning-rate must be a finite number > 0.0, got '-0.1'"),
        ("learning-rate", "0", "learning-rate must be a finite number > 0.0"),
        ("learning-rate", "fast", "learning-rate must be a number, got 'fast'"),
        ("learning-rate", "nan", "learning-rate must be a finite number"),
        ("max-iter", "0", "max-iter must be >= 1, got '0'"),
        ("max-iter", "2.5", "max-iter must be an integer, got '2.5'"),
        ("max-iter", "many", "max-iter must be an integer, got 'many'"),
        ("max-leaf-nodes", "1", "max-leaf-nodes must be >= 2"),
        ("l2-regularization", "-1", "l2-regularization must be a finite number >= 0.0"),
        ("l2-regularization", "inf", "l2-regularization must be a finite number"),
    ],
)
def test_bad_hyperparameter_is_named(name, value, expected):
    with pytest.raises(TrainingError, match=re.escape(f"hyperparameter {expected}")):
        train.parse_hyperparameters({**DEFAULTS, name: value})


# --- arguments -----------------------------------------------------------------------------------


def test_arguments_default_to_the_sm_environment(tmp_path):
    env = sm_env(
        tmp_path, tmp_path / "splits", SM_HPS=json.dumps({"learning-rate": 0.3, "max-iter": 50})
    )
    args = train.parse_args([], env=env)
    assert args.model_dir == tmp_path / "model"
    assert args.train == tmp_path / "splits" / "train"
    assert args.validation == tmp_path / "splits" / "validation"
    assert args.output_data_dir == tmp_path / "output" / "data"
    assert (args.learning_rate, args.max_iter, args.max_leaf_nodes) == ("0.3", "50", "31")
    assert args.label_column is None


def test_arguments_fall_back_to_the_sagemaker_paths():
    args = train.parse_args([], env={})
    assert args.model_dir == Path("/opt/ml/model")
    assert args.train == Path("/opt/ml/input/data/train")
    assert args.validation == Path("/opt/ml/input/data/validation")
    assert args.output_data_dir == Path("/opt/ml/output/data")
    assert args.learning_rate == "0.1"


def test_command_line_wins_and_unknown_arguments_are_ignored(capsys):
    args = train.parse_args(
        ["--learning-rate", "0.2", "--label-column", "is_fraud", "--sagemaker-extra", "1"],
        env={"SM_HPS": '{"learning-rate": "0.9"}'},
    )
    assert args.learning_rate == "0.2"
    assert args.label_column == "is_fraud"
    assert "ignoring arguments: --sagemaker-extra 1" in capsys.readouterr().out


# --- inputs --------------------------------------------------------------------------------------


def test_schema_must_exist(tmp_path):
    (tmp_path / "train.parquet").write_bytes(b"")
    with pytest.raises(TrainingError, match=r"schema\.json not found.*found: train\.parquet"):
        train.load_schema(tmp_path)


def test_schema_must_be_json_with_the_keys(tmp_path):
    (tmp_path / "schema.json").write_text("{not json")
    with pytest.raises(TrainingError, match="is not valid JSON"):
        train.load_schema(tmp_path)
    (tmp_path / "schema.json").write_text('{"label_column": "y"}')
    with pytest.raises(TrainingError, match="lacks problem_type, numeric_features"):
        train.load_schema(tmp_path)


def test_label_and_problem_type_must_match_the_schema(schema):
    args = train.parse_args(["--label-column", "fraud"], env={})
    with pytest.raises(TrainingError, match=r"--label-column is 'fraud' but .* says 'is_fraud'"):
        train.check_arguments(args, schema)
    args = train.parse_args(["--problem-type", "regression"], env={})
    with pytest.raises(TrainingError, match="--problem-type is 'regression'"):
        train.check_arguments(args, schema)


def test_split_file_must_exist(tmp_path, schema):
    with pytest.raises(TrainingError, match=r"train\.parquet not found \(found: nothing\)"):
        train.load_split(tmp_path, "train", schema)


def test_split_must_have_the_schema_columns(tmp_path, splits, schema):
    frame = pd.read_parquet(splits / "train" / "train.parquet").drop(columns=["hour", "channel"])
    frame.to_parquet(tmp_path / "train.parquet")
    with pytest.raises(TrainingError, match=r"train\.parquet lacks column\(s\) hour, channel"):
        train.load_split(tmp_path, "train", schema)


def test_numeric_feature_must_be_numbers(tmp_path, splits, schema):
    frame = pd.read_parquet(splits / "train" / "train.parquet")
    frame["amount"] = frame["amount"].astype(str)
    frame.to_parquet(tmp_path / "train.parquet")
    with pytest.raises(TrainingError, match="numeric feature 'amount' has type"):
        train.load_split(tmp_path, "train", schema)


def test_labels_must_be_known_classes(tmp_path, splits, schema):
    frame = pd.read_parquet(splits / "train" / "train.parquet")
    frame.loc[0, "is_fraud"] = 7
    frame.to_parquet(tmp_path / "train.parquet")
    with pytest.raises(TrainingError, match=r"label values \['7'\] are not among"):
        train.load_split(tmp_path, "train", schema)


def test_unreadable_split(tmp_path, schema):
    (tmp_path / "train.parquet").write_bytes(b"not parquet")
    with pytest.raises(TrainingError, match=r"cannot read .*train\.parquet"):
        train.load_split(tmp_path, "train", schema)


# --- the model -----------------------------------------------------------------------------------


def test_pipeline_shape(schema):
    model = train.build_model(schema, QUICK)
    features, booster = model.named_steps["features"], model.named_steps["model"]
    assert isinstance(features, ColumnTransformer)
    assert isinstance(booster, HistGradientBoostingClassifier)
    names = [name for name, _, _ in features.transformers]
    assert names == ["numeric", "categorical"]
    encoder = features.transformers[1][1]
    assert isinstance(encoder, OrdinalEncoder)
    assert encoder.max_categories == 254 and encoder.handle_unknown == "use_encoded_value"
    assert np.isnan(encoder.unknown_value) and np.isnan(encoder.encoded_missing_value)
    mask = booster.categorical_features
    assert mask == [False] * len(schema["numeric_features"]) + [True, True]
    assert booster.random_state == train.RANDOM_STATE
    assert (booster.learning_rate, booster.max_iter, booster.max_leaf_nodes) == (0.2, 30, 15)


def test_numeric_only_schema_has_no_categorical_mask():
    schema = {"problem_type": "regression", "numeric_features": ["a"], "categorical_features": []}
    model = train.build_model(schema, QUICK)
    assert isinstance(model.named_steps["model"], HistGradientBoostingRegressor)
    assert model.named_steps["model"].categorical_features is None


def test_model_takes_raw_rows_with_unknown_and_missing_values(splits, schema):
    frame = pd.read_parquet(splits / "train" / "train.parquet")
    model = train.build_model(schema, QUICK)
    model.fit(train.model_input(frame, schema), frame["is_fraud"].to_numpy())
    odd = frame.head(3).copy()
    odd["merchant_category"] = ["never_seen", None, "grocery"]
    odd["amount"] = [np.nan, 5.0, 1e9]
    probabilities = model.predict_proba(train.model_input(odd, schema))
    assert probabilities.shape == (3, 2)
    assert np.all((probabilities >= 0) & (probabilities <= 1))


def test_model_input_is_the_same_on_every_pandas(schema):
    frame = pd.DataFrame(
        {column: [1, 2] for column in schema["numeric_features"]}
        | {"merchant_category": ["grocery", None], "channel": pd.array(["atm", None])}
    )
    features = train.model_input(frame, schema)
    assert list(features.columns) == schema["feature_columns"]
    assert features["amount"].dtype == "float64"
    assert features["channel"].dtype == object
    assert features["channel"].iloc[0] == "atm" and isinstance(features["channel"].iloc[1], float)


def test_metrics_on_a_known_model():
    class Fixed:
        classes_ = np.array([0, 1])

        def predict(self, features):
            return np.array([0, 1, 0, 1, 0])

        def predict_proba(self, features):
            positive = np.array([0.1, 0.6, 0.2, 0.9, 0.4])
            return np.column_stack([1 - positive, positive])

    schema = {
        "problem_type": "binary_classification",
        "label_column": "y",
        "classes": [0, 1],
        "numeric_features": ["x"],
        "categorical_features": [],
    }
    frame = pd.DataFrame({"x": range(5), "y": [0, 0, 0, 1, 1]})
    # Ranked 0.9 (positive), 0.6, 0.4 (positive), 0.2, 0.1: AP = (1/1 + 2/3) / 2.
    ranking = {"auc": 5 / 6, "average_precision": 5 / 6}
    metrics = train.compute_metrics(Fixed(), frame, schema)
    assert metrics == pytest.approx(
        {"accuracy": 0.6, "precision": 0.5, "recall": 0.5, "f1": 0.5, **ranking}
    )
    # At a threshold of 0.4 the third row is flagged too: both positives, one false alarm.
    metrics = train.compute_metrics(Fixed(), frame, schema, threshold=0.4)
    assert metrics == pytest.approx(
        {"accuracy": 0.8, "precision": 2 / 3, "recall": 1.0, "f1": 0.8, **ranking}
    )


# --- the operating point -------------------------------------------------------------------------

# Ten validation rows, by decreasing probability: positives at ranks 1, 2, 4 and 7.
POSITIVE = np.array([1, 1, 0, 1, 0, 0, 1, 0, 0, 0], dtype=bool)
PROBABILITY = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])


def test_threshold_for_the_best_f1():
    # Flagging the top 2: F1 2*1*0.5/1.5 = 0.667; top 4: precision 3/4, recall 3/4 = 0.75;
    # top 7: 4/7 and 1, F1 0.727. The top 4 win: threshold 0.7.
    chosen = train.choose_threshold(POSITIVE, PROBABILITY, train.OperatingPoint("f1"))
    assert chosen["objective"] == "f1" and chosen["value"] == pytest.approx(0.7)
    assert chosen["validation"] == {"rows": 10, "flagged": 4, "precision": 0.75, "recall": 0.75}


def test_threshold_for_the_lowest_cost():
    # Cost = ratio * missed positives + false alarms. Ratio 1: flag the top 2 (cost 2) or the
    # top 4 (1 + 1 = 2): the higher threshold wins the tie. Ratio 10: catching the 4th
    # positive (3 more false alarms) saves 10, so the top 7 are flagged (cost 3).
    cheap = train.choose_threshold(POSITIVE, PROBABILITY, train.OperatingPoint("cost", 1.0))
    assert cheap["value"] == pytest.approx(0.9) and cheap["validation_cost"] == 2
    dear = train.choose_threshold(POSITIVE, PROBABILITY, train.OperatingPoint("cost", 10.0))
    assert dear["value"] == pytest.approx(0.4) and dear["validation_cost"] == 3
    assert dear["validation"]["recall"] == 1.0 and dear["cost_ratio"] == 10.0


def test_threshold_for_a_minimum_precision():
    # Precision >= 0.75 holds down to the top 4 (recall 0.75); >= 0.5 down to the top 7.
    for minimum, expected, recall in ((0.75, 0.7, 0.75), (0.5, 0.4, 1.0)):
        point = train.OperatingPoint("min_precision", min_precision=minimum)
        chosen = train.choose_threshold(POSITIVE, PROBABILITY, point)
        assert chosen["value"] == pytest.approx(expected) and chosen["constraint_met"] is True
        assert chosen["validation"]["recall"] == recall


def test_an_unreachable_precision_falls_back_to_the_most_precise_threshold():
    positive = np.array([0, 1, 0, 1], dtype=bool)
    probability = np.array([0.9, 0.8, 0.7, 0.6])
    point = train.OperatingPoint("min_precision", min_precision=0.9)
    chosen = train.choose_threshold(positive, probability, point)
    assert chosen["constraint_met"] is False
    # Precision 0.5 flagging the top 2 or all 4: the higher threshold (fewer alarms) wins.
    assert chosen["value"] == pytest.approx(0.8) and chosen["validation"]["precision"] == 0.5


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("threshold-objective", "accuracy", "must be one of f1, cost, min_precision"),
        ("threshold-cost-ratio", "0", "must be a finite number > 0.0, got '0'"),
        ("threshold-min-precision", "1.5", "must be at most 1, got '1.5'"),
        ("threshold-min-precision", "high", "must be a number, got 'high'"),
    ],
)
def test_bad_operating_point_is_named(name, value, expected):
    with pytest.raises(TrainingError, match=re.escape(f"hyperparameter {name} {expected}")):
        train.parse_operating_point({name: value})


def test_class_weights_reach_the_classifier(schema):
    balanced = Hyperparameters(0.2, 30, 15, 0.0, class_weight="balanced")
    assert train.build_model(schema, balanced).named_steps["model"].class_weight == "balanced"
    assert train.build_model(schema, QUICK).named_steps["model"].class_weight is None
    with pytest.raises(TrainingError, match="class-weight must be one of none, balanced"):
        train.parse_hyperparameters({**DEFAULTS, "class-weight": "auto"})


# --- the whole job -------------------------------------------------------------------------------


def test_run_saves_model_metadata_handler_and_metrics(tmp_path, splits, monkeypatch, capsys):
    env = sm_env(tmp_path, splits)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    args = ["--label-column", "is_fraud", "--problem-type", "binary_classification"]
    assert train.main([*args, *hyperparameter_args()]) == 0

    printed = capsys.readouterr().out
    for metric in ("accuracy", "precision", "recall", "f1", "auc", "average_precision"):
        assert re.search(rf"^validation:{metric}=\d+\.\d{{6}};$", printed, re.MULTILINE)
    model_dir = tmp_path / "model"
    assert sorted(p.name for p in model_dir.iterdir()) == ["code", "metadata.json", "model.joblib"]
    shipped = (model_dir / "code" / "inference.py").read_bytes()
    assert shipped == (Path(train.__file__).parent / "inference.py").read_bytes()

    metadata = json.loads((model_dir / "metadata.json").read_text(encoding="utf-8"))
    assert metadata["schema"] == train.load_schema(splits / "train")
    assert metadata["hyperparameters"] == {
        "learning_rate": 0.1,
        "max_iter": 40,
        "max_leaf_nodes": 31,
        "l2_regularization": 0.0,
        "class_weight": "none",
    }
    # The operating point, chosen on the validation split, with what it achieved there.
    threshold = metadata["decision_threshold"]
    assert threshold["objective"] == "f1" and 0 < threshold["value"] < 1
    assert f"decision threshold {threshold['value']:.6f} (f1)" in printed
    assert threshold["validation"]["rows"] == metadata["validation_rows"]
    assert metadata["validation_metrics"]["recall"] == pytest.approx(
        threshold["validation"]["recall"]
    )
    assert set(metadata["library_versions"]) == {
        "python",
        "scikit-learn",
        "numpy",
        "pandas",
        "pyarrow",
        "joblib",
    }
    assert metadata["training_rows"] == metadata["schema"]["row_counts"]["train"]
    metrics = json.loads((tmp_path / "output" / "data" / "validation_metrics.json").read_text())
    assert metrics == metadata["validation_metrics"]
    assert metrics["accuracy"] > 0.9

    model = joblib.load(model_dir / "model.joblib")
    valid = pd.read_parquet(splits / "validation" / "validation.parquet")
    assert model.predict(train.model_input(valid, metadata["schema"])).shape == (len(valid),)


def test_training_is_deterministic(tmp_path, splits):
    predictions = []
    for attempt in ("a", "b"):
        args = train.parse_args(hyperparameter_args(), env=sm_env(tmp_path / attempt, splits))
        train.run(args)
        model = joblib.load(tmp_path / attempt / "model" / "model.joblib")
        test = pd.read_parquet(splits / "test" / "test.parquet")
        schema = train.load_schema(splits / "train")
        predictions.append(model.predict_proba(train.model_input(test, schema)))
    np.testing.assert_array_equal(predictions[0], predictions[1])
    for name in ("model.joblib", "metadata.json"):
        first, second = (tmp_path / a / "model" / name for a in ("a", "b"))
        assert first.read_bytes() == second.read_bytes(), name


def test_without_validation_channel(tmp_path, splits, capsys):
    env = sm_env(tmp_path, splits, SM_CHANNEL_VALIDATION=str(tmp_path / "none"))
    info = train.run(train.parse_args(hyperparameter_args(), env=env))
    assert info["validation_metrics"] is None
    assert "skipping validation metrics" in capsys.readouterr().out
    assert not (tmp_path / "output" / "data" / "validation_metrics.json").exists()


def test_regression_and_text_classes(tmp_path):
    frame = generate_transactions(3_000, seed=4)
    frame["outcome"] = np.where(frame.pop("is_fraud") == 1, "fraud", "genuine")
    regression = prepare_splits(tmp_path / "r", frame, "amount", "regression")
    info = train.run(
        train.parse_args(hyperparameter_args(), env=sm_env(tmp_path / "r", regression))
    )
    assert set(info["validation_metrics"]) == {"mse", "rmse", "mae", "r2"}
    assert info["validation_metrics"]["rmse"] == pytest.approx(
        info["validation_metrics"]["mse"] ** 0.5
    )
    text = prepare_splits(tmp_path / "c", frame, "outcome", "binary_classification")
    info = train.run(train.parse_args(hyperparameter_args(), env=sm_env(tmp_path / "c", text)))
    assert info["schema"]["classes"] == ["fraud", "genuine"]
    assert 0 <= info["validation_metrics"]["auc"] <= 1
    assert info["decision_threshold"]["objective"] == "f1"


def test_without_validation_the_threshold_is_the_estimators_own(tmp_path, splits):
    env = sm_env(tmp_path, splits, SM_CHANNEL_VALIDATION=str(tmp_path / "none"))
    info = train.run(train.parse_args(hyperparameter_args(), env=env))
    assert info["decision_threshold"]["value"] == 0.5
    assert info["decision_threshold"]["objective"] == "default"


def test_missing_inference_script_is_reported(tmp_path):
    with pytest.raises(TrainingError, match=r"must ship next to train\.py"):
        train.save_model(object(), tmp_path, {}, inference_script=tmp_path / "inference.py")


def test_bad_hyperparameter_fails_with_the_reason(tmp_path, splits, monkeypatch, capsys):
    for name, value in sm_env(tmp_path, splits).items():
        monkeypatch.setenv(name, value)
    assert train.main(hyperparameter_args(**{"learning-rate": "-0.5"})) == 1
    failure = (tmp_path / "output" / "failure").read_text(encoding="utf-8")
    assert failure == "hyperparameter learning-rate must be a finite number > 0.0, got '-0.5'"
    assert capsys.readouterr().err.splitlines()[-1] == f"ERROR: {failure}"
    assert not (tmp_path / "model").exists()


def test_unexpected_error_is_reported_after_the_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path / "out"))

    def explode(args):
        raise KeyError("boom")

    monkeypatch.setattr(train, "run", explode)
    assert train.main([]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert err.splitlines()[-1] == "ERROR: unexpected error: KeyError: 'boom'"
    assert (tmp_path / "out" / "failure").read_text() == "unexpected error: KeyError: 'boom'"
