"""Jobs: long recordings over HTTP without a request held open for their length.

`POST /v1/jobs` takes the transcription form (the same fields as
/v1/audio/transcriptions) and answers 202 with the job at once; one runner thread
transcribes jobs in order of arrival, on the same model replicas and queue as requests;
`GET /v1/jobs/{id}` tells its status and progress, `GET /v1/jobs/{id}/result?format=srt`
gives its result in any response format, `DELETE /v1/jobs/{id}` cancels and forgets it,
`GET /v1/jobs` lists the caller's jobs. State survives restarts (serving.jobstore). With API
keys a job belongs to the key that submitted it: to any other key it does not exist (404).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import replace
from typing import Annotated, Any, BinaryIO, cast

from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from ..options import TranscribeOptions
from ..pipeline import Transcriber
from ..results import Transcript
from ..writers import RESPONSE_WRITERS, VerboseJsonWriter
from .forms import FormError, FormFields, NamedUpload, form_fields, form_options
from .guards import request_key
from .jobstore import JobRecord, JobStore
from .metrics import Metrics
from .replies import error_reply, failure_parts

Turn = Callable[[], AbstractContextManager[Transcriber]]
PROGRESS_EVERY_S = 1.0  # how often a running job's progress is written down
IDLE_POLL_S = 1.0  # how often an idle runner looks for work it was not woken for


class JobCancelled(Exception):
    """The job was deleted while it ran."""


class JobRunner:
    """One thread that runs queued jobs, oldest first, one at a time."""

    def __init__(
        self, store: JobStore, turn: Turn, defaults: TranscribeOptions, metrics: Metrics
    ) -> None:
        self.store, self.turn, self.metrics = store, turn, metrics
        self.defaults = replace(defaults, max_duration_s=None, time_limit_s=None)
        self.wake = threading.Event()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="wav2text-jobs", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.wake.set()

    def _loop(self) -> None:
        while not self.stopped.is_set():
            job = self.store.claim()
            if job is None:
                self.store.expire()
                self.wake.wait(IDLE_POLL_S)
                self.wake.clear()
                continue
            try:
                self.run(job)
            except Exception as error:  # a bug: this job fails, the runner goes on
                self.store.fail(job.id, failure_parts(error, self.metrics)[1]["error"])

    def run(self, job: JobRecord) -> None:
        """Transcribe one claimed job and store its outcome."""
        with self._replica() as transcriber:
            started = time.monotonic()
            try:
                options = form_options(transcriber, self.defaults, FormFields(**job.form))
                options = replace(options, progress=self._reporter(job.id))
                with self.store.upload(job.id).open("rb") as file:
                    upload = cast(BinaryIO, NamedUpload(file, job.filename))
                    transcript = transcriber.transcribe(upload, options)
            except JobCancelled:
                return
            except Exception as error:  # the job's outcome, never the runner's end
                if not isinstance(error.__cause__, JobCancelled):
                    self.store.fail(job.id, failure_parts(error, self.metrics)[1]["error"])
                return
            self.metrics.transcribed(transcript.duration, time.monotonic() - started)
        self.store.complete(job.id, {name: _rendered(name, transcript) for name in RESULT_FORMATS})

    @contextmanager
    def _replica(self) -> Iterator[Transcriber]:
        """A model replica, held for the block; while the request queue is full (the
        turn refuses with 503 as it is entered), the job waits for room."""
        while True:
            with ExitStack() as held:
                try:
                    replica = held.enter_context(self.turn())
                except HTTPException:
                    time.sleep(IDLE_POLL_S)
                    continue
                yield replica
                return

    def _reporter(self, job_id: str) -> Callable[[float, float | None], None]:
        last = [0.0]

        def report(seconds: float, total: float | None) -> None:
            now = time.monotonic()
            if now - last[0] < PROGRESS_EVERY_S:
                return
            last[0] = now
            if not self.store.progress(job_id, seconds, total):
                raise JobCancelled(job_id)

        return report


RESULT_FORMATS = tuple(RESPONSE_WRITERS)


def _rendered(name: str, transcript: Transcript) -> bytes:
    writer = RESPONSE_WRITERS[name]
    if isinstance(writer, VerboseJsonWriter):
        writer = replace(writer, granularities=("word", "segment"))
    return writer.render(transcript).encode()


def owner_of(request: Request) -> str:
    """Who a job belongs to: a digest of the request's API key ("" when none is sent)."""
    key = request_key(request.scope)
    return hashlib.sha256(key).hexdigest()[:32] if key else ""


def add_no_job_routes(app: FastAPI) -> None:
    """/v1/jobs on a server started without a jobs folder: a 404 that says why."""

    @app.api_route("/v1/jobs{rest:path}", methods=["GET", "POST", "DELETE"])
    def no_jobs(rest: str) -> Response:
        return error_reply(
            "this server keeps no jobs (it was started with --no-jobs); start it without, "
            "or send the file to POST /v1/audio/transcriptions",
            status=404,
        )


def add_job_routes(
    app: FastAPI, store: JobStore, runner: JobRunner, transcriber: Transcriber
) -> None:
    """The /v1/jobs routes over `store`, run by `runner`."""

    def mine(job_id: str, request: Request) -> JobRecord:
        job = store.get(job_id, owner_of(request))
        if job is None:
            raise HTTPException(
                404,
                f"no job {job_id} (a finished job is kept {store.ttl_s / 3600:g} h; a job "
                "belongs to the API key that submitted it)",
            )
        return job

    @app.post("/v1/jobs", status_code=202)
    def submit(
        request: Request,
        file: Annotated[UploadFile, File()],
        form: Annotated[FormFields, Depends(form_fields)],
        model: Annotated[str | None, Form()] = None,  # OpenAI's; the server runs its own
    ) -> Response:
        try:
            form_options(transcriber, runner.defaults, form)  # refused now, not when it runs
        except FormError as err:
            return error_reply(str(err), param=err.param)
        name = file.filename or "the upload"
        job_id = store.submit(owner_of(request), name, form.to_dict(), file.file)
        runner.wake.set()
        job = store.get(job_id)
        assert job is not None
        return JSONResponse(
            job.to_dict(), status_code=202, headers={"Location": f"/v1/jobs/{job_id}"}
        )

    @app.get("/v1/jobs")
    def listed(request: Request) -> dict[str, Any]:
        return {"object": "list", "data": [j.to_dict() for j in store.listed(owner_of(request))]}

    @app.get("/v1/jobs/{job_id}")
    def status(job_id: str, request: Request) -> dict[str, Any]:
        return mine(job_id, request).to_dict()

    @app.get("/v1/jobs/{job_id}/result")
    def result(
        job_id: str, request: Request, chosen: Annotated[str, Query(alias="format")] = "json"
    ) -> Response:
        job = mine(job_id, request)
        if chosen not in RESULT_FORMATS:
            return error_reply(
                f"format must be one of {', '.join(RESULT_FORMATS)}, not {chosen!r}",
                param="format",
            )
        if job.state != "completed":
            said = (job.error or {}).get("message", "") if job.state == "failed" else ""
            return error_reply(
                f"job {job_id} is {job.state}{': ' + said if said else ''}; its result is "
                f"there once GET /v1/jobs/{job_id} says completed",
                status=409,
            )
        body = store.result(job_id, chosen)
        return Response(body, media_type=RESPONSE_WRITERS[chosen].media_type)

    @app.delete("/v1/jobs/{job_id}")
    def delete(job_id: str, request: Request) -> dict[str, Any]:
        mine(job_id, request)
        store.delete(job_id)
        return {"id": job_id, "object": "transcription.job", "deleted": True}
