"""Answers in OpenAI's error shape, each with the request's id, and an input's failure as
the HTTP status it is."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from ..errors import (
    AudioTooLongError,
    SampleRateMismatchError,
    TimeLimitError,
    Wav2TextError,
    reason,
)
from .metrics import Metrics, request_id


def failure(error: Exception, metrics: Metrics) -> JSONResponse:
    """An input's failure as the HTTP error it is (a bug: 500, and the server goes on)."""
    status, body = failure_parts(error, metrics)
    return JSONResponse(body, status_code=status)


def failure_parts(error: Exception, metrics: Metrics) -> tuple[int, dict[str, Any]]:
    metrics.errors.labels(type(error).__name__).inc()
    status, kind, param = 500, "server_error", None  # a bug: say so, keep serving
    if isinstance(error, AudioTooLongError):
        status, kind, param = 413, "invalid_request_error", "file"
    elif isinstance(error, TimeLimitError):
        status = 503
    elif isinstance(error, SampleRateMismatchError):
        status, kind, param = 400, "invalid_request_error", "sample_rate"
    elif isinstance(error, Wav2TextError):
        status, kind, param = 400, "invalid_request_error", "file"
    return status, error_body(reason(error, "http"), kind, param)


def error_reply(
    message: str, status: int = 400, kind: str = "invalid_request_error", param: str | None = None
) -> JSONResponse:
    return JSONResponse(error_body(message, kind, param), status_code=status)


def error_body(message: str, kind: str, param: str | None) -> dict[str, Any]:
    """OpenAI's error shape, with the request's id (as its X-Request-Id header has it)."""
    error = {"message": message, "type": kind, "param": param, "code": None}
    return {"error": {**error, "request_id": request_id()}}
