"""OpenAI-shaped errors for `llm4all serve`.

Every failure a client can see is {"error": {"message", "type", "param", "code"}} with the
HTTP status OpenAI uses for it, whether it comes from our own checks, from request
validation, from routing (404/405) or from an unexpected exception (500, no traceback).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Dict, Optional, Sequence

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger("llm4all.serve")

INVALID_REQUEST = "invalid_request_error"
AUTHENTICATION = "authentication_error"
NOT_FOUND = "not_found_error"
SERVER_ERROR = "server_error"
OVERLOADED = "overloaded_error"


class APIError(Exception):
    """An error answered to the client as-is."""

    def __init__(self, status: int, message: str, type: str = INVALID_REQUEST, param: Optional[str] = None,
                 code: Optional[str] = None, headers: Optional[Dict[str, str]] = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers

    def body(self) -> Dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)

    def response(self) -> Response:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def error_body(message: str, type: str = INVALID_REQUEST, param: Optional[str] = None,
               code: Optional[str] = None) -> Dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def error_bytes(status: int, message: str, type: str = INVALID_REQUEST, param: Optional[str] = None,
                code: Optional[str] = None) -> bytes:
    return json.dumps(error_body(message, type, param, code), separators=(",", ":")).encode()


def bad_request(message: str, param: Optional[str] = None, code: Optional[str] = None) -> APIError:
    return APIError(400, message, INVALID_REQUEST, param, code)


def _param(loc: Sequence[Any]) -> Optional[str]:
    # pydantic locations name the field path; OpenAI's "param" is that path, dotted, with indices.
    parts = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        elif p in ("body",) and not parts:
            continue
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts) or None


def validation_error(errors: Sequence[Dict[str, Any]]) -> APIError:
    """A pydantic ValidationError's errors() as one 400 naming the first offending field."""
    if not errors:
        return bad_request("invalid request")
    first = errors[0]
    if first.get("type") == "json_invalid":
        return bad_request(f"the request body is not valid JSON: {first.get('ctx', {}).get('error', first.get('msg'))}",
                           code="invalid_json")
    # Unions report one error per alternative; the shortest location is the field the client wrote.
    param = _param(first.get("loc", ()))
    msgs = []
    for e in errors[:5]:
        p = _param(e.get("loc", ()))
        msgs.append(f"{p}: {e.get('msg')}" if p else str(e.get("msg")))
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return bad_request("invalid request: " + "; ".join(msgs) + more, param=param)


async def api_error_handler(request: Request, exc: APIError) -> Response:
    return exc.response()


async def http_error_handler(request: Request, exc: StarletteHTTPException) -> Response:
    status = exc.status_code
    if status == 404:
        err = APIError(404, f"unknown route {request.method} {request.url.path}", NOT_FOUND, code="unknown_url")
    elif status == 405:
        err = APIError(405, f"method {request.method} is not allowed on {request.url.path}", INVALID_REQUEST,
                       code="method_not_allowed", headers=dict(exc.headers or {}))
    else:
        err = APIError(status, str(exc.detail), INVALID_REQUEST if status < 500 else SERVER_ERROR,
                       headers=dict(exc.headers or {}) or None)
    return err.response()


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("internal error on %s %s", request.method, request.url.path)
    return APIError(500, f"internal server error: {type(exc).__name__}", SERVER_ERROR).response()
