"""Engine state in SQLite: executions, steps, cache entries, file digests, model registry.

Several executions (threads or processes) may write at once, so the database runs in WAL
mode with a busy timeout, every thread has its own connection, and every write is one short
`BEGIN IMMEDIATE` transaction (writers queue instead of failing half-way). JSON columns hold
the SageMaker-shaped documents as text; timestamps are UTC epoch seconds.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 2
BUSY_TIMEOUT_SECONDS = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    execution_id     TEXT PRIMARY KEY,
    execution_arn    TEXT NOT NULL UNIQUE,
    pipeline_name    TEXT NOT NULL,
    pipeline_arn     TEXT NOT NULL,
    status           TEXT NOT NULL,
    parameters_json  TEXT NOT NULL,
    definition_hash  TEXT NOT NULL,
    start_time       REAL NOT NULL,
    end_time         REAL,
    failure_reason   TEXT,
    options_json     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS executions_by_start ON executions (start_time);

CREATE TABLE IF NOT EXISTS steps (
    execution_id      TEXT NOT NULL REFERENCES executions (execution_id),
    step_name         TEXT NOT NULL,
    step_type         TEXT NOT NULL,
    status            TEXT NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    start_time        REAL,
    end_time          REAL,
    failure_reason    TEXT,
    cache_source_arn  TEXT,
    job_name          TEXT,
    job_dir           TEXT,
    arguments_json    TEXT,
    properties_json   TEXT,
    metadata_json     TEXT,
    logs_json         TEXT NOT NULL DEFAULT '[]',
    position          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (execution_id, step_name)
);

CREATE TABLE IF NOT EXISTS cache_entries (
    cache_key        TEXT NOT NULL,
    pipeline_name    TEXT NOT NULL,
    step_name        TEXT NOT NULL,
    execution_id     TEXT NOT NULL,
    execution_arn    TEXT NOT NULL,
    created_time     REAL NOT NULL,
    properties_json  TEXT NOT NULL,
    outputs_json     TEXT NOT NULL,
    inputs_json      TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (cache_key, execution_id)
);
CREATE INDEX IF NOT EXISTS cache_by_key ON cache_entries (cache_key, created_time);

CREATE TABLE IF NOT EXISTS file_digests (
    path      TEXT PRIMARY KEY,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    inode     INTEGER NOT NULL,
    digest    TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS model_package_groups (
    group_name      TEXT PRIMARY KEY,
    group_arn       TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    creation_time   REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS model_packages (
    group_name          TEXT NOT NULL REFERENCES model_package_groups (group_name),
    version             INTEGER NOT NULL,
    package_arn         TEXT NOT NULL UNIQUE,
    status              TEXT NOT NULL,
    approval_status     TEXT NOT NULL,
    creation_time       REAL NOT NULL,
    last_modified_time  REAL NOT NULL,
    model_data_url      TEXT,
    approval_description TEXT,
    source_execution_arn TEXT,
    package_json        TEXT NOT NULL,
    metrics_json        TEXT,
    PRIMARY KEY (group_name, version)
);
"""


# Steps from one schema version to the next, for databases an older engine created.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    # 2: cache entries record the content fingerprints of the inputs their run read.
    1: ("ALTER TABLE cache_entries ADD COLUMN inputs_json TEXT NOT NULL DEFAULT '{}'",),
}


class StateError(RuntimeError):
    """The state database cannot be used (wrong schema version, unknown record)."""


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL once; it stays WAL for every later connection.

    Switching needs an exclusive lock and SQLite answers "database is locked" at once, without
    its busy handler, while another process holds the file (two processes creating the
    database together): wait for the other switch instead of failing.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        try:
            conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class State:
    """Thread-safe access to `state.db`; cheap to create (connections open lazily)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._migrate()

    # -- connections and transactions ---------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,  # explicit BEGIN/COMMIT only
                check_same_thread=False,
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            _enable_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction; the write lock is taken up front (IMMEDIATE)."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def release(self) -> None:
        """Close this thread's connection (worker threads call it before they end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            with self._lock:
                if conn in self._connections:
                    self._connections.remove(conn)
            conn.close()

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def _migrate(self) -> None:
        with self.transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StateError(
                    f"{self.path} has schema version {version}; this engine knows up to "
                    f"{SCHEMA_VERSION}. Use a newer checkout or move the file away."
                )
            if version == 0:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            else:
                for step in range(version, SCHEMA_VERSION):
                    for statement in _MIGRATIONS[step]:
                        conn.execute(statement)
            if version < SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # -- file digests (storage.DigestMemo) ----------------------------------------------

    def get_digest(self, path: str, size: int, mtime_ns: int, inode: int) -> str | None:
        row = (
            self.connection()
            .execute(
                "SELECT digest FROM file_digests WHERE path = ? AND size = ? AND mtime_ns = ? "
                "AND inode = ?",
                (path, size, mtime_ns, inode),
            )
            .fetchone()
        )
        return row[0] if row else None

    def put_digest(self, path: str, size: int, mtime_ns: int, inode: int, digest: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO file_digests VALUES (?, ?, ?, ?, ?)",
                (path, size, mtime_ns, inode, digest),
            )

    # -- executions ---------------------------------------------------------------------

    def create_execution(self, record: Mapping[str, Any]) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO executions (execution_id, execution_arn, pipeline_name, "
                "pipeline_arn, status, parameters_json, definition_hash, start_time, "
                "options_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record["execution_id"],
                    record["execution_arn"],
                    record["pipeline_name"],
                    record["pipeline_arn"],
                    record["status"],
                    _dumps(record["parameters"]),
                    record["definition_hash"],
                    record["start_time"],
                    _dumps(record.get("options", {})),
                ),
            )

    def update_execution(self, execution_id: str, **fields: Any) -> None:
        _update(self, "executions", {"execution_id": execution_id}, fields)

    def get_execution(self, execution_id: str) -> dict[str, Any] | None:
        row = (
            self.connection()
            .execute("SELECT * FROM executions WHERE execution_id = ?", (execution_id,))
            .fetchone()
        )
        return _decode(row) if row else None

    def find_execution(self, id_or_prefix: str) -> dict[str, Any]:
        """An execution by id, ARN or unique id prefix; LookupError names the problem."""
        text = id_or_prefix.strip()
        if text.startswith("arn:"):
            text = text.rsplit("/", 1)[-1]
        exact = self.get_execution(text)
        if exact:
            return exact
        rows = (
            self.connection()
            .execute(
                "SELECT * FROM executions WHERE execution_id LIKE ? ESCAPE '\\' "
                "ORDER BY start_time DESC LIMIT 11",
                (_like_prefix(text),),
            )
            .fetchall()
        )
        if not rows:
            raise LookupError(f"no local execution matches {id_or_prefix!r}")
        if len(rows) > 1:
            ids = ", ".join(r["execution_id"] for r in rows[:10])
            raise LookupError(f"{id_or_prefix!r} matches several executions: {ids}")
        return _decode(rows[0])

    def list_executions(self, limit: int | None = None) -> list[dict[str, Any]]:
        query = "SELECT * FROM executions ORDER BY start_time DESC"
        params: tuple = ()
        if limit:
            query += " LIMIT ?"
            params = (limit,)
        return [_decode(r) for r in self.connection().execute(query, params).fetchall()]

    # -- steps --------------------------------------------------------------------------

    def upsert_step(self, execution_id: str, step_name: str, **fields: Any) -> None:
        values = {_column(k): _encode(k, v) for k, v in fields.items()}
        # UPDATE first: an upsert's INSERT half would demand every NOT NULL column even
        # when the row exists and only the status changes.
        with self.transaction() as conn:
            updated = 0
            if values:
                assignments = ", ".join(f"{c} = ?" for c in values)
                updated = conn.execute(
                    f"UPDATE steps SET {assignments} WHERE execution_id = ? AND step_name = ?",
                    (*values.values(), execution_id, step_name),
                ).rowcount
            if not updated:
                columns = {"execution_id": execution_id, "step_name": step_name, **values}
                names = ", ".join(columns)
                marks = ", ".join("?" for _ in columns)
                conn.execute(
                    f"INSERT INTO steps ({names}) VALUES ({marks})", tuple(columns.values())
                )

    def list_steps(self, execution_id: str) -> list[dict[str, Any]]:
        rows = (
            self.connection()
            .execute(
                "SELECT * FROM steps WHERE execution_id = ? ORDER BY position, start_time",
                (execution_id,),
            )
            .fetchall()
        )
        return [_decode(r) for r in rows]

    # -- cache --------------------------------------------------------------------------

    def put_cache_entry(self, entry: Mapping[str, Any]) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO cache_entries (cache_key, pipeline_name, step_name, "
                "execution_id, execution_arn, created_time, properties_json, outputs_json, "
                "inputs_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry["cache_key"],
                    entry["pipeline_name"],
                    entry["step_name"],
                    entry["execution_id"],
                    entry["execution_arn"],
                    entry["created_time"],
                    _dumps(entry["properties"]),
                    _dumps(entry["outputs"]),
                    _dumps(entry.get("inputs", {})),
                ),
            )

    def cache_entries(self, cache_key: str, not_before: float) -> list[dict[str, Any]]:
        """Entries for a key created at or after `not_before`, newest first."""
        rows = (
            self.connection()
            .execute(
                "SELECT * FROM cache_entries WHERE cache_key = ? AND created_time >= ? "
                "ORDER BY created_time DESC",
                (cache_key, not_before),
            )
            .fetchall()
        )
        return [_decode(r) for r in rows]


_JSON_FIELDS = {
    "parameters",
    "arguments",
    "properties",
    "metadata",
    "logs",
    "options",
    "outputs",
    "inputs",
}


def _column(field: str) -> str:
    return f"{field}_json" if field in _JSON_FIELDS else field


def _encode(field: str, value: Any) -> Any:
    return _dumps(value) if field in _JSON_FIELDS and value is not None else value


def _update(state: State, table: str, key: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
    if not fields:
        return
    assignments = ", ".join(f"{_column(k)} = ?" for k in fields)
    where = " AND ".join(f"{k} = ?" for k in key)
    values = [_encode(k, v) for k, v in fields.items()] + list(key.values())
    with state.transaction() as conn:
        cursor = conn.execute(f"UPDATE {table} SET {assignments} WHERE {where}", values)
        if cursor.rowcount == 0:
            raise StateError(f"no {table} row with {dict(key)}")


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    record = {}
    for name in row.keys():  # noqa: SIM118 - sqlite3.Row has keys() but is not a mapping
        value = row[name]
        if name.endswith("_json"):
            record[name[: -len("_json")]] = json.loads(value) if value is not None else None
        else:
            record[name] = value
    return record


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
