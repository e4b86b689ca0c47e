"""Where jobs live: one SQLite database (WAL) and one folder per job beside it.

A job's upload is written whole before its row exists, and its results are written whole,
in a folder renamed into place, before its row says completed: a server killed at any
moment (kill -9 included) leaves each job queued, running, or finished with all of its
results, never half of them. `JobStore.recover` at start puts a running job back in the
queue (or marks it completed, if its results made it to disk first).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import Fix, OptionsError

DATABASE = "jobs.sqlite3"
UPLOAD = "upload"
RESULTS = "results"
STATES = ("queued", "running", "completed", "failed", "cancelled")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, state TEXT NOT NULL, filename TEXT NOT NULL,
    form TEXT NOT NULL, created REAL NOT NULL, finished REAL, seconds REAL NOT NULL DEFAULT 0,
    total REAL, error TEXT, attempts INTEGER NOT NULL DEFAULT 0
)"""

OTHER_FOLDER = Fix(
    "give this server's JobStore its own folder, or create the app without one (jobs=None)",
    "give this server its own with --jobs-dir DIR, or serve without jobs: --no-jobs",
    "start the server with its own --jobs-dir DIR, or with --no-jobs",
)


@dataclass(frozen=True)
class JobRecord:
    """One job as its row holds it."""

    id: str
    owner: str  # a digest of the API key that submitted it ("" on a server without keys)
    state: str
    filename: str
    form: dict[str, Any]
    created: float
    finished: float | None
    seconds: float  # of audio read so far
    total: float | None  # of audio in all, when the container says
    error: dict[str, Any] | None
    attempts: int

    def to_dict(self) -> dict[str, Any]:
        """The job as GET /v1/jobs/{id} answers it."""
        fraction = min(1.0, self.seconds / self.total) if self.total else None
        if self.state == "completed":
            fraction = 1.0
        return {
            "id": self.id,
            "object": "transcription.job",
            "status": self.state,
            "filename": self.filename,
            "created_at": int(self.created),
            "finished_at": None if self.finished is None else int(self.finished),
            "progress": {"audio_seconds": round(self.seconds, 2), "fraction": fraction},
            "attempts": self.attempts,
            "error": self.error,
        }


class JobStore:
    """The jobs of one server, in `folder`; finished ones are forgotten `ttl_s` after."""

    def __init__(self, folder: Path, ttl_s: float) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._held = _hold(folder)
            self.db = sqlite3.connect(folder / DATABASE, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as err:
            problem = f"the jobs folder {folder} cannot be used ({err})"
            raise OptionsError(problem, OTHER_FOLDER) from err
        self.folder, self.ttl_s, self._lock = folder, ttl_s, threading.Lock()
        self.recover()

    def close(self) -> None:
        """Let the folder go (another store may open it then)."""
        self.db.close()
        self._held.close()

    @contextmanager
    def _rows(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self.db:  # one writer at a time; each block one transaction
            yield self.db

    def recover(self) -> None:
        """After a stop, however abrupt: a running job whose results are whole on disk is
        completed, any other runs again; folders no row names are removed."""
        with self._rows() as db:
            for (job_id,) in db.execute("SELECT id FROM jobs WHERE state = 'running'").fetchall():
                done = (self.folder / job_id / RESULTS).is_dir()
                state = "completed" if done else "queued"
                db.execute(
                    "UPDATE jobs SET state = ?, finished = ? WHERE id = ?",
                    (state, time.time() if done else None, job_id),
                )
            known = {row[0] for row in db.execute("SELECT id FROM jobs")}
        for path in self.folder.iterdir():
            if path.is_dir() and path.name not in known:
                shutil.rmtree(path, ignore_errors=True)

    def submit(self, owner: str, filename: str, form: dict[str, Any], upload: BinaryIO) -> str:
        """A new queued job holding a copy of `upload`; its id."""
        job_id = f"job_{secrets.token_hex(12)}"
        folder = self.folder / job_id
        folder.mkdir()
        partial = folder / f"{UPLOAD}.part"
        with partial.open("wb") as out:
            shutil.copyfileobj(upload, out, 1 << 20)
            out.flush()
            _sync(out)
        partial.replace(folder / UPLOAD)
        with self._rows() as db:
            db.execute(
                "INSERT INTO jobs (id, owner, state, filename, form, created) "
                "VALUES (?, ?, 'queued', ?, ?, ?)",
                (job_id, owner, filename, json.dumps(form), time.time()),
            )
        return job_id

    def get(self, job_id: str, owner: str | None = None) -> JobRecord | None:
        """The job, if it exists (and belongs to `owner`, when one is given)."""
        self.expire()
        with self._rows() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        record = _record(row) if row else None
        if record is None or (owner is not None and record.owner != owner):
            return None
        return record

    def listed(self, owner: str) -> list[JobRecord]:
        self.expire()
        with self._rows() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE owner = ? ORDER BY created", (owner,)
            ).fetchall()
        return [_record(row) for row in rows]

    def claim(self) -> JobRecord | None:
        """The oldest queued job, now running (its attempts counted)."""
        with self._rows() as db:
            row = db.execute(
                "SELECT id FROM jobs WHERE state = 'queued' ORDER BY created LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, seconds = 0 "
                "WHERE id = ?",
                (row[0],),
            )
        return self.get(row[0])

    def progress(self, job_id: str, seconds: float, total: float | None) -> bool:
        """Record how far a running job has read; False if it is no longer wanted."""
        with self._rows() as db:
            changed = db.execute(
                "UPDATE jobs SET seconds = ?, total = ? WHERE id = ? AND state = 'running'",
                (seconds, total, job_id),
            ).rowcount
        return changed == 1

    def complete(self, job_id: str, results: dict[str, bytes]) -> None:
        """Write every result, whole, then mark the job completed."""
        folder = self.folder / job_id
        if not folder.is_dir():  # deleted while it ran
            return
        partial = folder / f"{RESULTS}.part"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        for name, body in results.items():
            with (partial / name).open("wb") as out:
                out.write(body)
                _sync(out)
        partial.replace(folder / RESULTS)
        self._finish(job_id, "completed", None)

    def fail(self, job_id: str, error: dict[str, Any]) -> None:
        self._finish(job_id, "failed", error)

    def _finish(self, job_id: str, state: str, error: dict[str, Any] | None) -> None:
        with self._rows() as db:
            db.execute(
                "UPDATE jobs SET state = ?, finished = ?, error = ? "
                "WHERE id = ? AND state = 'running'",
                (state, time.time(), None if error is None else json.dumps(error), job_id),
            )

    def result(self, job_id: str, name: str) -> bytes:
        return (self.folder / job_id / RESULTS / name).read_bytes()

    def delete(self, job_id: str) -> None:
        """Forget the job and its files (a running one stops at its next progress report)."""
        with self._rows() as db:
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        shutil.rmtree(self.folder / job_id, ignore_errors=True)

    def upload(self, job_id: str) -> Path:
        return self.folder / job_id / UPLOAD

    def expire(self) -> None:
        """Forget jobs that finished more than ttl_s ago."""
        with self._rows() as db:
            old = db.execute(
                "SELECT id FROM jobs WHERE finished IS NOT NULL AND finished < ?",
                (time.time() - self.ttl_s,),
            ).fetchall()
        for (job_id,) in old:
            self.delete(job_id)


_COLUMNS = "id, owner, state, filename, form, created, finished, seconds, total, error, attempts"


def _record(row: tuple[Any, ...]) -> JobRecord:
    fields = dict(zip(_COLUMNS.split(", "), row, strict=True))
    fields["form"] = json.loads(fields["form"])
    fields["error"] = json.loads(fields["error"]) if fields["error"] else None
    return JobRecord(**fields)


def _hold(folder: Path) -> BinaryIO:
    """The folder's lock, held while this store lives: a second server on the same folder
    would run its jobs twice (and take the first one's running jobs for abandoned)."""
    held = (folder / "lock").open("ab")
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        held.close()
        raise OptionsError(
            f"the jobs folder {folder} is in use by another wav2text server", OTHER_FOLDER
        ) from None
    return held


def _sync(file: BinaryIO) -> None:
    file.flush()
    os.fsync(file.fileno())
