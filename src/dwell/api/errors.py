"""One JSON shape for every error: {"error": {"kind", "message", "parameter"?}}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from dwell.ingest.errors import UploadRejected

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    kind: str
    message: str
    parameter: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class ApiError(Exception):
    """An error answer with a status, a machine-readable kind and a sentence for people."""

    def __init__(self, status: int, kind: str, message: str, parameter: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.parameter = status, kind, message, parameter
        self.headers = headers


def bad_parameter(parameter: str, message: str) -> ApiError:
    return ApiError(422, "invalid_parameter", message, parameter)


def _body(kind: str, message: str, parameter: str | None = None) -> dict:
    detail = {"kind": kind, "message": message}
    if parameter:
        detail["parameter"] = parameter
    return {"error": detail}


ERROR_RESPONSES = {
    401: {"model": ErrorBody, "description": "Missing or unknown API key."},
    403: {"model": ErrorBody, "description": "The key's role does not allow this."},
    422: {"model": ErrorBody, "description": "A parameter is invalid; `parameter` names it."},
}


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(_body(exc.kind, exc.message, exc.parameter), status_code=exc.status,
                            headers=exc.headers)

    @app.exception_handler(UploadRejected)
    async def rejected(request: Request, exc: UploadRejected) -> JSONResponse:
        return JSONResponse(_body(exc.kind, exc.message), status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        location = [str(part) for part in first.get("loc", ()) if part not in ("query", "body", "path")]
        parameter = ".".join(location) or None
        message = f"{parameter}: {first.get('msg')}" if parameter else str(first.get("msg"))
        return JSONResponse(_body("invalid_parameter", message, parameter), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # The framework's own errors: an unknown path, a method the path does not take (its
        # Allow header kept, RFC 9110), a JSON body that does not parse.
        kind = {400: "malformed_body", 404: "not_found",
                405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(_body(kind, str(exc.detail)), status_code=exc.status_code,
                            headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return JSONResponse(_body("internal_error", "The server failed to answer; see its log."),
                            status_code=500)
