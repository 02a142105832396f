"""Pydantic models of every request and response of the OpenAI-compatible API.

Requests are validated strictly (a string is not a number, 1.5 is not an integer, NaN is
refused) with OpenAI's ranges; fields we do not know are ignored as OpenAI does, and the
llama.cpp extras (top_k, min_p, repeat_penalty, repeat_last_n) are accepted.
"""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_serializer

_REQUEST = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False)
_SEED = Field(default=None, ge=-(2 ** 63), le=2 ** 64 - 1)


class _Lean(BaseModel):
    """Serialises without the fields that are None (deltas and messages omit what is absent)."""

    @model_serializer(mode="wrap")
    def _drop_none(self, handler: Any) -> Dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}


# ---- requests ------------------------------------------------------------------------------

class ContentPart(BaseModel):
    model_config = _REQUEST
    type: str
    text: Optional[str] = None


class FunctionCall(BaseModel):
    model_config = _REQUEST
    name: str
    arguments: str = ""


class ToolCall(BaseModel):
    model_config = _REQUEST
    id: Optional[str] = None
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(BaseModel):
    model_config = _REQUEST
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: Union[str, List[ContentPart], None] = None
    name: Optional[str] = None
    tool_calls: Optional[List[ToolCall]] = None
    tool_call_id: Optional[str] = None
    reasoning_content: Optional[str] = None


class FunctionDef(BaseModel):
    model_config = _REQUEST
    name: str = Field(min_length=1, max_length=256)
    description: Optional[str] = None
    parameters: Optional[Dict[str, Any]] = None
    strict: Optional[bool] = None


class Tool(BaseModel):
    model_config = _REQUEST
    type: Literal["function"]
    function: FunctionDef


class NamedFunction(BaseModel):
    model_config = _REQUEST
    name: str


class NamedToolChoice(BaseModel):
    model_config = _REQUEST
    type: Literal["function"]
    function: NamedFunction


class JSONSchemaFormat(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False, populate_by_name=True)
    name: Optional[str] = None
    description: Optional[str] = None
    schema_: Optional[Dict[str, Any]] = Field(default=None, alias="schema")
    strict: Optional[bool] = None


class ResponseFormat(BaseModel):
    model_config = _REQUEST
    type: Literal["text", "json_object", "json_schema"]
    json_schema: Optional[JSONSchemaFormat] = None


class StreamOptions(BaseModel):
    model_config = _REQUEST
    include_usage: Optional[bool] = None


class _Sampling(BaseModel):
    """Fields chat and completions share."""
    model_config = _REQUEST
    model: Optional[str] = None
    temperature: Optional[float] = Field(default=None, ge=0, le=2)
    top_p: Optional[float] = Field(default=None, ge=0, le=1)
    n: Optional[int] = Field(default=None, ge=1, le=128)
    stream: Optional[bool] = None
    stream_options: Optional[StreamOptions] = None
    stop: Union[str, List[str], None] = None
    seed: Optional[int] = _SEED
    presence_penalty: Optional[float] = Field(default=None, ge=-2, le=2)
    frequency_penalty: Optional[float] = Field(default=None, ge=-2, le=2)
    logit_bias: Optional[Dict[str, float]] = None
    user: Optional[str] = None
    # llama.cpp's extras
    top_k: Optional[int] = Field(default=None, ge=-1, le=2 ** 31 - 1)
    min_p: Optional[float] = Field(default=None, ge=0, le=1)
    repeat_penalty: Optional[float] = Field(default=None, gt=0, le=100)
    repeat_last_n: Optional[int] = Field(default=None, ge=0, le=2 ** 31 - 1)


class ChatCompletionRequest(_Sampling):
    messages: List[ChatMessage] = Field(min_length=1)
    max_tokens: Optional[int] = Field(default=None, ge=1, le=2 ** 31 - 1)
    max_completion_tokens: Optional[int] = Field(default=None, ge=1, le=2 ** 31 - 1)
    logprobs: Optional[bool] = None
    top_logprobs: Optional[int] = Field(default=None, ge=0, le=20)
    response_format: Optional[ResponseFormat] = None
    tools: Optional[List[Tool]] = None
    tool_choice: Union[Literal["none", "auto", "required"], NamedToolChoice, None] = None
    parallel_tool_calls: Optional[bool] = None
    # llama.cpp's extra: template variables such as enable_thinking
    chat_template_kwargs: Optional[Dict[str, Any]] = None
    # llm4all's extra: LocalDocs collections to answer from (serve/localdocs.py)
    localdocs: Optional[List[str]] = None


class CompletionRequest(_Sampling):
    # text, texts (one choice each), or the same as token ids
    prompt: Union[str, List[str], List[int], List[List[int]]]
    max_tokens: Optional[int] = Field(default=16, ge=0, le=2 ** 31 - 1)
    echo: Optional[bool] = None
    logprobs: Optional[int] = Field(default=None, ge=0, le=20)
    suffix: Optional[str] = None
    best_of: Optional[int] = Field(default=None, ge=1, le=1)


# ---- responses -----------------------------------------------------------------------------

class PromptTokensDetails(BaseModel):
    cached_tokens: int = 0


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails = PromptTokensDetails()


class TopLogprob(BaseModel):
    token: str
    logprob: float
    bytes: Optional[List[int]] = None


class TokenLogprobOut(BaseModel):
    token: str
    logprob: float
    bytes: Optional[List[int]] = None
    top_logprobs: List[TopLogprob] = []


class ChoiceLogprobs(BaseModel):
    content: Optional[List[TokenLogprobOut]] = None
    refusal: Optional[List[TokenLogprobOut]] = None


class FunctionCallOut(BaseModel):
    name: str
    arguments: str


class ToolCallOut(BaseModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCallOut


class AssistantMessage(_Lean):
    role: Literal["assistant"] = "assistant"
    content: Optional[str] = None
    reasoning_content: Optional[str] = None
    tool_calls: Optional[List[ToolCallOut]] = None

    @model_serializer(mode="wrap")
    def _drop_none(self, handler: Any) -> Dict[str, Any]:
        # "content" stays (null beside tool calls, as OpenAI answers); the extras go when absent.
        d = handler(self)
        return {k: v for k, v in d.items() if v is not None or k == "content"}


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    logprobs: Optional[ChoiceLogprobs] = None
    finish_reason: Optional[str] = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    system_fingerprint: Optional[str] = None
    choices: List[ChatChoice]
    usage: Usage


class ToolCallDeltaFunction(_Lean):
    name: Optional[str] = None
    arguments: Optional[str] = None


class ToolCallDelta(_Lean):
    index: int
    id: Optional[str] = None
    type: Optional[Literal["function"]] = None
    function: Optional[ToolCallDeltaFunction] = None


class ChatDelta(_Lean):
    role: Optional[Literal["assistant"]] = None
    content: Optional[str] = None
    reasoning_content: Optional[str] = None
    tool_calls: Optional[List[ToolCallDelta]] = None


class ChatChunkChoice(BaseModel):
    index: int
    delta: ChatDelta
    logprobs: Optional[ChoiceLogprobs] = None
    finish_reason: Optional[str] = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    system_fingerprint: Optional[str] = None
    choices: List[ChatChunkChoice]
    usage: Optional[Usage] = None


class LegacyLogprobs(BaseModel):
    tokens: List[str] = []
    token_logprobs: List[Optional[float]] = []
    top_logprobs: List[Optional[Dict[str, float]]] = []
    text_offset: List[int] = []


class CompletionChoice(BaseModel):
    index: int
    text: str
    logprobs: Optional[LegacyLogprobs] = None
    finish_reason: Optional[str] = None


class Completion(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    system_fingerprint: Optional[str] = None
    choices: List[CompletionChoice]
    usage: Optional[Usage] = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "llm4all"
    # not OpenAI's, but clients use it to size prompts
    context_length: Optional[int] = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: List[ModelCard]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    model: Optional[str] = None     # the default model (the command line's), whose slots are counted
    loaded: List[str] = []          # the models loaded now
    slots_busy: int
    queued: int
    n_parallel: int
    n_ctx: int


# ---- embeddings ------------------------------------------------------------------------------

class EmbeddingRequest(BaseModel):
    """POST /v1/embeddings: `input` is a string, a list of strings, a list of token ids or
    a list of token-id lists (OpenAI's four forms)."""
    model_config = _REQUEST
    input: Union[str, List[str], List[int], List[List[int]]]
    model: Optional[str] = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Optional[int] = Field(default=None, ge=1)
    user: Optional[str] = None


class EmbeddingData(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: Union[List[float], str]   # base64 of little-endian float32 with encoding_format "base64"


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: List[EmbeddingData]
    model: str
    usage: EmbeddingUsage
