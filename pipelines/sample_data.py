"""Synthetic card-transaction fraud data: the bundled sample and test fixtures.

Deterministic for a given (rows, seed): rows are generated in fixed-size chunks, each from its
own generator seeded with (seed, chunk number), so the CLI can stream a million rows to disk
and still write exactly what `generate_transactions` returns. Fraud is about 3% of the rows
and follows a logistic function of several features plus noise, so the signal is learnable
but a good model stays well below a perfect AUC.

    python -m pipelines.sample_data --rows 50000 --seed 7 -o data/sample/transactions.csv
    python -m pipelines.sample_data --rows 5000000 --files 10 -o big/   # big/part-00000.csv ...

Imports only numpy, pandas and the standard library.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

CHUNK_ROWS = 100_000
LABEL_COLUMN = "is_fraud"
COLUMNS = (
    "transaction_id",
    "amount",
    "merchant_category",
    "hour",
    "channel",
    "country_mismatch",
    "card_age_days",
    "txn_count_1h",
    "txn_count_24h",
    "distance_from_home_km",
    "avg_amount_30d",
    "is_new_device",
    LABEL_COLUMN,
)

# (category, share of transactions, added fraud log-odds)
MERCHANT_CATEGORIES = (
    ("grocery", 0.20, -0.6),
    ("restaurants", 0.14, -0.4),
    ("fuel", 0.10, -0.2),
    ("retail", 0.10, 0.0),
    ("pharmacy", 0.06, -0.5),
    ("utilities", 0.05, -0.7),
    ("transport", 0.06, -0.1),
    ("entertainment", 0.05, 0.1),
    ("travel", 0.05, 0.5),
    ("electronics", 0.05, 0.8),
    ("online_marketplace", 0.06, 0.6),
    ("jewelry", 0.02, 1.0),
    ("gift_cards", 0.02, 1.2),
    ("digital_goods", 0.04, 0.7),
)
CHANNELS = (
    ("in_store", 0.38, -0.5),
    ("online", 0.32, 0.6),
    ("contactless", 0.25, -0.4),
    ("atm", 0.05, 0.4),
)
# Daytime-heavy shopping pattern, quiet at night.
HOUR_WEIGHTS = np.array(
    [
        1,
        0.6,
        0.4,
        0.3,
        0.3,
        0.5,
        1.2,
        2.5,
        4,
        5,
        5.5,
        6,
        6.5,
        6,
        5.5,
        5.5,
        6,
        6.5,
        6.5,
        6,
        5,
        4,
        3,
        2,
    ]
)
# Chosen with the coefficients below so that about 3% of the rows are fraud.
INTERCEPT = -7.0
MISSING_DISTANCE_SHARE = 0.01


def _choice(rng: np.random.Generator, table: tuple, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw from a (name, share, log-odds) table; returns names and their log-odds."""
    names = np.array([row[0] for row in table], dtype=object)
    shares = np.array([row[1] for row in table], dtype=float)
    effects = np.array([row[2] for row in table], dtype=float)
    picks = rng.choice(len(table), size=n, p=shares / shares.sum())
    return names[picks], effects[picks]


def _chunk(n_rows: int, seed: int, chunk_number: int, first_id: int) -> pd.DataFrame:
    rng = np.random.default_rng([seed, chunk_number])
    merchant, merchant_effect = _choice(rng, MERCHANT_CATEGORIES, n_rows)
    channel, channel_effect = _choice(rng, CHANNELS, n_rows)
    hour = rng.choice(24, size=n_rows, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    avg_amount_30d = np.round(rng.lognormal(mean=3.6, sigma=0.7, size=n_rows), 2)
    # Most transactions look like the card's usual spend; some are far off it.
    amount = np.round(avg_amount_30d * rng.lognormal(mean=0.0, sigma=0.8, size=n_rows), 2)
    amount = np.maximum(amount, 0.5)
    card_age_days = np.minimum(rng.gamma(shape=1.5, scale=500.0, size=n_rows).astype(int), 7300)
    card_age_days += 1
    country_mismatch = (rng.random(n_rows) < 0.05).astype(int)
    is_new_device = (rng.random(n_rows) < 0.08).astype(int)
    txn_count_1h = rng.poisson(0.4, size=n_rows)
    txn_count_24h = txn_count_1h + rng.poisson(2.5, size=n_rows)
    distance = np.round(rng.lognormal(mean=2.0, sigma=1.2, size=n_rows), 1)

    log_odds = (
        INTERCEPT
        + merchant_effect
        + channel_effect
        + 1.3 * np.isin(hour, [0, 1, 2, 3, 4, 5])
        + 2.0 * np.log(amount / avg_amount_30d).clip(-1.0, 3.0)
        + 3.2 * country_mismatch
        + 2.8 * is_new_device
        + 1.4 * np.log1p(txn_count_1h)
        + 1.5 * (card_age_days < 60)
        + 0.35 * np.log1p(distance).clip(0.0, 8.0)
        # What no feature explains: keeps the problem noisy.
        + rng.normal(0.0, 0.5, size=n_rows)
    )
    is_fraud = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-log_odds))).astype(int)
    # Missing after the label is drawn: a missing distance says nothing about fraud.
    distance[rng.random(n_rows) < MISSING_DISTANCE_SHARE] = np.nan

    ids = np.arange(first_id, first_id + n_rows)
    return pd.DataFrame(
        {
            "transaction_id": [f"txn_{i:08d}" for i in ids],
            "amount": amount,
            "merchant_category": merchant,
            "hour": hour,
            "channel": channel,
            "country_mismatch": country_mismatch,
            "card_age_days": card_age_days,
            "txn_count_1h": txn_count_1h,
            "txn_count_24h": txn_count_24h,
            "distance_from_home_km": distance,
            "avg_amount_30d": avg_amount_30d,
            "is_new_device": is_new_device,
            LABEL_COLUMN: is_fraud,
        },
        columns=list(COLUMNS),
    )


def iter_transaction_chunks(
    n_rows: int, seed: int = 7, chunk_rows: int = CHUNK_ROWS
) -> Iterator[pd.DataFrame]:
    """The rows of `generate_transactions(n_rows, seed)`, at most `chunk_rows` at a time."""
    if n_rows < 0:
        raise ValueError(f"n_rows must be >= 0, got {n_rows}")
    if chunk_rows != CHUNK_ROWS:
        # Chunks are the unit of randomness: other sizes would give other data.
        raise ValueError(f"chunk_rows is fixed at {CHUNK_ROWS}")
    for chunk_number, start in enumerate(range(0, n_rows, chunk_rows)):
        yield _chunk(min(chunk_rows, n_rows - start), seed, chunk_number, start + 1)


def generate_transactions(n_rows: int, seed: int = 7) -> pd.DataFrame:
    """`n_rows` synthetic card transactions with the label `is_fraud` (about 3% positive)."""
    chunks = list(iter_transaction_chunks(n_rows, seed))
    if not chunks:
        return _chunk(0, seed, 0, 1)
    return chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)


def write_transactions(n_rows: int, seed: int, output: Path) -> None:
    """CSV streamed chunk by chunk; Parquet (for a name ending in .parquet) in one piece."""
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix == ".parquet":
        # pandas cannot append to a Parquet file; a million rows is ~150 MB in memory.
        generate_transactions(n_rows, seed).to_parquet(output, index=False)
        return
    with output.open("w", encoding="utf-8", newline="") as handle:
        for number, chunk in enumerate(iter_transaction_chunks(n_rows, seed)):
            chunk.to_csv(handle, index=False, header=number == 0, lineterminator="\n")
        if n_rows == 0:
            handle.write(",".join(COLUMNS) + "\n")


def write_transaction_files(
    n_rows: int, seed: int, files: int, folder: Path, suffix: str = ".csv"
) -> list[Path]:
    """The rows of `generate_transactions(n_rows, seed)` in `files` files of (nearly) equal
    size, `folder/part-00000<suffix>` ..., in order: read in name order they are the rows of
    one file. Each file has its header; CSV is streamed chunk by chunk."""
    if files < 1:
        raise ValueError(f"files must be >= 1, got {files}")
    folder.mkdir(parents=True, exist_ok=True)
    sizes = [n_rows // files + (1 if number < n_rows % files else 0) for number in range(files)]
    paths = [folder / f"part-{number:05d}{suffix}" for number in range(files)]
    chunks = iter_transaction_chunks(n_rows, seed)
    pending = _chunk(0, seed, 0, 1)
    for path, size in zip(paths, sizes, strict=True):
        pieces = []
        while size > 0:
            if pending.empty:
                pending = next(chunks)
            piece, pending = pending.iloc[:size], pending.iloc[size:]
            pieces.append(piece)
            size -= len(piece)
        part = pd.concat(pieces, ignore_index=True) if pieces else _chunk(0, seed, 0, 1)
        if suffix == ".parquet":
            part.to_parquet(path, index=False)
        else:
            part.to_csv(path, index=False, lineterminator="\n")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.sample_data", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rows", type=int, default=50_000, help="number of rows (50000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (7)")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="output file: .csv or .parquet (a folder with --files)",
    )
    parser.add_argument(
        "--files",
        type=int,
        default=1,
        help="split the rows into this many files in the --output folder (1)",
    )
    parser.add_argument(
        "--format", choices=("csv", "parquet"), default="csv", help="with --files (csv)"
    )
    args = parser.parse_args(argv)
    if args.rows < 0:
        parser.error("--rows must be >= 0")
    if args.files < 1:
        parser.error("--files must be >= 1")
    if args.files > 1:
        write_transaction_files(args.rows, args.seed, args.files, args.output, f".{args.format}")
        where = f"{args.files} files in {args.output}"
    else:
        write_transactions(args.rows, args.seed, args.output)
        where = str(args.output)
    print(f"wrote {args.rows} rows (seed {args.seed}) to {where}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
