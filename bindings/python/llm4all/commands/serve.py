"""`llm4all serve [MODEL]`: an OpenAI-compatible HTTP server with a browser chat page.

With MODEL it serves that model (and, with --on-demand, every other installed model too);
without, every installed model answers by its name, loaded on first use and unloaded when
idle or when --max-loaded models are loaded (see llm4all.serve.pool).

Binds 127.0.0.1:4891 by default. Binding any other address needs --api-key (clients send
"Authorization: Bearer KEY") unless --insecure says the network is trusted. Point any OpenAI
client at http://HOST:PORT/v1, or open http://HOST:PORT/ in a browser.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
import time
from typing import Any, Callable, Optional

DEFAULT_PORT = 4891


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve a model over an OpenAI-compatible HTTP API and a chat page",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", default=None, help="a .gguf file or a catalogue name (default: serve "
                   "every installed model, each loaded on first use)")
    p.add_argument("--on-demand", action="store_true", help="with MODEL, also serve every other installed model")
    add_options(p, with_model=True)
    p.set_defaults(func=cmd_serve)


def add_options(p: argparse.ArgumentParser, with_model: bool, port: int = DEFAULT_PORT) -> None:
    """The server's options (`llm4all app` takes them too); with_model: also those that only
    apply to a MODEL named on the command line (--chat-template, --name, --lora)."""
    p.add_argument("--max-loaded", type=int, default=2, metavar="N", help="models loaded at once; the least "
                   "recently used idle one is unloaded first (default 2)")
    p.add_argument("--idle-timeout", type=float, default=300.0, metavar="SECONDS", help="unload a model idle this "
                   "long (default 300; 0 = never); the command line's MODEL stays loaded")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=port, help=f"port (default {port}{': a free one' if not port else ''})")
    p.add_argument("--parallel", type=int, default=4, help="sequences generated at once (default 4)")
    p.add_argument("--n-ctx", type=int, default=0, help="context size per sequence (default 0: the model's, "
                   "capped by the engine)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default: physical cores)")
    p.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY' on /v1 and /api "
                   "(default: $LLM4ALL_API_KEY if set)")
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                   help="allow browser pages from this origin (may be repeated; default: no CORS)")
    p.add_argument("--insecure", action="store_true", help="allow a non-loopback --host without --api-key")
    if with_model:
        p.add_argument("--chat-template", default=None, metavar="FILE", help="Jinja chat template file "
                       "(default: the model's)")
        p.add_argument("--name", default=None, help="the model id clients use (default: the catalogue name or "
                       "the file's name)")
    p.add_argument("--queue-size", type=int, default=64, help="requests waiting for a slot before 503 (default 64)")
    p.add_argument("--max-body", type=int, default=1 << 20, metavar="BYTES",
                   help="largest request body accepted (default 1 MiB)")
    from ..cli import device_args, lora_arg, skip_memory_check_arg
    device_args(p)   # --device, --gpu-layers
    if with_model:
        lora_arg(p)
    skip_memory_check_arg(p)
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def model_id(arg: str) -> str:
    from ..catalog import CATALOG
    if arg in CATALOG:
        return arg
    base = os.path.basename(arg.rstrip("/"))
    return base[:-5] if base.endswith(".gguf") else base


def listen_socket(host: str, port: int) -> socket.socket:
    """The bound socket, before the model loads: a taken port fails at once, in one line."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM,
                                                          flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as e:
        raise RuntimeError(f"cannot listen on {host}: {e.strerror}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as e:
        sock.close()
        raise RuntimeError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock


def limit_malloc_arenas(n: int = 2) -> bool:
    """Caps glibc's malloc arenas (mallopt M_ARENA_MAX) for the threads created from now on.

    A long-running server allocates on several threads (the event loop, the scheduler, the
    tokenizing pool, the core's compute threads); glibc gives each thread that meets lock
    contention an arena of its own, up to 8 per core, and free memory stranded in one arena
    is never reused by another, so the resident size creeps up under a steady load. With two
    arenas it levels off (the threads that allocate per request are few, so they rarely wait
    on an arena's lock). Returns
    whether it applied (False off glibc, or when MALLOC_ARENA_MAX already says otherwise)."""
    if sys.platform != "linux" or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    M_ARENA_MAX = -8    # malloc.h
    return bool(mallopt(M_ARENA_MAX, n))


def trim_malloc_periodically(every_s: float = 10.0) -> bool:
    """Hands glibc's free heap pages back to the OS every every_s seconds (malloc_trim(0),
    which also releases free pages inside the heap, not only at its top), from a daemon
    thread. A server that streams for days frees many small blocks between live ones;
    without this, those pages stay resident and the RSS creeps up with the number of
    requests served. Returns whether it started (False off glibc)."""
    if sys.platform != "linux":
        return False
    try:
        import ctypes
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    import threading

    def loop() -> None:
        while True:
            time.sleep(every_s)
            trim(0)

    threading.Thread(target=loop, name="llm4all-malloc-trim", daemon=True).start()
    return True


def _when_started(server: Any, then: Callable[[], None]) -> None:
    """Calls then() from a helper thread once uvicorn accepts connections."""
    import threading

    def wait() -> None:
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.05)
        then()

    threading.Thread(target=wait, name="llm4all-serve-started", daemon=True).start()


def cmd_serve(args: argparse.Namespace, ready: Optional[Callable[[str], None]] = None) -> int:
    """Runs the server until it is stopped; ready(url), if given, once it accepts connections."""
    api_key: Optional[str] = args.api_key if args.api_key is not None else os.environ.get("LLM4ALL_API_KEY") or None
    if not is_loopback(args.host) and not api_key and not args.insecure:
        raise RuntimeError(f"refusing to bind {args.host} without --api-key: anyone who can reach it could use "
                           "the model (give --api-key KEY, or --insecure on a trusted network)")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be between 0 and 65535, got {args.port}")
    template = None
    if args.chat_template:
        with open(args.chat_template, encoding="utf-8") as f:
            template = f.read()

    limit_malloc_arenas()   # before the server's threads start
    trim_malloc_periodically()
    sock = listen_socket(args.host, args.port)
    port = sock.getsockname()[1]     # the one the system chose for --port 0

    import uvicorn

    from .. import _core
    from ..catalog import catalog_chat_template
    from ..embeddings import resolve_embedding_model
    from ..serve.app import create_app
    from ..serve.embeddings import EmbeddingEngine
    from ..serve.engine import Engine
    from ..serve.pool import ModelPool, Served
    from ..serve.prompts import PromptBuilder

    if args.model is None and (getattr(args, "lora", None) or getattr(args, "chat_template", None)
                               or getattr(args, "name", None)):
        raise ValueError("--lora, --chat-template and --name apply to a MODEL named on the command line")

    def load(name: str, path: Any, lora: Any = None, chat_template: Optional[str] = None) -> Served:
        # The app's settings (pool.load_options, set by /api/settings) win where they are not automatic.
        opts = pool.load_options
        device = opts.get("device") if opts.get("device") not in (None, "auto") else args.device
        threads = opts.get("threads") or args.threads or 0
        n_ctx = opts.get("n_ctx") or args.n_ctx
        gpu_layers = opts["gpu_layers"] if opts.get("gpu_layers", -1) != -1 else args.gpu_layers
        model = _core.Model(str(resolve_embedding_model(name) if os.path.isdir(path) else path), device,
                            lora=lora or [], skip_memory_check=args.skip_memory_check,
                            n_gpu_layers=gpu_layers)
        if model.embedding_dim > 0:   # answers /v1/embeddings only
            return Served(name, EmbeddingEngine(model, n_threads=threads))
        engine = Engine(model, n_parallel=args.parallel, n_ctx=n_ctx, n_threads=threads, queue_size=args.queue_size)
        # A catalogue entry's own chat template replaces its file's, as for llm4all.Model(name).
        return Served(name, engine, PromptBuilder(model, chat_template or catalog_chat_template(name)))

    pool = ModelPool(load, on_demand=args.model is None or args.on_demand, max_loaded=args.max_loaded,
                     idle_timeout_s=args.idle_timeout, n_ctx=args.n_ctx, n_parallel=args.parallel)
    try:
        if args.model is not None:
            name = args.name or model_id(args.model)
            path = resolve_embedding_model(args.model)
            pool.add(load(name, path, args.lora, template), path)
    except BaseException:
        sock.close()
        raise
    try:
        app = create_app(pool, api_key=api_key, cors_origins=args.cors_origin, max_body_bytes=args.max_body)
        host = f"[{args.host}]" if ":" in args.host else args.host
        if pool.default in pool.loaded:
            engine = pool.loaded[pool.default].engine
            shape = (f"embeddings, {engine.n_ctx}-token window" if isinstance(engine, EmbeddingEngine)
                     else f"{engine.n_parallel} x {engine.n_ctx} tokens")
            what = f"{pool.default} ({shape}){', other installed models on demand' if pool.on_demand else ''}"
        else:
            what = f"the installed models on demand (up to {pool.max_loaded} loaded at once)"
        sys.stderr.write(f"llm4all serve: {what} on "
                         f"http://{host}:{port}/ (API: http://{host}:{port}/v1"
                         f"{', key required' if api_key else ''})\n")
        sys.stderr.flush()
        config = uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level,
                                timeout_graceful_shutdown=5, server_header=False)
        server = uvicorn.Server(config)
        if ready is not None:
            _when_started(server, lambda: ready(f"http://{host}:{port}/"))
        server.run(sockets=[sock])
    finally:
        sock.close()
        pool.close()
    return 0
