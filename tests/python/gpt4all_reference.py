"""Runs the real gpt4all package (2.8.x, its own llama.cpp backend) on a GGUF file and prints, as
JSON, what test_gpt4all_compat.py compares llm4all.gpt4all with: replies, the token ids each
callback saw, the tokens gpt4all holds in its context, chat histories and error types.

    python gpt4all_reference.py MODEL.gguf      (under an interpreter where `import gpt4all` works)
"""

import json
import sys
import warnings
from pathlib import Path

from gpt4all import GPT4All

CHATML_SYSTEM = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
CHATML_TEMPLATE = "<|im_start|>user\n{0}<|im_end|>\n<|im_start|>assistant\n{1}<|im_end|>\n"
VICUNA_SYSTEM = "A chat between a curious user and an artificial intelligence assistant.\n"
VICUNA_TEMPLATE = "USER: {0}\nASSISTANT: "
STOP_PROMPT = ("### Human: Hello, who are you?\n### Assistant: I am a helpful assistant.\n"
               "### Human: What is the capital of France?\n### Assistant:")
GREEDY = dict(temp=0, repeat_penalty=1.0)


def context_tokens(model):
    ctx = model.model.context
    return [int(ctx.tokens[i]) for i in range(ctx.tokens_size)]


def generate(model, prompt, **kw):
    seen = []

    def cb(token_id, piece):
        seen.append([token_id, piece])
        return True
    text = model.generate(prompt, callback=cb, **kw)
    return {"text": text, "pieces": seen, "context": context_tokens(model)}


def chat(model, system, template, prompts, **kw):
    with model.chat_session(system, template):
        for p in prompts:
            model.generate(p, **kw)
        return {"history": model.current_chat_session, "context": context_tokens(model)}


def error_of(fn):
    try:
        fn()
    except Exception as e:  # the type and message are what is compared
        return [type(e).__name__, str(e)]
    return None


def main() -> None:
    path = Path(sys.argv[1])
    model = GPT4All(path.name, model_path=path.parent, allow_download=False, device="cpu")
    out = {"version": __import__("gpt4all").__name__}
    out["generate"] = generate(model, "The capital of France is", max_tokens=24, **GREEDY)
    out["generate_defaults_temp0"] = generate(model, "The capital of France is", max_tokens=24, temp=0)
    out["stop_sequence"] = generate(model, STOP_PROMPT, max_tokens=40, **GREEDY)

    n = [0]

    def stop_third(token_id, piece):
        n[0] += 1
        return n[0] < 3
    out["callback_none"] = model.generate("The capital of France is", max_tokens=10, temp=0,
                                          callback=lambda t, s: None)
    out["callback_false"] = model.generate("The capital of France is", max_tokens=10, temp=0, callback=stop_third)
    n[0] = 0
    out["callback_false_streaming"] = list(model.generate("The capital of France is", max_tokens=10, temp=0,
                                                          callback=stop_third, streaming=True))
    out["chatml_chat"] = chat(model, CHATML_SYSTEM, CHATML_TEMPLATE, ["What is 2+2?", "And times 3?"],
                              max_tokens=24, **GREEDY)
    out["vicuna_chat"] = chat(model, VICUNA_SYSTEM, VICUNA_TEMPLATE,
                              ["why is the grass green?", "why is the sky blue?"], max_tokens=24, **GREEDY)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out["default_chat"] = chat(model, None, None, ["hi"], max_tokens=12, **GREEDY)
    out["default_chat_warning"] = [w.category.__name__ for w in caught]
    out["percent_template_error"] = error_of(lambda: model.chat_session(prompt_template="%1").__enter__())
    out["list_gpus_error"] = error_of(GPT4All.list_gpus)
    out["gpu_device_error"] = error_of(lambda: GPT4All(path.name, model_path=path.parent, allow_download=False,
                                                       device="gpu"))
    out["missing_error"] = error_of(lambda: GPT4All("missing.gguf", model_path=path.parent, allow_download=False))
    model.close()
    out["closed_error"] = error_of(lambda: model.generate("x"))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
