"""Engine state in SQLite: executions, steps, cache entries, file digests, model registry.

This module is the only one that writes SQL against these tables, the model registry's
included (pipelines.local.registry keeps SageMaker's shapes and rules, and reads and writes
through the methods here). Readers get typed records (`ExecutionRecord`, `StepRecord`,
`CacheEntry`, `ModelPackageGroupRow`, `ModelPackageRow`), never rows.

Several executions (threads or processes) may write at once, so the database runs in WAL
mode with a busy timeout, every thread has its own connection, and every write is one short
`BEGIN IMMEDIATE` transaction (writers queue instead of failing half-way). JSON columns hold
the SageMaker-shaped documents as text; timestamps are UTC epoch seconds.

Every execution records its owner (the engine process, see liveness). Opening the state
marks Failed ("the engine stopped") each execution still Executing whose owner is gone, so
no reader ever sees a dead run as running. A home this process cannot write is opened
read-only (SQLite's read-only, then immutable, mode): reads work, writes raise HomeError,
and dead runs are shown Failed without being written.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pipelines.local import home as local_home
from pipelines.local.events import EventLog
from pipelines.local.liveness import GONE, Owner
from pipelines.local.records import (
    MODEL_CONTENT_DIGEST,
    CacheEntry,
    ExecutionRecord,
    ExecutionStatus,
    ModelPackageGroupRow,
    ModelPackageRow,
    StepRecord,
    StepStatus,
)

SCHEMA_VERSION = 3
ENGINE_STOPPED = "the engine stopped"
_RUNNING_STEP = (StepStatus.STARTING, StepStatus.EXECUTING)
# Spellings an older engine may have stored, as this one reads them.
_LEGACY_STEP_STATUS = {"Pending": StepStatus.NOT_STARTED}
BUSY_TIMEOUT_SECONDS = 60.0
_SELECT_PACKAGE = "SELECT * FROM model_packages"
# Where a registered package keeps its model's content digest (registration is idempotent by it).
_CONTENT_DIGEST_PATH = f"$.CustomerMetadataProperties.{MODEL_CONTENT_DIGEST}"

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
    options_json     TEXT NOT NULL DEFAULT '{}',
    owner_json       TEXT
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
    # 3: executions record the engine process that runs them (liveness.Owner).
    2: ("ALTER TABLE executions ADD COLUMN owner_json TEXT",),
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
    """Thread-safe access to `state.db`; cheap to create (connections open lazily).

    `read_only=None` decides from the file system: a home this process cannot write is
    opened read-only."""

    def __init__(self, path: Path | str, *, read_only: bool | None = None) -> None:
        self.path = Path(path)
        home = self.path.parent
        self.read_only = (
            local_home.is_read_only(home, self.path) if read_only is None else read_only
        )
        if not self.read_only:
            local_home.create(home)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # Read-only: executions whose engine is gone, shown Failed without being written.
        self._orphans: dict[str, tuple[str, float]] = {}
        try:
            self._migrate()
            self._reap_orphans()
        except sqlite3.OperationalError as exc:
            raise local_home.HomeError(
                f"the local state database {self.path} cannot be used: {exc}"
            ) from None

    # -- connections and transactions ---------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect_read_only() if self.read_only else self._connect()
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_SECONDS,
            isolation_level=None,  # explicit BEGIN/COMMIT only
            check_same_thread=False,
        )
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        _enable_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _connect_read_only(self) -> sqlite3.Connection:
        """mode=ro where SQLite can share the WAL index; immutable (no locking at all) where
        it cannot create one in a read-only folder. No database yet: an empty one in memory."""
        if not self.path.exists():
            conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            return conn
        location = "file:" + quote(str(self.path.resolve()))
        for mode in ("mode=ro", "immutable=1"):
            conn = sqlite3.connect(
                f"{location}?{mode}",
                uri=True,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,
            )
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return conn
            except sqlite3.OperationalError:
                conn.close()
        raise local_home.HomeError(f"the local state database {self.path} cannot be read")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction; the write lock is taken up front (IMMEDIATE)."""
        if self.read_only:
            raise local_home.read_only(self.path.parent, f"this command writes to {self.path}")
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
        if self.read_only:
            # Nothing can be upgraded; an older schema reads fine (newer columns are absent).
            version = self.connection().execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StateError(
                    f"{self.path} has schema version {version}; this engine knows up to "
                    f"{SCHEMA_VERSION}. Use a newer checkout."
                )
            return
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

    # -- executions whose engine is gone ------------------------------------------------

    def _reap_orphans(self) -> None:
        """Mark Failed every execution still Executing whose owner process is gone."""
        rows = (
            self.connection()
            .execute("SELECT * FROM executions WHERE status = ?", (ExecutionStatus.EXECUTING,))
            .fetchall()
        )
        for row in rows:
            record = _execution(row)
            owner = Owner.from_record(record.owner)
            if owner is None or owner.status() != GONE:
                continue  # running, or not ours to judge (another host or container)
            reason = (
                f"{ENGINE_STOPPED}: {owner.describe()}, which ran this execution, is gone "
                "(killed or crashed); rerun to resume from the cache"
            )
            now = time.time()
            if self.read_only:
                self._orphans[record.execution_id] = (reason, now)
            elif self._fail_orphan(record.execution_id, reason, now):
                _publish_failure(self.path.parent / "events.jsonl", record, reason, now)

    def _fail_orphan(self, execution_id: str, reason: str, now: float) -> bool:
        stopped = _stopped_step(now)
        with self.transaction() as conn:
            # The status test makes this safe when several processes reap at once.
            if not conn.execute(
                "UPDATE executions SET status = ?, end_time = ?, failure_reason = ? "
                "WHERE execution_id = ? AND status = ?",
                (ExecutionStatus.FAILED, now, reason, execution_id, ExecutionStatus.EXECUTING),
            ).rowcount:
                return False
            conn.execute(
                "UPDATE steps SET status = ?, end_time = COALESCE(end_time, ?), "
                "failure_reason = ? WHERE execution_id = ? AND status IN (?, ?)",
                (stopped["status"], now, stopped["failure_reason"], execution_id, *_RUNNING_STEP),
            )
        return True

    def _shown(self, row: sqlite3.Row) -> ExecutionRecord:
        record = _execution(row)
        orphan = self._orphans.get(record.execution_id)
        if orphan is not None and record.status == ExecutionStatus.EXECUTING:
            record.status = ExecutionStatus.FAILED
            record.failure_reason, record.end_time = orphan
        return record

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
        if self.read_only:
            return  # a memo: computing the digest again next time is all it costs
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO file_digests VALUES (?, ?, ?, ?, ?)",
                (path, size, mtime_ns, inode, digest),
            )

    # -- executions ---------------------------------------------------------------------

    def create_execution(self, record: ExecutionRecord) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO executions (execution_id, execution_arn, pipeline_name, "
                "pipeline_arn, status, parameters_json, definition_hash, start_time, "
                "options_json, owner_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.execution_id,
                    record.execution_arn,
                    record.pipeline_name,
                    record.pipeline_arn,
                    record.status,
                    _dumps(record.parameters),
                    record.definition_hash,
                    record.start_time,
                    _dumps(record.options),
                    _dumps(record.owner or Owner.current().as_record()),
                ),
            )

    def update_execution(self, execution_id: str, **fields: Any) -> None:
        _update(self, "executions", {"execution_id": execution_id}, fields)

    def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        row = (
            self.connection()
            .execute("SELECT * FROM executions WHERE execution_id = ?", (execution_id,))
            .fetchone()
        )
        return self._shown(row) if row else None

    def find_execution(self, id_or_prefix: str) -> ExecutionRecord:
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
        return self._shown(rows[0])

    def list_executions(self, limit: int | None = None) -> list[ExecutionRecord]:
        query = "SELECT * FROM executions ORDER BY start_time DESC"
        params: tuple = ()
        if limit:
            query += " LIMIT ?"
            params = (limit,)
        rows = self.connection().execute(query, params).fetchall()
        return [self._shown(r) for r in rows]

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

    def save_step(self, execution_id: str, record: StepRecord) -> None:
        """Write all of a step's record (the engine does at every change)."""
        self.upsert_step(
            execution_id,
            record.name,
            step_type=record.type,
            status=record.status,
            attempts=record.attempts,
            start_time=record.start,
            end_time=record.end,
            failure_reason=record.failure_reason,
            cache_source_arn=record.cache_source_arn,
            job_name=record.job_name,
            job_dir=record.job_dir,
            arguments=record.arguments,
            properties=record.properties,
            metadata=record.metadata,
            logs=record.logs,
            position=record.position,
        )

    def get_step(self, execution_id: str, step_name: str) -> StepRecord | None:
        row = (
            self.connection()
            .execute(
                "SELECT * FROM steps WHERE execution_id = ? AND step_name = ?",
                (execution_id, step_name),
            )
            .fetchone()
        )
        return self._shown_step(execution_id, row) if row else None

    def _shown_step(self, execution_id: str, row: sqlite3.Row) -> StepRecord:
        step = _step(row)
        orphan = self._orphans.get(execution_id)
        if orphan is not None and step.status in _RUNNING_STEP:
            stopped = _stopped_step(orphan[1])
            step.status, step.end, step.failure_reason = (
                stopped["status"],
                stopped["end_time"],
                stopped["failure_reason"],
            )
        return step

    def list_steps(self, execution_id: str) -> list[StepRecord]:
        rows = (
            self.connection()
            .execute(
                "SELECT * FROM steps WHERE execution_id = ? ORDER BY position, start_time",
                (execution_id,),
            )
            .fetchall()
        )
        return [self._shown_step(execution_id, r) for r in rows]

    # -- cache --------------------------------------------------------------------------

    def put_cache_entry(self, entry: CacheEntry) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO cache_entries (cache_key, pipeline_name, step_name, "
                "execution_id, execution_arn, created_time, properties_json, outputs_json, "
                "inputs_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.cache_key,
                    entry.pipeline_name,
                    entry.step_name,
                    entry.execution_id,
                    entry.execution_arn,
                    entry.created_time,
                    _dumps(entry.properties),
                    _dumps(entry.outputs),
                    _dumps(entry.inputs),
                ),
            )

    def cache_entries(self, cache_key: str, not_before: float) -> list[CacheEntry]:
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
        return [_cache_entry(r) for r in rows]

    # -- model registry (pipelines.local.registry keeps SageMaker's shapes) -------------

    def insert_model_package_group(self, group: ModelPackageGroupRow) -> bool:
        """Store the group unless one of that name exists (then it is left as it was);
        True if stored."""
        with self.transaction() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO model_package_groups (group_name, group_arn, description, "
                "creation_time) VALUES (?, ?, ?, ?)",
                (group.group_name, group.group_arn, group.description, group.creation_time),
            )
            return cursor.rowcount > 0

    def model_package_group(self, group: str) -> ModelPackageGroupRow | None:
        row = (
            self.connection()
            .execute("SELECT * FROM model_package_groups WHERE group_name = ?", (group,))
            .fetchone()
        )
        return _model_package_group(row) if row else None

    def model_package_groups(self) -> list[ModelPackageGroupRow]:
        """Every group, by name."""
        rows = (
            self.connection()
            .execute("SELECT * FROM model_package_groups ORDER BY group_name")
            .fetchall()
        )
        return [_model_package_group(r) for r in rows]

    def add_model_package(
        self,
        group: str,
        make: Callable[[int], ModelPackageRow],
        *,
        content_digest: str | None = None,
    ) -> tuple[ModelPackageRow, bool]:
        """(The lowest version of `group` whose package holds `content_digest`, False) when
        there is one; else (make(the next version number), True), stored.

        One write transaction: the lookup, the allocation and the insert all happen under the
        write lock, so executions registering at the same moment get one version between them
        for one model, and distinct, gap-free versions for different models."""
        with self.transaction() as conn:
            if content_digest:
                held = conn.execute(
                    f"{_SELECT_PACKAGE} WHERE group_name = ? AND json_extract(package_json, ?) = ? "
                    "ORDER BY version LIMIT 1",
                    (group, _CONTENT_DIGEST_PATH, content_digest),
                ).fetchone()
                if held:
                    return _model_package(held), False
            version = conn.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM model_packages WHERE group_name = ?",
                (group,),
            ).fetchone()[0]
            package = make(version)
            if (package.group_name, package.version) != (group, version):
                raise StateError(
                    f"asked for version {version} of {group!r}, given "
                    f"{package.version} of {package.group_name!r}"
                )
            conn.execute(
                "INSERT INTO model_packages (group_name, version, package_arn, status, "
                "approval_status, creation_time, last_modified_time, model_data_url, "
                "approval_description, source_execution_arn, package_json, metrics_json) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    package.group_name,
                    package.version,
                    package.package_arn,
                    package.status,
                    package.approval_status,
                    package.creation_time,
                    package.last_modified_time,
                    package.model_data_url,
                    package.approval_description,
                    package.source_execution_arn,
                    json.dumps(package.package, sort_keys=True, default=str),
                    None
                    if package.evaluation_metrics is None
                    else json.dumps(package.evaluation_metrics),
                ),
            )
        return package, True

    def model_package(self, group: str, version: int) -> ModelPackageRow | None:
        row = (
            self.connection()
            .execute(f"{_SELECT_PACKAGE} WHERE group_name = ? AND version = ?", (group, version))
            .fetchone()
        )
        return _model_package(row) if row else None

    def model_package_by_arn(self, package_arn: str) -> ModelPackageRow | None:
        row = (
            self.connection()
            .execute(f"{_SELECT_PACKAGE} WHERE package_arn = ?", (package_arn,))
            .fetchone()
        )
        return _model_package(row) if row else None

    def model_packages_numbered(self, version: int) -> list[ModelPackageRow]:
        """Version `version` of every group that has one, by group name."""
        rows = (
            self.connection()
            .execute(f"{_SELECT_PACKAGE} WHERE version = ? ORDER BY group_name", (version,))
            .fetchall()
        )
        return [_model_package(r) for r in rows]

    def model_packages(
        self, group: str | None = None, approval_status: str | None = None
    ) -> list[ModelPackageRow]:
        """Newest first, optionally only `group`'s and only those with `approval_status`."""
        clauses, params = [], []
        if group:
            clauses.append("group_name = ?")
            params.append(group)
        if approval_status:
            clauses.append("approval_status = ?")
            params.append(approval_status)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = (
            self.connection()
            .execute(f"{_SELECT_PACKAGE}{where} ORDER BY creation_time DESC, version DESC", params)
            .fetchall()
        )
        return [_model_package(r) for r in rows]

    def latest_model_package(
        self, group: str, approval_status: str | None = None
    ) -> ModelPackageRow | None:
        """The highest version of `group` (with `approval_status`, if given)."""
        query, params = f"{_SELECT_PACKAGE} WHERE group_name = ?", [group]
        if approval_status:
            query += " AND approval_status = ?"
            params.append(approval_status)
        row = self.connection().execute(f"{query} ORDER BY version DESC LIMIT 1", params).fetchone()
        return _model_package(row) if row else None

    def update_model_package_approval(
        self, group: str, version: int, status: str, description: str | None, now: float
    ) -> None:
        """UpdateModelPackage's approval: the status, its description (None clears it) and
        the last-modified time."""
        with self.transaction() as conn:
            cursor = conn.execute(
                "UPDATE model_packages SET approval_status = ?, approval_description = ?, "
                "last_modified_time = ? WHERE group_name = ? AND version = ?",
                (status, description, now, group, version),
            )
            if cursor.rowcount == 0:
                raise StateError(f"no model package version {version} in group {group!r}")


def _stopped_step(now: float) -> dict[str, Any]:
    return {
        "status": StepStatus.FAILED,
        "end_time": now,
        "failure_reason": f"{ENGINE_STOPPED} while this step ran",
    }


def _publish_failure(events: Path, record: ExecutionRecord, reason: str, now: float) -> None:
    """The execution's Failed event, as the engine would have sent it (notifications)."""
    region = record.execution_arn.split(":")[3]
    EventLog(events, region).execution_status_change(
        pipeline_arn=record.pipeline_arn,
        execution_arn=record.execution_arn,
        current=ExecutionStatus.FAILED,
        previous=ExecutionStatus.EXECUTING,
        start_time=record.start_time,
        end_time=now,
        when=now,
        failure_reason=reason,
    )


_JSON_FIELDS = {
    "parameters",
    "arguments",
    "properties",
    "metadata",
    "logs",
    "options",
    "outputs",
    "inputs",
    "owner",
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


def _cache_entry(row: sqlite3.Row) -> CacheEntry:
    record = _decode(row)
    return CacheEntry(
        cache_key=record["cache_key"],
        pipeline_name=record["pipeline_name"],
        step_name=record["step_name"],
        execution_id=record["execution_id"],
        execution_arn=record["execution_arn"],
        created_time=record["created_time"],
        properties=record["properties"] or {},
        outputs=record["outputs"] or [],
        inputs=record.get("inputs") or {},
    )


def _execution(row: sqlite3.Row) -> ExecutionRecord:
    record = _decode(row)
    return ExecutionRecord(
        execution_id=record["execution_id"],
        execution_arn=record["execution_arn"],
        pipeline_name=record["pipeline_name"],
        pipeline_arn=record["pipeline_arn"],
        status=ExecutionStatus(record["status"]),
        parameters=record["parameters"] or {},
        definition_hash=record["definition_hash"],
        start_time=record["start_time"],
        end_time=record["end_time"],
        failure_reason=record["failure_reason"],
        options=record["options"] or {},
        owner=record.get("owner"),  # absent before schema version 3 (read-only homes)
    )


def _step(row: sqlite3.Row) -> StepRecord:
    record = _decode(row)
    source = record["cache_source_arn"]
    return StepRecord(
        name=record["step_name"],
        type=record["step_type"],
        position=record["position"],
        status=_LEGACY_STEP_STATUS.get(record["status"]) or StepStatus(record["status"]),
        attempts=record["attempts"] or 0,
        start=record["start_time"],
        end=record["end_time"],
        failure_reason=record["failure_reason"],
        cache_source_arn=source,
        cache_source_id=source.rsplit("/", 1)[-1] if source else None,
        properties=record["properties"],
        metadata=record["metadata"] or {},
        arguments=record["arguments"],
        job_name=record["job_name"],
        job_dir=record["job_dir"],
        logs=record["logs"] or [],
    )


def _model_package_group(row: sqlite3.Row) -> ModelPackageGroupRow:
    return ModelPackageGroupRow(
        group_name=row["group_name"],
        group_arn=row["group_arn"],
        description=row["description"],
        creation_time=row["creation_time"],
    )


def _model_package(row: sqlite3.Row) -> ModelPackageRow:
    metrics = row["metrics_json"]
    return ModelPackageRow(
        group_name=row["group_name"],
        version=row["version"],
        package_arn=row["package_arn"],
        status=row["status"],
        approval_status=row["approval_status"],
        creation_time=row["creation_time"],
        last_modified_time=row["last_modified_time"],
        package=json.loads(row["package_json"]),
        model_data_url=row["model_data_url"],
        approval_description=row["approval_description"],
        source_execution_arn=row["source_execution_arn"],
        evaluation_metrics=json.loads(metrics) if metrics else None,
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
