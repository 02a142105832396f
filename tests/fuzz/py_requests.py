"""py_requests.py — atheris (libFuzzer for Python) target for the server's request
parsing: arbitrary bytes as the JSON body of /v1/chat/completions, /v1/completions and
/v1/embeddings (the pydantic request models through serve.app._parse), the chat
message and tool fields the server reads afterwards, and the parsers of model output
the server runs on every reply (tool calls, reasoning). A parse must give a request
or a clean APIError (answered as 400); any other exception is a finding.

Usage: python3 tests/fuzz/py_requests.py [libFuzzer flags] [CORPUS_DIR...]
"""

import sys

import atheris

with atheris.instrument_imports():
    from llm4all.serve import app, reasoning, tools
    from llm4all.serve.errors import APIError
    from llm4all.serve.schemas import ChatCompletionRequest, CompletionRequest, EmbeddingRequest

MODELS = (ChatCompletionRequest, CompletionRequest, EmbeddingRequest)


def one_input(data: bytes) -> None:
    if not data:
        return
    model, body = MODELS[data[0] % len(MODELS)], data[1:]
    try:
        req = app._parse(model, body)
    except APIError:
        req = None
    if req is not None:
        # What the handlers read next must hold up on anything the model accepted.
        req.model_dump_json()
        if hasattr(req, "stop"):
            try:
                app._stops(req.stop)
            except APIError:
                pass
        if isinstance(req, ChatCompletionRequest):
            specs = [t.model_dump() for t in req.tools or []]
            for m in req.messages:
                if isinstance(m.content, str):
                    tools.parse_tool_calls(m.content, specs)
                    reasoning.split_reasoning(m.content, False)
    # The raw bytes as model output: the reply parsers must never raise.
    text = body.decode("utf-8", "replace")
    tools.parse_tool_calls(text, None)
    tools.find_tool_call_start(text)
    reasoning.split_reasoning(text, True)


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
