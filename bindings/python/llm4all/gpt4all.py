"""llm4all.gpt4all — the `gpt4all` Python package's API on the llm4all engine, so that a
script written for gpt4all runs with only its import line changed:

    from llm4all.gpt4all import GPT4All          # was: from gpt4all import GPT4All
    model = GPT4All("smollm2")                    # a catalogue name, a file in model_path, or a path
    with model.chat_session():
        print(model.generate("How can I run LLMs efficiently on my laptop?", max_tokens=1024))

Behaviour follows gpt4all 2.8.2 (the last release on PyPI; gpt4all/gpt4all.py and
_pyllmodel.py, and its C++ backend gpt4all-backend/llmodel_shared.cpp), plus the names of the
unreleased 3.x bindings (chat_session(system_message=, chat_template=) with Jinja templates,
a settable current_chat_session):

- generate(): gpt4all's own defaults (max_tokens=200, temp=0.7, top_k=40, top_p=0.4, min_p=0,
  repeat_penalty=1.18, repeat_last_n=64, n_batch=8); n_predict overrides max_tokens; temp=0 is
  greedy after the repeat penalty, as in gpt4all. Outside a chat session every call starts from
  an empty context (llm4all reuses a common KV prefix, which does not change the result).
  Generation also stops at gpt4all's built-in stop sequences ("### Instruction", "### Prompt",
  "### Response", "### Human", "### Assistant", "### Context"), which are never returned.
- callback(token_id, response) is called for every piece; a falsy return (False, and also None,
  as gpt4all's ctypes bool conversion does) stops generation. The piece that stopped it is
  part of the returned string and of the chat history, but is not yielded when streaming.
  streaming=True returns a generator of pieces.
- chat_session(system_message=None, chat_template=None) (2.8.2's names system_prompt= and
  prompt_template= too): current_chat_session is gpt4all 2.8's list, system message first
  ({"role": "system", "content": ""} when none is given; system_message=False leaves it out as
  in 3.x), then each user message and the assistant's reply (filled in while it streams).
  * A Jinja chat_template, or none: the model file's own template renders the whole history
    each turn (an empty system message is not rendered, so the template's default applies),
    through llm4all's ChatSession (KV prefix reuse, oldest turns dropped when n_ctx is full).
  * A gpt4all 2.8 prompt template ("{0}" for the user message and optionally "{1}" for the
    reply, formatted with str.format as gpt4all does; or the desktop app's "%1"/"%2", which
    2.8.2's Python API refused): gpt4all 2.8 applies it by feeding the system prompt raw
    (special tokens parsed), then per turn the text before the user placeholder, the message,
    the text up to the reply placeholder, the reply, and the text after it ("\\n\\n" when
    the template has no reply placeholder). The same text is built here from the history.
  * No chat_template and no template in the model file: 2.8.2's fallback,
    "### Human:\\n{0}\\n\\n### Assistant:\\n" with a DeprecationWarning (3.x raises instead).
- list_models() returns llm4all's catalogue in the shape of gpt4all's models3.json (order,
  name, filename, filesize as a string, sha256sum, url, description, type, parameters, quant,
  ramrequired, systemPrompt, promptTemplate; no md5sum: llm4all verifies sha256).
  retrieve_model() finds a file, fetching catalogue models (never from gpt4all.io); files
  gpt4all downloaded to ~/.cache/gpt4all (DEFAULT_MODEL_DIRECTORY) are found too. A catalogue
  model's config is its list_models() entry with promptTemplate in "{0}"/"{1}" form, as
  gpt4all's retrieve_model gives it, also with allow_download=False (gpt4all needs the network
  for it). list_gpus() raises ValueError("Unable to retrieve available GPU devices") when
  llm4all has no GPU device (emulated ones such as lavapipe do not count), as gpt4all does;
  so does device="gpu".
- chat_session's second positional argument is taken for a 2.8 prompt template when it has a
  "{0}" or "%1" placeholder and no Jinja syntax ("{%", "{{"), so 2.8.2 calls such as
  chat_session(system_template, prompt_template) keep working. A subclass overriding the
  deprecated _format_chat_prompt_template formats each message itself, as in 2.8.2.
- When the conversation outgrows n_ctx, the oldest turns after the system message are left
  out of the prompt (current_chat_session keeps them); a message that cannot fit at all raises
  MessageTooLong, a ValueError as in gpt4all 3.x and an llm4all.Error.

Not matched: prompts are tokenized with special tokens parsed (as gpt4all 3.x does; 2.8.2 did
not parse them in generate() prompts); gpt4all 2.8 tokenized a prompt template piece by piece,
llm4all tokenizes the whole text (the pieces meet at special tokens or newlines in real
templates); gpt4all shifts a full context during a reply, llm4all ends the reply (stop reason
"context_full"); a streamed reply that is abandoned stops (gpt4all finishes it in its
thread); n_batch and ngl are accepted and ignored (llm4all sizes prompt batches itself and
runs on the CPU). Embed4All runs llm4all's embedding models (default all-MiniLM-L6-v2).
"""

from __future__ import annotations

import json
import os
import re
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from . import _core
from .catalog import CATALOG, CatalogEntry, cache_dir, cached_path, is_cached, pull
from .model import Model

__all__ = ["GPT4All", "Embed4All", "CancellationError", "EmbeddingsUnavailable", "MessageTooLong",
           "DEFAULT_MODEL_DIRECTORY", "DEFAULT_PROMPT_TEMPLATE", "empty_response_callback",
           "append_extension_if_missing"]

# Where gpt4all itself keeps models: files found there are used as they are.
DEFAULT_MODEL_DIRECTORY = Path.home() / ".cache" / "gpt4all"

# gpt4all 2.8.2's template for chat sessions with neither a template nor a model default.
DEFAULT_PROMPT_TEMPLATE = "### Human:\n{0}\n\n### Assistant:\n"

# gpt4all 2.8.2 stops every reply at these (llmodel_shared.cpp, generateResponse).
STOP_SEQUENCES = ("### Instruction", "### Prompt", "### Response", "### Human", "### Assistant", "### Context")

ConfigType = Dict[str, Any]
MessageType = Dict[str, str]
ResponseCallbackType = Callable[[int, str], bool]

# What gpt4all's models3.json says about a model and our catalogue does not hold.
# promptTemplate is models3.json's per-turn form of the model's chat format ("%1" the user's
# message, "%2" the reply); chat sessions use the file's Jinja template, this is information.
_CHATML = "<|im_start|>user\n%1<|im_end|>\n<|im_start|>assistant\n%2<|im_end|>\n"
_GEMMA = "<start_of_turn>user\n%1<end_of_turn>\n<start_of_turn>model\n%2<end_of_turn>\n"
_CARD: Dict[str, Dict[str, str]] = {
    "smollm2": {"parameters": "135 million", "quant": "q4_1", "type": "llama", "ramrequired": "1",
                "promptTemplate": _CHATML},
    "gemma3": {"parameters": "270 million", "quant": "q4_k_m", "type": "gemma3", "ramrequired": "1",
               "promptTemplate": _GEMMA},
    "qwen05": {"parameters": "500 million", "quant": "q4_k_m", "type": "qwen2", "ramrequired": "1",
               "promptTemplate": _CHATML},
    "qwen15": {"parameters": "1.5 billion", "quant": "q4_k_m", "type": "qwen2", "ramrequired": "2",
               "promptTemplate": _CHATML},
}


def empty_response_callback(token_id: int, response: str) -> bool:
    return True


class CancellationError(Exception):
    """raised when embedding is canceled (gpt4all's name, kept for imports)"""


class EmbeddingsUnavailable(_core.Error, NotImplementedError):
    """Kept for scripts that import it: Embed4All works since issue 14 and no longer raises it."""


class MessageTooLong(_core.Error, ValueError):
    """The conversation does not fit n_ctx even with only the last turn kept (gpt4all 3.x
    raises ValueError here; an llm4all.Error too)."""


def _as_too_long(e: Exception) -> Exception:
    if isinstance(e, _core.Error) and getattr(e, "status_name", "") == "LLM4ALL_ERR_CONTEXT_FULL":
        return MessageTooLong(f"Your message was too long and could not be processed ({e})")
    return e


def _too_long_checked(pieces: Iterator[str]) -> Iterator[str]:
    try:
        yield from pieces
    except _core.Error as e:
        err = _as_too_long(e)
        if err is e:
            raise
        raise err from e


def append_extension_if_missing(model_name: str) -> str:
    if not model_name.endswith((".bin", ".gguf")):
        model_name += ".gguf"
    return model_name


# ---- the catalogue in models3.json's shape -----------------------------------------------


def _catalogue_entry(model_name: str) -> Optional[CatalogEntry]:
    """The catalogue entry model_name names, by name ("smollm2") or file name ("smollm2.gguf")."""
    if model_name in CATALOG:
        return CATALOG[model_name]
    for e in CATALOG.values():
        if not e.is_folder and model_name == e.filename:
            return e
    return None


def _config_of(entry: CatalogEntry, order: int) -> ConfigType:
    kind, first = entry.sources[0]  # the first source the catalogue tries
    url = first if kind == "url" else f"https://pypi.org/project/{first[0][0]}/{first[0][1]}/"
    human = entry.description.split(" (")[0]
    config: ConfigType = {
        "order": chr(ord("a") + order) if order < 26 else f"z{order}",
        "name": human,
        "filename": entry.filename,
        "filesize": str(entry.size),
        "sha256sum": entry.sha256,
        "url": url,
        "description": entry.description,
        "systemPrompt": "",
    }
    info = entry.info  # a catalogue entry without a card (e.g. from LLM4ALL_CATALOG): its own fields
    if "parameters" in info:
        config["parameters"] = f"{info['parameters'] / 1e9:g} billion" if info["parameters"] >= 1e9 else \
            f"{info['parameters'] / 1e6:g} million"
    if "quant" in info:
        config["quant"] = str(info["quant"]).lower()
    if "architecture" in info:
        config["type"] = info["architecture"]
    if info.get("ram"):
        config["ramrequired"] = str(-(-int(info["ram"]) // 10**9))  # whole GB, rounded up
    config.update(_CARD.get(entry.name, {}))
    return config


def _catalogue_configs() -> List[Tuple[CatalogEntry, ConfigType]]:
    ggufs = [e for e in CATALOG.values() if not e.is_folder]
    return [(e, _config_of(e, i)) for i, e in enumerate(ggufs)]


# ---- devices ------------------------------------------------------------------------------


def _gpu_devices() -> List[Tuple[str, str]]:
    """(backend, device name) of every usable GPU llm4all has. Emulated devices (Mesa's
    lavapipe runs Vulkan on the CPU) are not GPUs to gpt4all, which skips them too."""
    out = []
    for plugin in json.loads(_core.devices_json()):
        for dev in plugin.get("devices") or []:
            if dev.get("kind") != "cpu" and not dev.get("emulated") and plugin.get("score", 0) > 0:
                out.append((plugin["backend"], dev["name"]))
    return out


def _list_gpus() -> List[str]:
    gpus = _gpu_devices()
    if not gpus:
        # gpt4all's llmodel_available_gpu_devices gives NULL when there is none.
        raise ValueError("Unable to retrieve available GPU devices")
    return [f"{backend}:{name}" for backend, name in gpus]


def _engine_device(device: Optional[str]) -> str:
    """gpt4all's device argument as llm4all's backend choice."""
    if device is None or device == "cpu" or device == "auto" or device.startswith("cpu-"):
        return "cpu" if device is None else device  # gpt4all runs on the CPU unless asked
    gpus = _gpu_devices()
    if not gpus:
        raise ValueError("Unable to retrieve available GPU devices")
    backend_alias = {"kompute": "vulkan"}
    if device in ("gpu", "kompute", "cuda", "amd", "nvidia", "intel"):
        want = backend_alias.get(device, device)
        for backend, name in gpus:
            if device in ("gpu", "amd", "nvidia", "intel") and (device == "gpu" or device in name.lower()):
                return backend
            if backend == want:
                return backend
    else:
        prefix, _, rest = device.partition(":")
        for backend, name in gpus:
            if name == device or (rest and name == rest and backend == backend_alias.get(prefix, prefix)):
                return backend
    raise ValueError(f"Unable to initialize model on GPU: {device!r}\nAvailable GPUs: {_list_gpus()}")


# ---- GPT4All.model ----------------------------------------------------------------------


class LLModel:
    """What `GPT4All.model` is: gpt4all's low-level model object (its public surface:
    close, backend, device, thread_count, set_thread_count, list_gpus), over an
    llm4all.Model. Anything else is looked up on the llm4all.Model (`.llm4all`)."""

    def __init__(self, model_path: str, n_ctx: int, ngl: int, device: str, n_threads: Optional[int]) -> None:
        self.model_path = model_path.encode()
        self.n_ctx = n_ctx
        self.ngl = ngl
        self._threads = n_threads
        self.llm4all: Optional[Model] = Model(model_path, n_ctx=n_ctx, n_threads=n_threads, device=device,
                                              allow_download=False)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "llm4all":
            raise AttributeError(name)
        return getattr(self._live(), name)

    def _live(self) -> Model:
        if self.llm4all is None:
            raise ValueError("Attempted operation on a closed LLModel")
        return self.llm4all

    def close(self) -> None:
        self.llm4all = None

    @property
    def backend(self) -> str:
        """"cpu", or the GPU backend's name."""
        return str(self._live().info().get("backend", "cpu")).split("-")[0]

    @property
    def device(self) -> Optional[str]:
        """The GPU device's name, None on the CPU (as gpt4all)."""
        return None if self.backend == "cpu" else self._live().info().get("device")

    @staticmethod
    def list_gpus(mem_required: int = 0) -> List[str]:
        return _list_gpus()

    def thread_count(self) -> int:
        self._live()
        return self._threads or os.cpu_count() or 1

    def set_thread_count(self, n_threads: int) -> None:
        m = self._live()
        if isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1:
            raise ValueError(f"n_threads must be a positive integer, got {n_threads!r}")
        # The engine fixes threads when a session is made: make a new one (the next
        # call decodes its prompt afresh).
        m._n_threads = n_threads
        m._session = _core.Session(m._model, m.n_ctx, m._n_batch, n_threads, m._kv_type)
        self._threads = n_threads


# ---- Embed4All ------------------------------------------------------------------------------


class Embed4All:
    """gpt4all's embedding class over llm4all's embedding models (issue 14).

    model_name None = the catalogue's embedding model (all-MiniLM-L6-v2, as gpt4all's
    default); a catalogue name, a .gguf path, or gpt4all's file name of MiniLM
    ("all-MiniLM-L6-v2.gguf2.f16.gguf") also work. n_threads None = every core.
    """

    MIN_DIMENSIONALITY = 64

    def __init__(self, model_name: Optional[str] = None, *, n_threads: Optional[int] = None,
                 device: Optional[str] = None, **kwargs: Any) -> None:
        from .embeddings import DEFAULT_EMBED_MODEL

        model_path = kwargs.pop("model_path", None)
        if model_name is not None and model_path is not None and os.path.exists(os.path.join(model_path, model_name)):
            model_name = os.path.join(model_path, model_name)   # gpt4all's folder + file name
        elif model_name is None or model_name.lower().startswith("all-minilm-l6-v2"):
            model_name = DEFAULT_EMBED_MODEL
        allow_download = bool(kwargs.pop("allow_download", True))
        self.model: Optional[Model] = Model(model_name, n_threads=n_threads, device=_engine_device(device),
                                            allow_download=allow_download)
        if not self.model.is_embedding:
            name = model_name
            self.close()
            raise ValueError(f"{name!r} is not an embedding model")

    def __enter__(self) -> "Embed4All":
        return self

    def __exit__(self, typ: Optional[type], value: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        self.close()

    def close(self) -> None:
        """Frees the model."""
        self.model = None

    def embed(self, text: Union[str, List[str]], *, prefix: Optional[str] = None, dimensionality: Optional[int] = None,
              long_text_mode: str = "mean", return_dict: bool = False, atlas: bool = False,
              cancel_cb: Optional[Callable[[List[int], str], bool]] = None) -> Any:
        """One embedding (a str) or a list of them (a list of str), as gpt4all 2.8.

        prefix: the task without its trailing colon for models with task prefixes (nomic:
        "search_query", ...; EmbeddingGemma: "query", "document", ...; default: the
        document one); models without prefixes accept only None or "". dimensionality:
        Matryoshka size (None = full; only for models trained for it, e.g. EmbeddingGemma). long_text_mode: "mean" or "truncate". return_dict:
        {"embeddings": ..., "n_prompt_tokens": N}. cancel_cb(batch_sizes, backend) is called
        before the work with the token count of every forward pass; returning True cancels
        (CancellationError).
        """
        from .embeddings import MATRYOSHKA, PROMPTS, embed_vectors

        if self.model is None:
            raise ValueError("Embed4All: the model was closed")
        if not text:
            raise ValueError("text must not be None or empty")
        if dimensionality is not None:
            if dimensionality <= 0:
                raise ValueError(f"Dimensionality must be None or a positive integer, got {dimensionality}")
            if dimensionality < self.MIN_DIMENSIONALITY:
                warnings.warn(f"Dimensionality {dimensionality} is less than the suggested minimum of "
                              f"{self.MIN_DIMENSIONALITY}. Performance may be degraded.")
        if long_text_mode not in ("mean", "truncate"):
            raise ValueError(f"Long text mode must be one of 'mean' or 'truncate', got {long_text_mode!r}")
        m = self.model
        arch = m._model_arch()
        if dimensionality is not None and dimensionality != m.embedding_dim and arch not in MATRYOSHKA:
            # As gpt4all: only Matryoshka-trained models may be cut.
            raise RuntimeError(f"Failed to generate embeddings: unsupported dimensionality {dimensionality} for "
                               f"model {m.path.name} (supported: {m.embedding_dim})")
        prompts = PROMPTS.get(arch, {})
        if prompts:
            task = ("search_document" if "search_document" in prompts else "document") if prefix is None else prefix
            if task not in prompts:
                raise ValueError(f"{prefix!r} is not a valid task type for model {m.path.name} "
                                 f"(one of {', '.join(prompts)})")
            literal: Optional[str] = prompts[task]
        elif prefix:
            raise ValueError(f"{prefix!r} is not a valid task type for model {m.path.name}: it takes no prefix")
        else:
            literal = None
        asked: List[bool] = []
        cancelled: List[bool] = []

        def on_batch(sizes: List[int]) -> bool:
            # gpt4all asks once, before any work, with the token count of every pass.
            if asked or cancel_cb is None:
                return True
            asked.append(True)
            if cancel_cb(list(sizes), "cpu"):
                cancelled.append(True)
                return False
            return True

        try:
            single, vecs, n_tokens = embed_vectors(
                m._model, arch, text, dimensionality=dimensionality, prefix=literal, long_text_mode=long_text_mode,
                n_threads=m._n_threads, on_batch=on_batch if cancel_cb is not None else None)
        except _core.Error as e:
            if cancelled:
                raise CancellationError("operation was canceled") from None
            raise RuntimeError(f"Failed to generate embeddings: {e}") from None
        embeddings = vecs[0] if single else vecs
        if not return_dict:
            return embeddings
        # gpt4all counts the texts' own tokens: no special tokens, no prefix, no window overlap.
        limit = m.n_ctx_train - 2 if long_text_mode == "truncate" else None
        n_text = sum(len(m.tokenize(t, add_special=False)[:limit]) for t in ([text] if single else text))
        return {"embeddings": embeddings, "n_prompt_tokens": n_text}


# ---- GPT4All --------------------------------------------------------------------------------


def _is_legacy_template(template: str) -> bool:
    """A gpt4all 2.8 prompt template ({0} or %1 placeholders) rather than a Jinja one."""
    if "{%" in template or "{{" in template:
        return False
    return "{0}" in template or re.search(r"%1(?![0-9])", template) is not None


class _LegacyTemplate:
    """A gpt4all 2.8 prompt template split as llmodel_shared.cpp's LLModel::prompt splits it."""

    def __init__(self, template: str) -> None:
        if "{0}" in template or not re.search(r"%1(?![0-9])", template):
            # gpt4all.py: self._current_prompt_template.format("%1", "%2")
            template = template.format("%1", "%2")
        places = list(re.finditer(r"%[1-2](?![0-9])", template))
        if len(places) > 2:
            raise ValueError(f"prompt template: expected at most two placeholders, got {len(places)}")
        if places and places[0].group() != "%1":
            raise ValueError(f"prompt template: first placeholder must be %1, got {places[0].group()}")
        if len(places) == 2 and places[1].group() != "%2":
            raise ValueError(f"prompt template: second placeholder must be %2, got {places[1].group()}")
        if not places:  # "unusual, but well-defined": the template alone is the prompt
            self.prefix, self.user, self.middle, self.suffix = template, False, "", "\n\n"
            return
        self.user = True
        self.prefix = template[:places[0].start()]
        end = places[1].start() if len(places) == 2 else len(template)
        self.middle = template[places[0].end():end]
        # After the reply: the rest of the template, or a blank line (gpt4all's default).
        self.suffix = template[places[1].end():] if len(places) == 2 else "\n\n"

    def turn(self, user: str) -> str:
        return self.prefix + (user if self.user else "") + self.middle


class GPT4All:
    """gpt4all's GPT4All class: load a model, generate, and chat (see the module doc)."""

    def __init__(self, model_name: str, model_path: Union[str, os.PathLike, None] = None,
                 model_type: Optional[str] = None, allow_download: bool = True, n_threads: Optional[int] = None,
                 device: Optional[str] = None, n_ctx: int = 2048, ngl: int = 100, verbose: bool = False) -> None:
        self.model_type = model_type
        self._history: Optional[List[MessageType]] = None
        self._current_prompt_template: str = "{0}"
        self._session_mode: Optional[str] = None    # "jinja" or "legacy" inside chat_session
        self._jinja_template: Optional[str] = None
        self._legacy: Optional[_LegacyTemplate] = None
        self._chat: Any = None                      # (engine session, ChatSession, template) of a Jinja session
        engine_device = _engine_device(device)
        self.config: ConfigType = self.retrieve_model(model_name, model_path=model_path,
                                                      allow_download=allow_download, verbose=verbose)
        self.model = LLModel(self.config["path"], n_ctx, ngl, engine_device, n_threads)

    def __enter__(self) -> "GPT4All":
        return self

    def __exit__(self, typ: Optional[type], value: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        self.close()

    def close(self) -> None:
        """Delete the model instance and free associated system resources."""
        self._chat = None
        self.model.close()

    @property
    def backend(self) -> str:
        """The backend in use: "cpu" (llm4all has no GPU backend yet)."""
        return self.model.backend

    @property
    def device(self) -> Optional[str]:
        """The GPU device in use, or None on the CPU."""
        return self.model.device

    @property
    def current_chat_session(self) -> Optional[List[MessageType]]:
        return None if self._history is None else list(self._history)

    @current_chat_session.setter
    def current_chat_session(self, history: List[MessageType]) -> None:
        if self._history is None:
            raise ValueError("current_chat_session may only be set when there is an active chat session")
        self._history[:] = history

    # ---- models ------------------------------------------------------------------------

    @staticmethod
    def list_models() -> List[ConfigType]:
        """llm4all's catalogue (`llm4all list`) as gpt4all's models3.json list of dicts."""
        return [config for _, config in _catalogue_configs()]

    @classmethod
    def retrieve_model(cls, model_name: str, model_path: Union[str, os.PathLike, None] = None,
                       allow_download: bool = True, verbose: bool = False) -> ConfigType:
        """Finds the model file, fetching a catalogue model when allowed; returns its
        config (the list_models() entry for catalogue models) with "path" set."""
        model_filename = append_extension_if_missing(model_name)
        entry = _catalogue_entry(model_name) or _catalogue_entry(model_filename)
        config: ConfigType = {}
        if entry is not None:
            if entry.is_folder:
                raise ValueError(f"{model_name!r} is a Hugging Face checkpoint folder, not a GGUF model")
            config.update(next(c for e, c in _catalogue_configs() if e is entry))
            if "promptTemplate" in config:  # gpt4all.py: "change to Python-style formatting"
                config["promptTemplate"] = config["promptTemplate"].replace("%1", "{0}", 1).replace("%2", "{1}", 1)
            model_filename = entry.filename

        def found(path: Path) -> ConfigType:
            config["path"] = str(path)
            if verbose:
                print(f"Found model file at {str(path)!r}", file=sys.stderr)
            return config

        if model_path is not None:
            directory = Path(model_path)
            if not directory.exists():
                raise FileNotFoundError(f"Model directory does not exist: {directory!r}")
            dest = directory / model_filename
            if dest.exists():
                return found(dest)
            if entry is not None and allow_download:
                config["path"] = str(pull(entry.name, cache_dir=directory, progress=verbose or sys.stderr.isatty()))
                return config
            raise FileNotFoundError(f"Model file does not exist: {dest!r}" + _hint(entry, allow_download))

        if os.path.isfile(model_name):
            return found(Path(model_name))
        if entry is not None:
            if is_cached(entry.name):
                return found(cached_path(entry.name))
            if allow_download:
                config["path"] = str(pull(entry.name, progress=verbose or sys.stderr.isatty()))
                return config
            raise FileNotFoundError(f"Model file does not exist: {cached_path(entry.name)!r}"
                                    + _hint(entry, allow_download))
        for directory in (DEFAULT_MODEL_DIRECTORY, cache_dir()):
            if (directory / model_filename).is_file():
                return found(directory / model_filename)
        raise FileNotFoundError(f"Model file does not exist: {DEFAULT_MODEL_DIRECTORY / model_filename!r}"
                                + _hint(entry, allow_download))

    @staticmethod
    def download_model(model_filename: str, model_path: Union[str, os.PathLike], verbose: bool = True,
                       url: Optional[str] = None, expected_size: Optional[int] = None,
                       expected_md5: Optional[str] = None) -> Path:
        """Fetches a catalogue model into model_path (llm4all downloads nothing else)."""
        entry = _catalogue_entry(model_filename)
        if entry is None or entry.is_folder or url is not None:
            raise ValueError(f"llm4all downloads only the models of its catalogue "
                             f"({', '.join(c['filename'] for c in GPT4All.list_models())}), not {model_filename!r}")
        return pull(entry.name, cache_dir=model_path, progress=verbose)

    @staticmethod
    def list_gpus() -> List[str]:
        """Names of the GPU devices ("backend:name"); ValueError when there are none, as gpt4all."""
        return _list_gpus()

    # ---- generation ----------------------------------------------------------------------

    def generate(self, prompt: str, *, max_tokens: int = 200, temp: float = 0.7, top_k: int = 40,
                 top_p: float = 0.4, min_p: float = 0.0, repeat_penalty: float = 1.18, repeat_last_n: int = 64,
                 n_batch: int = 8, n_predict: Optional[int] = None, streaming: bool = False,
                 callback: ResponseCallbackType = empty_response_callback) -> Any:
        """Generate outputs from any GPT4All model.

        Args:
            prompt: The prompt for the model to complete (in a chat session: the user's message).
            max_tokens: The maximum number of tokens to generate.
            temp: The model temperature (0: greedy).
            top_k, top_p, min_p: sampling filters, as in gpt4all.
            repeat_penalty, repeat_last_n: penalty on the last repeat_last_n tokens (prompt included).
            n_batch: accepted for compatibility (llm4all chooses its prompt batches).
            n_predict: Equivalent to max_tokens, exists for backwards compatibility.
            streaming: If True, return a generator that yields the reply piece by piece.
            callback: callback(token_id, response) -> bool; a falsy return stops generation.

        Returns:
            Either the entire completion or a generator that yields it piece by piece.
        """
        llm = self.model._live()
        if isinstance(n_batch, bool) or not isinstance(n_batch, int) or n_batch <= 0:
            raise ValueError(f"n_batch must be a positive integer, got {n_batch!r}")
        sampling = dict(max_tokens=n_predict if n_predict is not None else max_tokens, temp=temp, top_k=top_k,
                        top_p=top_p, min_p=min_p, repeat_penalty=repeat_penalty, repeat_last_n=repeat_last_n,
                        stop=list(STOP_SEQUENCES))

        # gpt4all collects the reply in the callback, before the user's callback sees it:
        # the piece that stops generation is part of the reply.
        collector: MessageType = {"content": ""}
        if self._history is not None:
            run = self._chat_turn(llm, prompt, sampling["max_tokens"])
            collector = {"role": "assistant", "content": ""}
            self._history.append(collector)
        else:
            def run(**kw: Any) -> Any:
                return llm.generate(prompt, **kw)

        def on_piece(token_id: int, response: str) -> bool:
            collector["content"] += response
            return bool(callback(token_id, response))

        if sampling["max_tokens"] == 0:  # gpt4all: nothing requested, nothing generated
            return iter(()) if streaming else ""
        if streaming:
            return _too_long_checked(run(streaming=True, callback=on_piece, **sampling))
        try:
            run(callback=on_piece, **sampling)
        except _core.Error as e:
            err = _as_too_long(e)
            if err is e:
                raise
            raise err from e
        return collector["content"]

    def _chat_turn(self, llm: Model, prompt: str, max_tokens: int) -> Callable[..., Any]:
        """Adds the user's message to the history and returns the call that answers it."""
        assert self._history is not None
        before = list(self._history)
        self._history.append({"role": "user", "content": prompt})
        overridden = type(self)._format_chat_prompt_template is not GPT4All._format_chat_prompt_template
        if self._session_mode == "jinja" and not overridden:
            # The model's template renders the history without an empty system message
            # (the template's own default applies, as with no system message at all).
            earlier = [{"role": m["role"], "content": m["content"]} for m in before
                       if not (m.get("role") == "system" and not m.get("content"))]

            template = self._jinja_template  # a stream may start after the session ends

            def run_jinja(**kw: Any) -> Any:
                return self._engine_chat(llm, earlier, template).send(prompt, **kw)
            return run_jinja

        if overridden:  # gpt4all 2.8 lets a subclass's formatter win over any template
            text = self._overridden_transcript(before, prompt)
        else:
            text = self._fitted_transcript(llm, before, prompt, max_tokens)

        def run_legacy(**kw: Any) -> Any:
            return llm.generate(text, **kw)
        return run_legacy

    def _engine_chat(self, llm: Model, earlier: List[MessageType], template: Optional[str]) -> Any:
        """The llm4all ChatSession holding exactly the messages `earlier`: the one of the
        last turn when it does (its KV prefix is reused either way), else a new one. A new
        one is also made when the engine session changed (set_thread_count)."""
        if self._chat is not None and self._chat[0] is llm._session and self._chat[2] == template:
            held = [{"role": m.get("role"), "content": m.get("content")} for m in self._chat[1].history]
            if held == earlier:
                return self._chat[1]
        system = earlier[0]["content"] if earlier and earlier[0]["role"] == "system" else None
        chat = llm.chat_session(system_message=system, template=template)
        for m in earlier[1 if system is not None else 0:]:
            chat.add_message(m)
        self._chat = (llm._session, chat, template)
        return chat

    def _fitted_transcript(self, llm: Model, history: List[MessageType], prompt: str, max_tokens: int) -> str:
        """The 2.8 transcript of history plus the new turn, without its oldest turns (after
        the system prompt) while it leaves less than min(max_tokens, n_ctx/4) tokens to
        answer in: gpt4all shifts its context when full; llm4all's chat sessions drop the
        oldest turns by this rule, so both kinds of session do the same. The history keeps
        every turn, as gpt4all's does."""
        n_ctx = llm.n_ctx
        reserve = max(1, min(max_tokens, n_ctx // 4))
        start = 1 if history and history[0].get("role") == "system" else 0
        head = history[:start]
        while True:
            text = self._legacy_transcript(head + history[start:]) + self._legacy_template().turn(prompt)
            n = len(llm.tokenize(text, True, True))
            if n + reserve <= n_ctx:
                return text
            later = [i for i in range(start + 1, len(history)) if history[i].get("role") == "user"]
            if start < len(history):
                start = later[0] if later else len(history)
                continue
            if n < n_ctx:
                return text
            # gpt4all 3.x says this with a ValueError too
            raise MessageTooLong(f"Your message was too long and could not be processed ({n} > {n_ctx - reserve}).")

    def _legacy_template(self) -> _LegacyTemplate:
        if self._legacy is None:
            self._legacy = _LegacyTemplate(self._current_prompt_template)
        return self._legacy

    def _legacy_transcript(self, history: Sequence[MessageType]) -> str:
        """The text gpt4all 2.8 has fed the model for history: the raw system prompt, then
        each turn's template pieces around the user's message and the reply."""
        tmpl = self._legacy_template()
        text = ""
        i = 0
        if history and history[0].get("role") == "system":
            text += history[0].get("content", "")
            i = 1
        pending_user: Optional[str] = None
        for m in history[i:]:
            if m.get("role") == "user":
                if pending_user is not None:  # a user message without a reply
                    text += tmpl.turn(pending_user) + tmpl.suffix
                pending_user = m.get("content", "")
            elif m.get("role") == "assistant":
                text += tmpl.turn(pending_user or "") + m.get("content", "") + tmpl.suffix
                pending_user = None
        if pending_user is not None:
            text += tmpl.turn(pending_user) + tmpl.suffix
        return text

    def _overridden_transcript(self, history: Sequence[MessageType], prompt: str) -> str:
        # gpt4all 2.8: a subclass's _format_chat_prompt_template formats each new message
        # (with the system prompt on the first turn), used with the template "%1".
        warnings.warn("_format_chat_prompt_template is deprecated. Please use a chat session with a prompt "
                      "template.", DeprecationWarning, stacklevel=3)
        text = ""
        system = history[0]["content"] if history and history[0].get("role") == "system" else ""
        turns = [m for m in history if m.get("role") in ("user", "assistant")]
        first = True
        for k, m in enumerate(turns):
            if m["role"] == "user":
                text += self._format_chat_prompt_template([m], system if first else "")
                first = False
                if k + 1 < len(turns) and turns[k + 1]["role"] == "assistant":
                    text += turns[k + 1]["content"] + "\n\n"
        return text + self._format_chat_prompt_template([{"role": "user", "content": prompt}],
                                                        system if first else "")

    @contextmanager
    def chat_session(self, system_message: Union[str, bool, None] = None, chat_template: Optional[str] = None,
                     *, system_prompt: Optional[str] = None,
                     prompt_template: Optional[str] = None) -> Iterator["GPT4All"]:
        """Context manager to hold a chat session with the model.

        Args:
            system_message (or gpt4all 2.8's system_prompt): An initial instruction for the
                model; False leaves the system message out.
            chat_template: A Jinja chat template, or a gpt4all 2.8 prompt template ("{0}"
                for the user message); None uses the model's own template.
            prompt_template: gpt4all 2.8's name for a prompt template.
        """
        if system_prompt is not None:
            if system_message is not None:
                raise TypeError("chat_session() got both system_message and system_prompt")
            system_message = system_prompt
        if prompt_template is not None:
            if chat_template is not None:
                raise TypeError("chat_session() got both chat_template and prompt_template")
            chat_template = prompt_template
        if system_message is None:
            system_message = self.config.get("systemPrompt", "")

        llm = self.model._live()
        self._legacy = None
        if chat_template is None and llm.chat_template is not None:
            mode, template = "jinja", llm.chat_template
        elif chat_template is None:
            warnings.warn("Use of a sideloaded model or allow_download=False without specifying a prompt template "
                          "is deprecated. Defaulting to Alpaca.", DeprecationWarning, stacklevel=3)
            mode, template = "legacy", DEFAULT_PROMPT_TEMPLATE
        elif prompt_template is not None or _is_legacy_template(chat_template):
            mode, template = "legacy", chat_template
        else:
            mode, template = "jinja", chat_template

        history: List[MessageType] = []
        if system_message is not False:
            history.append({"role": "system", "content": "" if system_message is True else str(system_message)})
        self._session_mode = mode
        if mode == "legacy":
            self._current_prompt_template = template
            self._legacy_template()  # a malformed template fails here, as in gpt4all
        else:
            self._jinja_template = template
        self._chat = None
        self._history = history
        try:
            yield self
        finally:
            self._history = None
            self._current_prompt_template = "{0}"
            self._session_mode = None
            self._jinja_template = None
            self._legacy = None
            self._chat = None

    def _format_chat_prompt_template(self, messages: List[MessageType], default_prompt_header: str = "",
                                     default_prompt_footer: str = "") -> str:
        """gpt4all 2.8's deprecated helper: messages formatted with the current prompt template."""
        full_prompt = default_prompt_header + "\n\n" if default_prompt_header != "" else ""
        for message in messages:
            if message["role"] == "user":
                full_prompt += self._current_prompt_template.format(message["content"])
            if message["role"] == "assistant":
                full_prompt += message["content"] + "\n"
        full_prompt += "\n\n" + default_prompt_footer if default_prompt_footer != "" else ""
        return full_prompt


def _hint(entry: Optional[CatalogEntry], allow_download: bool) -> str:
    if entry is not None and not allow_download:
        return f" (allow_download=False; `llm4all pull {entry.name}` fetches it)"
    names = ", ".join(c["filename"] for c in GPT4All.list_models())
    return f" (llm4all fetches only its catalogue models: {names}; or pass a .gguf path or model_path=)"


# `from gpt4all import GPT4All, gpt4all` (gpt4all's docs, to set gpt4all.DEFAULT_MODEL_DIRECTORY)
# becomes `from llm4all.gpt4all import GPT4All, gpt4all`: the name is this module.
gpt4all = sys.modules[__name__]
