"""processing/preprocess.py: loading, validation, type inference, cleaning, splitting."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import preprocess
import pytest
from preprocess import InputError, Inputs

from pipelines.sample_data import generate_transactions

pytestmark = pytest.mark.container

LABEL = "is_fraud"
BINARY = "binary_classification"


def frame_of(rows: int = 120, seed: int = 0) -> pd.DataFrame:
    """A small labelled frame with numeric, categorical and flag columns."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": np.round(rng.lognormal(3, 1, rows), 2),
            "channel": rng.choice(["online", "in_store", "atm"], rows),
            "hour": rng.integers(0, 24, rows),
            LABEL: (np.arange(rows) % 4 == 0).astype(int),
        }
    )


def inputs_of(frame: pd.DataFrame, name: str = "data.csv") -> Inputs:
    return Inputs(frame=frame, files=[Path(name)], offsets=[0])


def write_csv(directory: Path, name: str, frame: pd.DataFrame) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def load_and_prepare(directory: Path, problem_type: str = BINARY, label: str = LABEL):
    return preprocess.prepare(preprocess.load_inputs(directory), label, problem_type)


def run_main(tmp_path: Path, *extra: str, label: str = LABEL, problem_type: str = BINARY):
    args = [
        "--label-column",
        label,
        "--problem-type",
        problem_type,
        "--input-dir",
        str(tmp_path / "input"),
        "--train-dir",
        str(tmp_path / "out" / "train"),
        "--validation-dir",
        str(tmp_path / "out" / "validation"),
        "--test-dir",
        str(tmp_path / "out" / "test"),
        "--exit-message-file",
        str(tmp_path / "output" / "message"),
        *extra,
    ]
    return preprocess.main(args)


# --- finding and reading the input files -------------------------------------------------


def test_no_input_files_names_the_directory_and_extensions(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError) as error:
        preprocess.load_inputs(tmp_path)
    message = str(error.value)
    assert str(tmp_path) in message
    for extension in (".csv", ".csv.gz", ".parquet", ".pq"):
        assert extension in message
    assert "notes.txt" in message


def test_missing_input_directory(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        preprocess.load_inputs(tmp_path / "nowhere")


def test_reads_every_format_recursively_in_path_order(tmp_path):
    frame = frame_of(40)
    write_csv(tmp_path, "a.csv", frame.iloc[:10])
    with gzip.open(tmp_path / "b.csv.gz", "wt", encoding="utf-8") as handle:
        frame.iloc[10:20].to_csv(handle, index=False)
    (tmp_path / "c").mkdir()
    frame.iloc[20:30].to_parquet(tmp_path / "c" / "part.parquet", index=False)
    frame.iloc[30:40].to_parquet(tmp_path / "d.PQ", index=False)
    (tmp_path / "_SUCCESS").write_text("")
    inputs = preprocess.load_inputs(tmp_path)
    assert [path.name for path in inputs.files] == ["a.csv", "b.csv.gz", "part.parquet", "d.PQ"]
    assert inputs.offsets == [0, 10, 20, 30]
    np.testing.assert_allclose(inputs.frame["amount"], frame["amount"])
    assert inputs.frame["channel"].tolist() == frame["channel"].tolist()


def test_same_columns_in_another_order_are_aligned(tmp_path):
    frame = frame_of(20)
    write_csv(tmp_path, "a.csv", frame.iloc[:10])
    write_csv(tmp_path, "b.csv", frame.iloc[10:, ::-1])
    inputs = preprocess.load_inputs(tmp_path)
    assert list(inputs.frame.columns) == list(frame.columns)
    assert inputs.frame["hour"].tolist() == frame["hour"].tolist()


def test_file_with_other_columns_is_named(tmp_path):
    frame = frame_of(20)
    write_csv(tmp_path, "a.csv", frame.iloc[:10])
    write_csv(tmp_path, "b.csv", frame.iloc[10:].rename(columns={"hour": "hour_of_day"}))
    with pytest.raises(InputError) as error:
        preprocess.load_inputs(tmp_path)
    message = str(error.value)
    assert "b.csv" in message and "a.csv" in message
    assert "missing hour" in message
    assert "unexpected hour_of_day" in message


def test_header_only_csv_is_an_empty_file(tmp_path):
    (tmp_path / "empty.csv").write_text("amount,is_fraud\n")
    with pytest.raises(InputError, match=r"empty\.csv has no rows"):
        preprocess.load_inputs(tmp_path)


def test_zero_byte_csv_is_an_empty_file(tmp_path):
    (tmp_path / "blank.csv").write_bytes(b"")
    with pytest.raises(InputError, match=r"blank\.csv is empty"):
        preprocess.load_inputs(tmp_path)


def test_parquet_without_rows_is_an_empty_file(tmp_path):
    frame_of(5).iloc[:0].to_parquet(tmp_path / "empty.parquet", index=False)
    with pytest.raises(InputError, match=r"empty\.parquet has no rows"):
        preprocess.load_inputs(tmp_path)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("broken.parquet", b"PAR1 this is not parquet at all"),
        ("broken.csv.gz", b"\x1f\x8b\x08\x00 truncated gzip"),
        ("latin1.csv", "amount,city\n1,M\xfcnchen\n".encode("latin-1")),
    ],
)
def test_unreadable_file_is_named(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError) as error:
        preprocess.load_inputs(tmp_path)
    assert f"cannot read {tmp_path / name}" in str(error.value)


# --- the label -------------------------------------------------------------------------------


def test_missing_label_lists_the_available_columns(tmp_path):
    write_csv(tmp_path, "data.csv", frame_of().drop(columns=LABEL))
    with pytest.raises(InputError) as error:
        load_and_prepare(tmp_path)
    message = str(error.value)
    assert "'is_fraud' not found in" in message and "data.csv" in message
    assert "available columns: amount, channel, hour" in message


def test_single_class_is_named(tmp_path):
    write_csv(tmp_path, "data.csv", frame_of().assign(is_fraud=0))
    with pytest.raises(InputError) as error:
        load_and_prepare(tmp_path)
    message = str(error.value)
    assert "single class (0, 120 rows)" in message
    assert "'is_fraud'" in message and "data.csv" in message


def test_binary_label_with_three_classes(tmp_path):
    frame = frame_of().assign(is_fraud=lambda f: np.arange(len(f)) % 3)
    write_csv(tmp_path, "data.csv", frame)
    with pytest.raises(InputError) as error:
        load_and_prepare(tmp_path)
    message = str(error.value)
    assert "exactly 2 classes" in message and "has 3" in message
    assert "0 (40), 1 (40), 2 (40)" in message and "data.csv" in message


def test_regression_label_must_be_numeric(tmp_path):
    frame = frame_of(60).assign(price=["cheap", "dear", "high"] * 20)
    write_csv(tmp_path, "prices.csv", frame)
    with pytest.raises(InputError) as error:
        load_and_prepare(tmp_path, problem_type="regression", label="price")
    message = str(error.value)
    assert "regression label column 'price' is not numeric" in message
    assert "'cheap' at row 1 of" in message and "prices.csv" in message


def test_regression_label_with_one_typo_names_the_row(tmp_path):
    frame = frame_of(60).assign(price=np.arange(60.0).astype(str))
    frame.loc[41, "price"] = "12,50"
    write_csv(tmp_path, "prices.csv", frame)
    with pytest.raises(InputError, match=r"'12,50' in numeric column 'price' at row 42 of"):
        load_and_prepare(tmp_path, problem_type="regression", label="price")


def test_regression_label_of_booleans_is_refused(tmp_path):
    write_csv(tmp_path, "data.csv", frame_of().assign(flag=[True, False] * 60))
    with pytest.raises(InputError, match="True/False values"):
        load_and_prepare(tmp_path, problem_type="regression", label="flag")


def test_rows_without_label_are_dropped_and_counted(tmp_path):
    frame = frame_of().astype({LABEL: "float64"})
    frame.loc[[3, 7, 11], LABEL] = np.nan
    write_csv(tmp_path, "data.csv", frame)
    prepared = load_and_prepare(tmp_path)
    assert prepared.missing_label_rows == 3
    assert len(prepared.frame) == 117
    # 0.0/1.0 read because of the gaps are integer classes again.
    assert prepared.classes == [0, 1]
    assert prepared.frame[LABEL].dtype == "int64"


def test_text_classes_are_stripped_and_sorted(tmp_path):
    frame = frame_of().assign(is_fraud=[" yes", "no "] * 60)
    write_csv(tmp_path, "data.csv", frame)
    prepared = load_and_prepare(tmp_path)
    assert prepared.classes == ["no", "yes"]
    assert set(prepared.frame[LABEL]) == {"no", "yes"}


def test_boolean_label_becomes_zero_one(tmp_path):
    write_csv(tmp_path, "data.csv", frame_of().assign(is_fraud=[True, False, False] * 40))
    assert load_and_prepare(tmp_path).classes == [0, 1]


def test_label_without_any_value(tmp_path):
    write_csv(tmp_path, "data.csv", frame_of().assign(is_fraud=np.nan))
    with pytest.raises(InputError, match="label column 'is_fraud' has no values in"):
        load_and_prepare(tmp_path)


# --- feature columns -------------------------------------------------------------------------


def test_non_numeric_value_in_numeric_column_names_file_column_value_and_row(tmp_path):
    frame = frame_of(100)
    write_csv(tmp_path, "a.csv", frame.iloc[:50])
    second = frame.iloc[50:].astype({"amount": object})
    second.iloc[4, second.columns.get_loc("amount")] = "12.5 EUR"
    write_csv(tmp_path, "b.csv", second)
    with pytest.raises(InputError) as error:
        load_and_prepare(tmp_path)
    message = str(error.value)
    assert "non-numeric value '12.5 EUR' in numeric column 'amount'" in message
    assert f"row 5 of {tmp_path / 'b.csv'}" in message
    assert "1 of 100 values are not numbers" in message


def test_infinite_value_is_refused(tmp_path):
    frame = frame_of(30).astype({"amount": object})
    frame.loc[9, "amount"] = "inf"
    write_csv(tmp_path, "data.csv", frame)
    with pytest.raises(
        InputError, match=r"infinite value inf in numeric column 'amount' at row 10"
    ):
        load_and_prepare(tmp_path)


def test_all_empty_column_is_named(tmp_path):
    write_csv(tmp_path, "data.csv", frame_of().assign(notes=np.nan))
    with pytest.raises(InputError) as error:
        load_and_prepare(tmp_path)
    assert "column 'notes' has no values" in str(error.value)
    assert "data.csv" in str(error.value)


def test_column_of_blanks_is_all_empty(tmp_path):
    frame = frame_of().assign(notes="   ")
    frame.to_parquet(tmp_path / "data.parquet", index=False)
    with pytest.raises(InputError, match="column 'notes' has no values"):
        load_and_prepare(tmp_path)


def test_type_inference(tmp_path):
    rows = 120
    frame = frame_of(rows).assign(
        amount_text=[f" {value} " for value in np.arange(rows) / 4],
        code=["A1", "B2", "7"] * 40,  # a few numbers among text: categorical
        flag=[True, False, True] * 40,
        flag_gaps=[True, None, False] * 40,
        city=[" Paris", "Lyon ", " "] * 40,
    )
    frame.to_parquet(tmp_path / "data.parquet", index=False)
    prepared = load_and_prepare(tmp_path)
    assert prepared.numeric_features == ["amount", "hour", "amount_text", "flag", "flag_gaps"]
    assert prepared.categorical_features == ["channel", "code", "city"]
    cleaned = prepared.frame
    assert cleaned["amount_text"].dtype == "float64"
    assert cleaned["amount_text"].iloc[5] == 1.25
    assert cleaned["flag"].dtype == "int64" and cleaned["flag"].tolist()[:3] == [1, 0, 1]
    assert cleaned["flag_gaps"].dtype == "float64"
    assert cleaned["flag_gaps"].iloc[:3].tolist()[::2] == [1.0, 0.0]
    assert np.isnan(cleaned["flag_gaps"].iloc[1])
    assert cleaned["city"].iloc[:2].tolist() == ["Paris", "Lyon"]
    assert pd.isna(cleaned["city"].iloc[2])  # blank text is missing
    assert prepared.feature_columns == [c for c in frame.columns if c != LABEL]


def test_csv_booleans_with_gaps_are_numbers(tmp_path):
    (tmp_path / "data.csv").write_text(
        "hour,is_new_device,is_fraud\n"
        + "".join(f"{h},{['True', 'False', ''][h % 3]},{h % 2}\n" for h in range(60))
    )
    prepared = load_and_prepare(tmp_path)
    assert "is_new_device" in prepared.numeric_features
    assert prepared.frame["is_new_device"].iloc[:3].fillna(-1).tolist() == [1.0, 0.0, -1.0]


def test_identifier_and_constant_columns_are_dropped(tmp_path):
    rows = 120
    frame = frame_of(rows).assign(
        transaction_id=[f"t{i:05d}" for i in range(rows)],
        row_number=np.arange(rows),  # numeric: not an identifier by the rule
        currency="EUR",
        partly_known=[1.0] + [np.nan] * (rows - 1),  # one value or missing: informative
    )
    write_csv(tmp_path, "data.csv", frame)
    prepared = load_and_prepare(tmp_path)
    assert prepared.dropped_columns == {"transaction_id": "identifier", "currency": "constant"}
    assert "transaction_id" not in prepared.frame and "currency" not in prepared.frame
    assert "row_number" in prepared.numeric_features
    assert "partly_known" in prepared.numeric_features


def test_distinct_text_in_a_small_file_is_kept(tmp_path):
    frame = frame_of(50).assign(name=[f"n{i}" for i in range(50)])
    write_csv(tmp_path, "data.csv", frame)
    assert "name" in load_and_prepare(tmp_path).categorical_features


def test_no_features_left(tmp_path):
    frame = pd.DataFrame({"id": [f"x{i}" for i in range(60)], LABEL: [0, 1] * 30})
    write_csv(tmp_path, "data.csv", frame)
    with pytest.raises(InputError, match=r"no feature columns left .*dropped: id"):
        load_and_prepare(tmp_path)


# --- splitting -------------------------------------------------------------------------------


def test_stratified_split_keeps_the_class_ratio_and_is_reproducible():
    label = pd.Series(([1] + [0] * 19) * 500)  # 5% positive
    splits = preprocess.split_indices(label, BINARY, 0.15, 0.15, seed=42)
    again = preprocess.split_indices(label, BINARY, 0.15, 0.15, seed=42)
    other = preprocess.split_indices(label, BINARY, 0.15, 0.15, seed=43)
    for name in preprocess.SPLITS:
        np.testing.assert_array_equal(splits[name], again[name])
        assert np.all(np.diff(splits[name]) > 0)
        assert label.iloc[splits[name]].mean() == pytest.approx(0.05, abs=0.002)
    assert not np.array_equal(splits["test"], other["test"])
    assert {name: len(index) for name, index in splits.items()} == {
        "train": 7000,
        "validation": 1500,
        "test": 1500,
    }
    together = np.concatenate(list(splits.values()))
    assert sorted(together.tolist()) == list(range(len(label)))


def test_rare_class_stays_in_train():
    label = pd.Series(["a"] * 40 + ["b"])
    splits = preprocess.split_indices(label, BINARY, 0.2, 0.2, seed=1)
    assert "b" in set(label.iloc[splits["train"]])


def test_regression_split_is_a_shuffle():
    label = pd.Series(np.linspace(0, 1, 1000))
    splits = preprocess.split_indices(label, "regression", 0.1, 0.2, seed=0)
    assert [len(splits[name]) for name in preprocess.SPLITS] == [700, 100, 200]
    assert 0.4 < label.iloc[splits["test"]].mean() < 0.6


def test_too_few_rows_for_the_splits(tmp_path):
    (tmp_path / "input").mkdir()
    write_csv(tmp_path / "input", "data.csv", frame_of(4))
    assert run_main(tmp_path) == 1
    message = (tmp_path / "output" / "message").read_text(encoding="utf-8")
    assert "too few to fill" in message


# --- refusing data that cannot make an honest model -----------------------------------------


def run_message(tmp_path: Path, *extra: str, label: str = LABEL, problem_type: str = BINARY):
    """The job's failure reason (it must fail) and that nothing was written."""
    assert run_main(tmp_path, *extra, label=label, problem_type=problem_type) == 1
    assert not (tmp_path / "out").exists()
    return (tmp_path / "output" / "message").read_text(encoding="utf-8")


def labelled(rows: int = 3000, seed: int = 11) -> pd.DataFrame:
    """Generated transactions: about 14 fraud rows per 15% split."""
    return generate_transactions(rows, seed=seed).drop(columns="transaction_id")


def test_a_label_column_twice_in_a_csv_header_is_refused(tmp_path):
    # pandas would read the second is_fraud as a feature "is_fraud.1": a perfect copy.
    frame = labelled()
    text = frame.to_csv(index=False)
    header, body = text.split("\n", 1)
    rows = [f"{line},{line.rsplit(',', 1)[1]}" for line in body.splitlines()]
    path = tmp_path / "input" / "data.csv"
    path.parent.mkdir()
    path.write_text(f"{header},{LABEL}\n" + "\n".join(rows) + "\n")
    assert pd.read_csv(path).columns[-1] == "is_fraud.1"  # what pandas alone would do
    message = run_message(tmp_path)
    assert message.startswith(f"{path}: column name 'is_fraud' appears 2 times in the header")
    assert f"(columns {len(frame.columns)}, {len(frame.columns) + 1})" in message
    assert "'is_fraud.1'" in message


def test_duplicate_names_in_gzipped_csv_and_parquet_are_refused(tmp_path):
    directory = tmp_path / "input"
    directory.mkdir()
    with gzip.open(directory / "a.csv.gz", "wt", encoding="utf-8") as handle:
        handle.write("amount,hour,amount,is_fraud\n1,2,3,0\n")
    with pytest.raises(InputError, match=r"a\.csv\.gz: column name 'amount' appears 2 times"):
        preprocess.refuse_duplicate_columns(preprocess.find_input_files(directory))
    import pyarrow as pa
    import pyarrow.parquet as pq

    (directory / "a.csv.gz").unlink()
    table = pa.table([pa.array([1, 2]), pa.array([3, 4]), pa.array([0, 1])], ["x", "x", LABEL])
    pq.write_table(table, directory / "b.parquet")
    with pytest.raises(InputError, match=r"b\.parquet: column name 'x' appears 2 times in the Par"):
        preprocess.refuse_duplicate_columns(preprocess.find_input_files(directory))


def test_names_that_only_look_like_copies_are_fine(tmp_path):
    # "x" and "x.1" both in the header, and unnamed index columns, are not duplicates.
    path = write_csv(tmp_path, "data.csv", frame_of(20).assign(**{"amount.1": 1.0}))
    preprocess.refuse_duplicate_columns([path])
    (tmp_path / "index.csv").write_text(",,amount,is_fraud\n0,0,1.5,0\n")
    preprocess.refuse_duplicate_columns([tmp_path / "index.csv"])


def leak_of(tmp_path: Path, frame: pd.DataFrame, problem_type: str = BINARY, label: str = LABEL):
    """The leakage refusal's message for `frame`, or None if it is accepted."""
    write_csv(tmp_path, "data.csv", frame)
    inputs = preprocess.load_inputs(tmp_path)
    prepared = preprocess.prepare(inputs, label, problem_type)
    try:
        preprocess.refuse_leaking_features(prepared, inputs)
    except InputError as error:
        return str(error)
    return None


def test_a_feature_identical_to_the_label_is_refused(tmp_path):
    frame = labelled().assign(fraud_flag=lambda f: f[LABEL])
    message = leak_of(tmp_path, frame)
    assert message.startswith(
        f"column 'fraud_flag' in {tmp_path / 'data.csv'} is identical to the label 'is_fraud'"
    )
    assert "(leakage): drop the column or fix the data" in message


@pytest.mark.parametrize(
    ("column", "values", "explained"),
    [
        # The label under other names (a status filled in after the chargeback).
        (
            "status",
            lambda f: np.where(f[LABEL] == 1, "chargeback", "settled"),
            "every row with status in chargeback is 1, every other row 0",
        ),
        # One threshold puts every row in its class.
        (
            "risk_score",
            lambda f: f[LABEL] * 50 + f["hour"],
            "every row with risk_score >= 50 is 1, every other row 0",
        ),
        # Reversed: the fraud rows have the lowest values.
        (
            "trust",
            lambda f: 100 - f[LABEL] * 50 - f["hour"],
            "every row with trust >= 77 is 0, every other row 1",
        ),
        # Only the fraud rows have a value (say, a case number).
        (
            "case_number",
            lambda f: np.where(f[LABEL] == 1, np.arange(len(f)), np.nan),
            "every row with case_number >= ",
        ),
        # Many categories, each of one class (the reason an investigation recorded).
        (
            "reason",
            lambda f: np.where(f[LABEL] == 1, np.array(["stolen", "phished"])[f["hour"] % 2], "-"),
            "every row with reason in ",
        ),
    ],
)
def test_a_feature_that_predicts_the_label_alone_is_refused(tmp_path, column, values, explained):
    frame = labelled().assign(**{column: values})
    message = leak_of(tmp_path, frame)
    assert message is not None, column
    assert message.startswith(f"column {column!r} in {tmp_path / 'data.csv'} predicts the label")
    assert "perfectly on its own" in message and explained in message


def test_strong_but_imperfect_features_are_kept(tmp_path):
    """No false alarm on legitimate features, however strong."""
    frame = labelled()
    rng = np.random.default_rng(3)
    noise = rng.random(len(frame)) < 0.01  # 1% of the rows disagree with the label
    frame["signal"] = np.where(noise, 1 - frame[LABEL], frame[LABEL]) * 10 + rng.random(len(frame))
    frame["strong_category"] = np.where(frame["signal"] > 5, "odd", "usual")
    assert leak_of(tmp_path, frame) is None
    assert leak_of(tmp_path, labelled()) is None  # the generated data has none


def test_a_clean_split_that_chance_explains_is_kept(tmp_path):
    # Two positives that happen to have the largest amounts, and a code that is distinct on
    # almost every row: clean splits, but ones chance makes easily (probability > 1e-6).
    frame = frame_of(60).assign(is_fraud=0)
    frame.loc[frame["amount"].nlargest(2).index, LABEL] = 1
    frame["code"] = [f"c{i // 2 if i < 4 else i}" for i in range(60)]
    assert leak_of(tmp_path, frame) is None


def test_regression_label_derived_from_a_feature_is_refused(tmp_path):
    frame = labelled(500).assign(amount_cents=lambda f: f["amount"] * 100)
    message = leak_of(tmp_path, frame, "regression", "amount")
    assert "column 'amount_cents'" in message and "monotone function" in message
    copy = labelled(500).assign(price=lambda f: f["amount"])
    assert "is identical to the label 'amount'" in leak_of(tmp_path, copy, "regression", "amount")
    assert leak_of(tmp_path, labelled(500), "regression", "amount") is None


def test_too_few_rows_of_a_class_in_a_split_are_refused(tmp_path):
    (tmp_path / "input").mkdir()
    # 2,000 rows hold about 62 fraud rows: 9 in a 15% split.
    write_csv(tmp_path / "input", "data.csv", labelled(2000, seed=1))
    message = run_message(tmp_path)
    assert re.match(
        r"label column 'is_fraud': the (validation|test) split has only \d row\(s\) of class 1 "
        r"\(\d+ in all of .*data\.csv\); every split needs at least 10 of each class",
        message,
    ), message
    assert "--min-class-count" in message
    # The minimum is a setting: with 5, the same data is accepted.
    assert run_main(tmp_path, "--min-class-count", "5") == 0


def test_one_positive_row_is_refused(tmp_path):
    (tmp_path / "input").mkdir()
    frame = labelled().assign(is_fraud=0)
    frame.loc[7, LABEL] = 1
    write_csv(tmp_path / "input", "data.csv", frame)
    assert "has only 0 row(s) of class 1 (1 in all of" in run_message(tmp_path)


# --- the whole job -------------------------------------------------------------------------


@pytest.fixture
def sample_input(tmp_path) -> Path:
    directory = tmp_path / "input"
    # 3,000 rows: about 14 fraud rows per 15% split, above the minimum of 10.
    write_csv(directory, "transactions.csv", generate_transactions(3_000, seed=1))
    return directory


def test_run_writes_splits_and_schema(tmp_path, sample_input, capsys):
    assert run_main(tmp_path) == 0
    out = tmp_path / "out"
    schema = json.loads((out / "train" / "schema.json").read_text(encoding="utf-8"))
    assert schema["label_column"] == LABEL
    assert schema["problem_type"] == BINARY
    assert schema["classes"] == [0, 1]
    assert schema["dropped_columns"] == {"transaction_id": "identifier"}
    assert schema["categorical_features"] == ["merchant_category", "channel"]
    assert "amount" in schema["numeric_features"] and "is_new_device" in schema["numeric_features"]
    assert schema["columns"] == [*schema["feature_columns"], LABEL]
    counts = schema["row_counts"]
    assert counts["read"] == 3_000 and counts["missing_label"] == 0
    assert counts["train"] + counts["validation"] + counts["test"] == 3_000
    for split in preprocess.SPLITS:
        part = pd.read_parquet(out / split / f"{split}.parquet")
        assert list(part.columns) == schema["columns"]
        assert len(part) == counts[split]
        assert part[LABEL].dtype == "int64"
    printed = capsys.readouterr().out
    assert "read 3000 rows" in printed
    assert "transaction_id (identifier)" in printed
    assert re.search(r"class balance: 0: \d+ \(9\d\.\d\d%\), 1: \d+", printed)
    assert f"train {counts['train']}" in printed


def test_run_is_byte_for_byte_deterministic(tmp_path, sample_input):
    outputs = []
    for attempt in ("first", "second"):
        assert run_main(tmp_path) == 0
        out = tmp_path / "out"
        outputs.append({path.relative_to(out): path.read_bytes() for path in out.rglob("*.*")})
        (out).rename(tmp_path / attempt)
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) == 4


def test_regression_run(tmp_path, sample_input, capsys):
    assert run_main(tmp_path, label="amount", problem_type="regression") == 0
    schema = json.loads((tmp_path / "out" / "train" / "schema.json").read_text(encoding="utf-8"))
    assert "classes" not in schema
    assert "is_fraud" in schema["numeric_features"]
    assert "label: mean" in capsys.readouterr().out


def test_failure_writes_the_message_and_ends_stderr_with_it(tmp_path, capsys):
    (tmp_path / "input").mkdir()
    write_csv(tmp_path / "input", "data.csv", frame_of().drop(columns=LABEL))
    assert run_main(tmp_path) == 1
    message = (tmp_path / "output" / "message").read_text(encoding="utf-8")
    assert message.startswith("label column 'is_fraud' not found in")
    assert capsys.readouterr().err.splitlines()[-1] == f"ERROR: {message}"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--problem-type", "multiclass"], "--problem-type must be one of"),
        (["--validation-fraction", "0.6", "--test-fraction", "0.5"], "sum to less than 1"),
        (["--test-fraction", "a lot"], "invalid arguments: argument --test-fraction"),
        (["--min-class-count", "0"], "--min-class-count must be at least 1, got 0"),
    ],
)
def test_bad_arguments_are_reported_in_the_message_file(tmp_path, extra, expected):
    (tmp_path / "input").mkdir()
    assert run_main(tmp_path, *extra) == 1
    assert expected in (tmp_path / "output" / "message").read_text(encoding="utf-8")


def test_unexpected_error_prints_the_traceback_then_the_reason(tmp_path, monkeypatch, capsys):
    def explode(args):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(preprocess, "run", explode)
    assert run_main(tmp_path) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert err.splitlines()[-1] == "ERROR: unexpected error: RuntimeError: disk on fire"
    message = (tmp_path / "output" / "message").read_text(encoding="utf-8")
    assert message == "unexpected error: RuntimeError: disk on fire"


def test_multiline_reason_stays_on_one_stderr_line(tmp_path, capsys):
    assert preprocess.fail(tmp_path / "deep" / "message", "first\nsecond") == 1
    assert (tmp_path / "deep" / "message").read_text(encoding="utf-8") == "first second"
    assert capsys.readouterr().err.splitlines() == ["ERROR: first second"]
