"""The FastAPI app of `llm4all serve`: OpenAI's /v1/models, /v1/chat/completions and
/v1/completions over the Engine of the model a request names (pool.py loads it on demand),
/v1/embeddings (embeddings.py), /health, and the browser page at / and /static/*.

Requests are parsed and checked here (schemas.py), turned into token prompts (prompts.py) and
GenRequests, and the Engine's events become OpenAI responses or SSE chunks. The guard in front
of the routes checks the API key (constant time) and the body size (Content-Length and the
bytes actually received); CORS is added only for the origins named.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hmac
import json
import time
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Dict, List, Optional, Sequence, Tuple, Type, TypeVar

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles

from .engine import ContextLengthExceeded, Delta, Finish, GenRequest, QueueFull, TokenLogprob
from .errors import (AUTHENTICATION, NOT_FOUND, OVERLOADED, SERVER_ERROR, APIError, api_error_handler, bad_request,
                     error_bytes, http_error_handler, unexpected_error_handler, validation_error)
from .embeddings import embed_request, not_a_generator
from .localdocs import apply_localdocs, list_collections, sources_first
from .pool import ModelPool, Served
from .prompts import PromptBuilder, message_for_template
from .reasoning import ReasoningSplitter, prompt_opens_think
from .schemas import EmbeddingRequest, EmbeddingResponse
from .schemas import (AssistantMessage, ChatChoice, ChatChunkChoice, ChatCompletion, ChatCompletionChunk,
                      ChatCompletionRequest, ChatDelta, ChoiceLogprobs, Completion, CompletionChoice,
                      CompletionRequest, FunctionCallOut, Health, LegacyLogprobs, ModelCard, ModelList,
                      PromptTokensDetails, ToolCallDelta, ToolCallDeltaFunction, ToolCallOut, TokenLogprobOut,
                      TopLogprob, Usage)

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_STOP_STRINGS = 16
BODY_TIMEOUT_S = 60.0     # a client that trickles its body holds a connection no longer than this
_M = TypeVar("_M", bound=BaseModel)


# ---- the guard: API key and body limit -------------------------------------------------------

async def _send_error(send: Any, status: int, message: str, type: str, code: str,
                      extra_headers: Sequence[Tuple[bytes, bytes]] = ()) -> None:
    body = error_bytes(status, message, type, None, code)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close"), *extra_headers]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class Guard:
    """ASGI middleware: 401 without the right key on /v1/* and /api/*, 413 for a body over the limit
    (refused on its Content-Length before reading, or once the bytes read pass the limit).
    The body is read whole here and handed on, so the app never buffers more than the limit."""

    def __init__(self, app: Any, api_key: Optional[str], max_body_bytes: int) -> None:
        self.app = app
        self.key = api_key.encode() if api_key else None
        self.limit = max_body_bytes

    def _authorized(self, headers: Dict[bytes, bytes]) -> bool:
        auth = headers.get(b"authorization", b"")
        scheme, _, token = auth.partition(b" ")
        if scheme.lower() != b"bearer":
            token = b""
        # compare_digest takes the same time wherever the first difference is.
        return hmac.compare_digest(token.strip(), self.key or b"")

    async def _read(self, receive: Any) -> Optional[bytes]:
        """The whole body; None if the client left; stops reading one byte past the limit."""
        chunks: List[bytes] = []
        size = 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return None
            chunk = msg.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            if size > self.limit or not msg.get("more_body", False):
                return b"".join(chunks)

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        if self.key and scope["path"].startswith(("/v1", "/api/")) and scope["method"] != "OPTIONS" \
                and not self._authorized(headers):
            return await _send_error(send, 401, "missing or wrong API key: send the header "
                                     "'Authorization: Bearer <key>'", AUTHENTICATION, "invalid_api_key",
                                     [(b"www-authenticate", b"Bearer")])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                return await _send_error(send, 400, "bad Content-Length header", "invalid_request_error",
                                         "bad_content_length")
            if n > self.limit:
                return await _send_error(send, 413, f"request body of {n} bytes is over the limit of "
                                         f"{self.limit} bytes", "invalid_request_error", "request_too_large")
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        try:
            body = await asyncio.wait_for(self._read(receive), BODY_TIMEOUT_S)
        except asyncio.TimeoutError:
            return await _send_error(send, 408, f"the request body did not arrive within {BODY_TIMEOUT_S:g} s",
                                     "invalid_request_error", "request_timeout")
        if body is None:
            return               # the client left
        if len(body) > self.limit:
            return await _send_error(send, 413, f"request body is over the limit of {self.limit} bytes",
                                     "invalid_request_error", "request_too_large")
        delivered = False

        async def replay() -> Dict[str, Any]:
            # The body once, then the real channel (so the app still sees http.disconnect).
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _watch_disconnect(receive: Any, job: Any) -> None:
    """Cancels the job when the client goes away (waits on the connection's receive channel)."""
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            job.cancel()
            return


class SSEResponse(Response):
    """Server-sent events from an async iterator of ready `data: ...\\n\\n` frames. A client
    that disconnects (seen on the receive channel or as a failed send) cancels the jobs."""

    media_type = "text/event-stream"

    def __init__(self, frames: AsyncIterator[bytes], jobs: Sequence[Any]) -> None:
        self.frames = frames
        self.jobs = list(jobs)
        self.status_code = 200
        self.background = None
        self.raw_headers = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
                            (b"x-accel-buffering", b"no")]

    def _cancel(self) -> None:
        for j in self.jobs:
            j.cancel()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        watchers = [asyncio.ensure_future(_watch_disconnect(receive, j)) for j in self.jobs[:1]]
        if len(self.jobs) > 1:
            watchers[0].add_done_callback(lambda _: self._cancel())
        complete = False
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async for frame in self.frames:
                await send({"type": "http.response.body", "body": frame, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            complete = True
        except OSError:
            pass                    # the client went away mid-send
        finally:
            for w in watchers:
                w.cancel()
            if not complete:
                self._cancel()
            await self.frames.aclose()   # type: ignore[attr-defined]


def _frame(obj: Any) -> bytes:
    if isinstance(obj, BaseModel):
        return b"data: " + obj.model_dump_json().encode() + b"\n\n"
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


# ---- request -> GenRequest --------------------------------------------------------------------

def _parse(model: Type[_M], body: bytes) -> _M:
    if not body.strip():
        raise bad_request("the request body is empty: send a JSON object", code="invalid_json")
    try:
        return model.model_validate_json(body)
    except ValidationError as e:
        raise validation_error(e.errors(include_url=False))
    except RecursionError:
        raise bad_request("the request body nests too deeply", code="invalid_json")


def _stops(stop: Any) -> List[str]:
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    if len(stops) > MAX_STOP_STRINGS:
        raise bad_request(f"at most {MAX_STOP_STRINGS} stop strings", param="stop")
    return [s for s in stops if s]


def _seed(seed: Optional[int]) -> Optional[int]:
    if seed is None or seed == -1:
        return None
    return seed % (2 ** 64 - 1)   # any OpenAI int64 to the sampler's range (2**64-1 means random in C)


def _sampling(req: Any, max_tokens: Optional[int], logprobs: Optional[int]) -> Dict[str, Any]:
    if req.n not in (None, 1):
        raise bad_request("only n=1 is supported", param="n")
    if req.logit_bias:
        raise bad_request("logit_bias is not supported", param="logit_bias")
    return dict(max_tokens=max_tokens, temp=req.temperature, top_k=req.top_k, top_p=req.top_p, min_p=req.min_p,
                repeat_penalty=req.repeat_penalty, repeat_last_n=req.repeat_last_n,
                presence_penalty=req.presence_penalty, frequency_penalty=req.frequency_penalty,
                seed=_seed(req.seed), stop=_stops(req.stop), logprobs=logprobs)


def _text(b: bytes) -> str:
    return b.decode("utf-8", errors="replace")


def _chat_logprobs(lps: Sequence[TokenLogprob]) -> List[TokenLogprobOut]:
    return [TokenLogprobOut(token=_text(lp.piece), logprob=lp.logprob, bytes=list(lp.piece),
                            top_logprobs=[TopLogprob(token=_text(p), logprob=v, bytes=list(p)) for _, p, v in lp.top])
            for lp in lps]


def _usage(f: Finish) -> Usage:
    return Usage(prompt_tokens=f.prompt_tokens, completion_tokens=f.completion_tokens,
                 total_tokens=f.prompt_tokens + f.completion_tokens,
                 prompt_tokens_details=PromptTokensDetails(cached_tokens=f.cached_tokens))


def _finish_error(f: Finish) -> APIError:
    if f.reason == "cancelled":
        return APIError(500, "the request was cancelled", SERVER_ERROR, code="cancelled")
    return APIError(500, f"generation failed: {f.error or 'unknown error'}", SERVER_ERROR, code="generation_error")


class _ToolCallHold:
    """Streams an answer's content until a tool call may start (tools.find_tool_call_start, or a
    partial marker at the end), then holds the rest for parse_tool_calls at the end."""

    def __init__(self) -> None:
        self.text = ""
        self.sent = 0
        self.stopped = False     # a call may have started: nothing more is sent before the end

    def feed(self, content: str) -> str:
        from .tools import TOOL_CALL_MARKERS, find_tool_call_start
        self.text += content
        if self.stopped:
            return ""
        start = find_tool_call_start(self.text)
        if start is not None:
            self.stopped = True
            safe = start
        elif not self.text.strip():
            safe = self.sent         # only whitespace so far: a bare JSON call may follow
        else:
            held = max((n for m in TOOL_CALL_MARKERS for n in range(1, len(m))
                        if self.text.endswith(m[:n])), default=0)
            safe = len(self.text) - held
        out = self.text[self.sent:max(safe, self.sent)]
        self.sent = max(self.sent, safe)
        return out

    def rest(self, content: str, calls: bool) -> str:
        """What is left to send once parse_tool_calls gave (content, calls) for the whole text."""
        if not calls:
            return self.text[self.sent:]      # no call: the content is the text, unchanged
        sent = self.text[:self.sent].strip()
        return content[len(sent):] if content.startswith(sent) else ""


class _ChatPlan:
    """What one chat request needs beyond its GenRequest."""

    def __init__(self, gen: GenRequest, opened_think: bool, tools: Optional[List[Dict[str, Any]]],
                 parallel_tool_calls: bool, want_logprobs: bool) -> None:
        self.gen = gen
        self.opened_think = opened_think
        self.tools = tools             # the request's tools when calls are to be parsed, else None
        self.parallel_tool_calls = parallel_tool_calls
        self.want_logprobs = want_logprobs


# Tokenizing, chat templates and prompt logprobs run off the event loop on this pool, not on
# starlette's run_in_threadpool: that one grows to 40 threads under load and lets idle ones
# exit after 10 s, so bursts kept creating threads, and every new thread takes a glibc malloc
# arena and a fresh stack; the server's malloc heap grew in steps with each new peak of
# threads under a soak. Two workers that live as long as the process keep the allocating
# threads few and fixed (the work is short; the engine thread does the decoding).
_CPU_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="llm4all-serve")
_T = TypeVar("_T")


async def _off_loop(fn: Callable[..., _T], *args: Any) -> _T:
    return await asyncio.get_running_loop().run_in_executor(_CPU_POOL, fn, *args)


# ---- the app -----------------------------------------------------------------------------------

def create_app(pool: ModelPool, *, api_key: Optional[str] = None, cors_origins: Sequence[str] = (),
               max_body_bytes: int = 1 << 20, settings: Any = None) -> FastAPI:
    """The HTTP app answering for the pool's models (see the module docstring and pool.py), with
    the app API under /api/ (api.py; settings: a settings.Settings, default the config dir's)."""
    created = int(time.time())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        reaper = asyncio.ensure_future(pool.reap())   # unloads models left idle
        try:
            yield
        finally:
            reaper.cancel()

    app = FastAPI(title="llm4all", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.pool = pool

    app.add_exception_handler(APIError, api_error_handler)   # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error_handler)   # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError,
                              lambda r, e: validation_error(e.errors()).response())   # type: ignore[arg-type]
    app.add_exception_handler(Exception, unexpected_error_handler)

    def submit(served: Served, gen: GenRequest, param: str) -> Any:
        try:
            return served.engine.submit(gen)
        except ContextLengthExceeded as e:
            raise bad_request(str(e), param=param, code="context_length_exceeded")
        except QueueFull as e:
            raise APIError(503, str(e), OVERLOADED, code="server_busy", headers={"Retry-After": "1"})
        except (ValueError, TypeError) as e:
            raise bad_request(str(e))

    async def collect(request: Request, job: Any) -> Tuple[List[Delta], Finish]:
        watcher = asyncio.ensure_future(_watch_disconnect(request.receive, job))
        deltas: List[Delta] = []
        finish: Optional[Finish] = None
        try:
            async for ev in job:
                if isinstance(ev, Finish):
                    finish = ev
                else:
                    deltas.append(ev)
        except BaseException:
            job.cancel()
            raise
        finally:
            watcher.cancel()
        assert finish is not None
        return deltas, finish

    # ---- models, health, page ---------------------------------------------------------------

    def card(name: str) -> ModelCard:
        served = pool.loaded.get(name)
        if served is not None:
            return ModelCard(id=name, created=served.created, context_length=served.engine.n_ctx)
        return ModelCard(id=name, created=created)

    @app.get("/v1/models", response_model=ModelList)
    async def list_models() -> Any:
        names = await _off_loop(pool.names)
        return ModelList(data=[card(n) for n in sorted(names, key=lambda n: (n != pool.default, n))])

    @app.get("/v1/models/{model_id:path}", response_model=ModelCard)
    async def get_model(model_id: str) -> Any:
        if model_id not in pool.loaded and model_id not in await _off_loop(pool.names):
            raise APIError(404, f"the model {model_id!r} is not installed", NOT_FOUND, param="model",
                           code="model_not_found")
        return card(model_id)

    @app.get("/v1/localdocs", include_in_schema=False)
    async def localdocs_collections() -> Any:
        return await _off_loop(list_collections)

    @app.get("/health", response_model=Health)
    async def health() -> Any:
        served = pool.loaded.get(pool.default or "")
        stats = served.engine.stats() if served else {"slots_busy": 0, "queued": 0, "n_parallel": 0, "n_ctx": 0}
        return Health(model=pool.default, loaded=sorted(pool.loaded), **stats)

    @app.get("/", include_in_schema=False)
    async def index() -> Any:
        page = STATIC_DIR / "index.html"
        if not page.is_file():
            return JSONResponse({"message": "llm4all serve: the API is under /v1"})
        return FileResponse(page, media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")

    # ---- chat ---------------------------------------------------------------------------------

    def plan_chat(served: Served, req: ChatCompletionRequest) -> _ChatPlan:
        prompts = served.prompts
        messages = [message_for_template(m, i) for i, m in enumerate(req.messages)]
        tools = None
        forced = req.tool_choice not in (None, "none", "auto")
        if req.tools and req.tool_choice != "none":
            if not prompts.supports_tools:
                raise bad_request("this model's chat template does not support tools (start the server with "
                                  "--chat-template FILE naming a template that does)", param="tools",
                                  code="tools_not_supported")
            tools = [t.model_dump(exclude_none=True) for t in req.tools]
            if not isinstance(req.tool_choice, (str, type(None))):
                name = req.tool_choice.function.name
                if not any(t.function.name == name for t in req.tools):
                    raise bad_request(f"tool_choice names {name!r}, which is not in tools", param="tool_choice")
        elif forced:
            raise bad_request("tool_choice needs tools", param="tool_choice")
        prompt = prompts.render(messages, tools, req.chat_template_kwargs)
        tokens = prompts.chat_tokens(prompt)
        if req.top_logprobs is not None and not req.logprobs:
            raise bad_request("top_logprobs needs logprobs: true", param="top_logprobs")
        logprobs = (req.top_logprobs or 0) if req.logprobs else None
        max_tokens = req.max_completion_tokens if req.max_completion_tokens is not None else req.max_tokens
        gen = GenRequest(prompt=tokens, **_sampling(req, max_tokens, logprobs))
        rf = req.response_format
        if tools is not None and forced:
            # "required" or a named function: decoding is constrained to one call in the template's format.
            if rf is not None and rf.type != "text":
                raise bad_request("response_format cannot be combined with a forced tool_choice",
                                  param="response_format")
            from .constrain import tool_call_constraint
            choice = req.tool_choice if isinstance(req.tool_choice, str) else req.tool_choice.model_dump()
            try:
                gen.constraint = tool_call_constraint(served.model, tools, choice, template=prompts.template)
            except ValueError as e:
                raise bad_request(f"tools: {e}", param="tools")
        elif rf is not None and rf.type != "text":
            schema = None
            if rf.type == "json_schema":
                if rf.json_schema is None or rf.json_schema.schema_ is None:
                    raise bad_request("response_format json_schema needs json_schema.schema",
                                      param="response_format.json_schema")
                schema = rf.json_schema.schema_
            from .constrain import json_constraint
            try:
                gen.constraint = json_constraint(served.model, schema)
            except ValueError as e:
                raise bad_request(f"response_format: {e}", param="response_format")
        # Constrained output (JSON, a forced call) is the answer itself, even after a prompt that opened <think>.
        opened = prompt_opens_think(prompt) and gen.constraint is None
        return _ChatPlan(gen, opened, tools, req.parallel_tool_calls is not False, bool(req.logprobs))

    def tool_calls(plan: _ChatPlan, content: str) -> Tuple[str, List[ToolCallOut]]:
        from .tools import parse_tool_calls
        rest, calls = parse_tool_calls(content, plan.tools)
        if not plan.parallel_tool_calls:
            calls = calls[:1]
        return rest, [ToolCallOut(id=c["id"], function=FunctionCallOut(name=c["function"]["name"],
                                                                     arguments=c["function"]["arguments"]))
                      for c in calls]

    # ---- embeddings (an embedding model answers only these) -----------------------------------

    @app.post("/v1/embeddings", response_model=EmbeddingResponse)
    async def embeddings(request: Request) -> Any:
        req = _parse(EmbeddingRequest, await request.body())
        served = await pool.acquire(req.model)
        try:
            engine = served.engine
            return await _off_loop(embed_request, engine.model, getattr(engine, "n_threads", 0), served.name, req)
        finally:
            pool.release(served)

    async def generator(name: Optional[str]) -> Served:
        served = await pool.acquire(name)
        if served.embedder:
            pool.release(served)
            raise not_a_generator()
        return served

    @app.post("/v1/chat/completions", response_model=ChatCompletion)
    async def chat_completions(request: Request) -> Any:
        req = _parse(ChatCompletionRequest, await request.body())
        served = await generator(req.model)
        try:
            sources = await _off_loop(apply_localdocs, req) if req.localdocs else None
            plan = await _off_loop(plan_chat, served, req)
            job = submit(served, plan.gen, "messages")   # the job keeps the model loaded from here on
        finally:
            pool.release(served)
        cid = f"chatcmpl-{uuid.uuid4().hex}"
        now = int(time.time())
        if req.stream:
            usage = bool(req.stream_options and req.stream_options.include_usage)
            frames = chat_stream(plan, job, served.name, cid, now, usage)
            return SSEResponse(frames if sources is None else sources_first(frames, sources), [job])
        deltas, finish = await collect(request, job)
        if finish.reason not in ("stop", "length"):
            raise _finish_error(finish)
        splitter = ReasoningSplitter(plan.opened_think)
        parts = splitter.feed("".join(d.text for d in deltas)) + splitter.finish()
        reasoning = "".join(t for k, t in parts if k == "reasoning")
        content = "".join(t for k, t in parts if k == "content")
        calls: List[ToolCallOut] = []
        if plan.tools is not None:
            content, calls = tool_calls(plan, content)
        logprobs = None
        if plan.want_logprobs:
            logprobs = ChoiceLogprobs(content=_chat_logprobs([lp for d in deltas for lp in d.logprobs or []]))
        msg = AssistantMessage(content=content if content or not calls else None,
                               reasoning_content=reasoning or None, tool_calls=calls or None)
        reason = "tool_calls" if calls else finish.reason
        completion = ChatCompletion(id=cid, created=now, model=served.name, usage=_usage(finish),
                                    choices=[ChatChoice(index=0, message=msg, logprobs=logprobs, finish_reason=reason)])
        if sources is None:
            return completion
        return JSONResponse({**completion.model_dump(mode="json"), "sources": sources})

    async def chat_stream(plan: _ChatPlan, job: Any, model_name: str, cid: str, now: int,
                          include_usage: bool) -> AsyncIterator[bytes]:
        def chunk(delta: ChatDelta, lps: Optional[List[TokenLogprob]] = None, reason: Optional[str] = None,
                  choices: bool = True, usage: Optional[Usage] = None) -> bytes:
            lp = ChoiceLogprobs(content=_chat_logprobs(lps)) if plan.want_logprobs and lps is not None else None
            ch = [ChatChunkChoice(index=0, delta=delta, logprobs=lp, finish_reason=reason)] if choices else []
            return _frame(ChatCompletionChunk(id=cid, created=now, model=model_name, choices=ch, usage=usage))

        hold = _ToolCallHold() if plan.tools is not None else None

        def delta_of(parts: List[Tuple[str, str]]) -> ChatDelta:
            reasoning = "".join(t for k, t in parts if k == "reasoning")
            content = "".join(t for k, t in parts if k == "content")
            if hold is not None:    # content up to a possible tool call goes out; the call waits for the end
                content = hold.feed(content)
            return ChatDelta(content=content or None, reasoning_content=reasoning or None)

        yield chunk(ChatDelta(role="assistant", content=""))
        splitter = ReasoningSplitter(plan.opened_think)
        pending: List[TokenLogprob] = []
        finish: Optional[Finish] = None
        async for ev in job:
            if isinstance(ev, Finish):
                finish = ev
                break
            if ev.logprobs:
                pending.extend(ev.logprobs)
            d = delta_of(splitter.feed(ev.text))
            if d.content or d.reasoning_content or (pending and plan.want_logprobs):
                yield chunk(d, pending)
                pending = []
        assert finish is not None
        if finish.reason not in ("stop", "length"):
            if finish.reason != "cancelled":
                yield _frame(_finish_error(finish).body())
            return
        d = delta_of(splitter.finish())
        reason = finish.reason
        tool_deltas: Optional[List[ToolCallDelta]] = None
        if hold is not None:
            content, calls = tool_calls(plan, hold.text)
            d.content = (d.content or "") + hold.rest(content, bool(calls)) or None
            if calls:
                reason = "tool_calls"
                tool_deltas = [ToolCallDelta(index=i, id=c.id, type="function",
                                             function=ToolCallDeltaFunction(name=c.function.name,
                                                                            arguments=c.function.arguments))
                               for i, c in enumerate(calls)]
        if d.content or d.reasoning_content or (pending and plan.want_logprobs):
            yield chunk(d, pending)
        if tool_deltas:
            yield chunk(ChatDelta(tool_calls=tool_deltas))
        yield chunk(ChatDelta(), reason=reason)
        if include_usage:
            yield chunk(ChatDelta(), choices=False, usage=_usage(finish))
        yield DONE

    # ---- completions -----------------------------------------------------------------------

    def plan_completion(served: Served, req: CompletionRequest) -> List[Tuple[List[int], str]]:
        prompts, model = served.prompts, served.model
        if req.suffix:
            raise bad_request("suffix is not supported", param="suffix")
        p = req.prompt
        if isinstance(p, str) or (p and isinstance(p[0], int)):
            p = [p]      # type: ignore[list-item]
        if not p:
            raise bad_request("prompt must not be an empty list", param="prompt")
        out = []
        for i, x in enumerate(p):
            if isinstance(x, str):
                out.append((prompts.completion_tokens(x), x))
                continue
            toks = list(x)   # token ids, used as given
            if not toks or not all(0 <= t < model.n_vocab for t in toks):
                raise bad_request(f"prompt[{i}]: token ids must be in 0..{model.n_vocab - 1} and not empty",
                                  param="prompt")
            out.append((toks, _text(model.detokenize(toks, False))))
        return out

    def prompt_logprobs(served: Served, tokens: List[int], k: int) -> List[Tuple[bytes, Optional[float], Optional[list]]]:
        if served.scorer is None:
            from .scoring import PromptScorer
            served.scorer = PromptScorer(served.model, served.engine.n_ctx)
        return [(p, lp, top) for _, p, lp, top in served.scorer.score(tokens, k)]

    def legacy_logprobs(lps: Sequence[Any], offset: int, out_bytes: bytearray) -> LegacyLogprobs:
        """OpenAI's legacy logprobs of TokenLogprobs or (piece, logprob, top) tuples; text_offset
        counts characters from offset over the pieces so far (out_bytes, extended here)."""
        res = LegacyLogprobs()
        for lp in lps:
            piece, v, top = (lp.piece, lp.logprob, lp.top) if isinstance(lp, TokenLogprob) else lp
            res.tokens.append(_text(piece))
            res.token_logprobs.append(v)
            res.top_logprobs.append(None if top is None else {_text(p): x for _, p, x in top})
            res.text_offset.append(offset + len(out_bytes.decode("utf-8", errors="ignore")))
            out_bytes += piece
        return res

    async def echo_logprobs(served: Served, req: CompletionRequest,
                            items: List[Tuple[List[int], str]]) -> List[Optional[list]]:
        if not (req.echo and req.logprobs is not None):
            return [None] * len(items)
        return [await _off_loop(prompt_logprobs, served, toks, req.logprobs) for toks, _ in items]

    @app.post("/v1/completions", response_model=Completion)
    async def completions(request: Request) -> Any:
        req = _parse(CompletionRequest, await request.body())
        served = await generator(req.model)
        jobs: List[Any] = []
        try:
            items = await _off_loop(plan_completion, served, req)
            for tokens, _ in items:
                jobs.append(submit(served, GenRequest(prompt=tokens, **_sampling(req, req.max_tokens, req.logprobs)),
                                   "prompt"))
            cid = f"cmpl-{uuid.uuid4().hex}"
            now = int(time.time())
            echoes = [s if req.echo else "" for _, s in items]
            prompt_lps = await echo_logprobs(served, req, items)
        except BaseException:
            for j in jobs:
                j.cancel()
            raise
        finally:
            pool.release(served)
        model_name = served.name
        if req.stream:
            usage = bool(req.stream_options and req.stream_options.include_usage)
            return SSEResponse(completion_stream(req, jobs, echoes, prompt_lps, model_name, cid, now, usage), jobs)
        try:
            results = await asyncio.gather(*(collect(request, j) for j in jobs))
        except BaseException:
            for j in jobs:
                j.cancel()
            raise
        choices = []
        total = Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0)
        for i, (deltas, finish) in enumerate(results):
            if finish.reason not in ("stop", "length"):
                raise _finish_error(finish)
            lps = None
            if req.logprobs is not None:
                lps = legacy_logprobs((prompt_lps[i] or []) + [lp for d in deltas for lp in d.logprobs or []],
                                      0, bytearray())
                if prompt_lps[i] is None:
                    lps.text_offset = [x + len(echoes[i]) for x in lps.text_offset]
            choices.append(CompletionChoice(index=i, text=echoes[i] + "".join(d.text for d in deltas), logprobs=lps,
                                            finish_reason=finish.reason))
            u = _usage(finish)
            total.prompt_tokens += u.prompt_tokens
            total.completion_tokens += u.completion_tokens
            total.total_tokens += u.total_tokens
            total.prompt_tokens_details.cached_tokens += u.prompt_tokens_details.cached_tokens
        return Completion(id=cid, created=now, model=model_name, choices=choices, usage=total)

    async def completion_stream(req: CompletionRequest, jobs: List[Any], echoes: List[str],
                                prompt_lps: List[Optional[list]], model_name: str, cid: str, now: int,
                                include_usage: bool) -> AsyncIterator[bytes]:
        def chunk(i: int, text: str, lps: Optional[LegacyLogprobs] = None, reason: Optional[str] = None) -> bytes:
            return _frame(Completion(id=cid, created=now, model=model_name,
                                     choices=[CompletionChoice(index=i, text=text, logprobs=lps, finish_reason=reason)]))

        queue: "asyncio.Queue[Tuple[int, Any]]" = asyncio.Queue()

        async def pump(i: int, job: Any) -> None:
            async for ev in job:
                await queue.put((i, ev))

        tasks = [asyncio.ensure_future(pump(i, j)) for i, j in enumerate(jobs)]
        try:
            offsets = [len(e) for e in echoes]
            seen = [bytearray() for _ in jobs]
            for i, e in enumerate(echoes):
                if prompt_lps[i] is not None:
                    offsets[i] = 0
                    yield chunk(i, e, legacy_logprobs(prompt_lps[i] or [], 0, seen[i]))
                elif e:
                    yield chunk(i, e)
            open_jobs = len(jobs)
            total = Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0)
            while open_jobs:
                i, ev = await queue.get()
                if isinstance(ev, Finish):
                    open_jobs -= 1
                    if ev.reason not in ("stop", "length"):
                        for j in jobs:
                            j.cancel()
                        if ev.reason != "cancelled":
                            yield _frame(_finish_error(ev).body())
                        return
                    yield chunk(i, "", reason=ev.reason)
                    u = _usage(ev)
                    total.prompt_tokens += u.prompt_tokens
                    total.completion_tokens += u.completion_tokens
                    total.total_tokens += u.total_tokens
                    total.prompt_tokens_details.cached_tokens += u.prompt_tokens_details.cached_tokens
                    continue
                lps = None
                if req.logprobs is not None and ev.logprobs:
                    lps = legacy_logprobs(ev.logprobs, offsets[i], seen[i])
                if ev.text or lps is not None:
                    yield chunk(i, ev.text, lps)
            if include_usage:
                yield _frame(Completion(id=cid, created=now, model=model_name, choices=[], usage=total))
            yield DONE
        finally:
            for t in tasks:
                t.cancel()

    from .api import register_api
    register_api(app, pool, settings)   # /api/: models, downloads, settings, LocalDocs folders

    # Middleware, innermost first: the guard, then CORS around it (so its errors carry CORS headers).
    app.add_middleware(Guard, api_key=api_key, max_body_bytes=max_body_bytes)
    if cors_origins:
        from starlette.middleware.cors import CORSMiddleware
        # Any request header: OpenAI's JavaScript client adds its own (x-stainless-*); the origins are named.
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST", "OPTIONS"],
                           allow_headers=["*"], max_age=600)
    return app
