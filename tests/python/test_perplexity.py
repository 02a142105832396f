"""Perplexity on the first 16 chunks of 512 tokens of wikitext-2 agrees with
llama.cpp's llama-perplexity (golden/perplexity.json) within 0.5%."""
import json

import pytest

import llm4all

MODELS = {"stories260k": "stories260K.gguf", "smollm2": "SmolLM2-135M-Instruct.Q4_1.gguf",
          "gemma3": "gemma-3-270m-q4_k_m.gguf", "qwen05": "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
          "qwen15": "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"}
# Minutes each on 2 cores (qwen05: about 3.5 CPU-minutes for its 8192 tokens).
SLOW = {"qwen05", "qwen15"}


@pytest.mark.parametrize("model_fixture", [pytest.param(m, marks=pytest.mark.slow) if m in SLOW else m
                                           for m in sorted(MODELS)])
def test_perplexity_matches_llamacpp(request, testdata, model_fixture):
    path = request.getfixturevalue(model_fixture)
    ref = json.loads((testdata / "golden" / "perplexity.json").read_text())["models"][MODELS[model_fixture]]
    text = (testdata / "ppl" / "wiki.test.raw").read_bytes().decode("utf-8").replace("\r\n", "\n")
    model = llm4all.Model(str(path), n_ctx=512, n_threads=2)
    result = model.perplexity(text, n_ctx=512, n_chunks=16)
    ppl = result["ppl"] if isinstance(result, dict) else result
    want = ref["ppl_flash_attn_off"]
    print(f"{model_fixture}: ppl {ppl:.4f} vs llama.cpp {want:.4f} ({(ppl / want - 1) * 100:+.3f}%)")
    assert abs(ppl / want - 1) <= 0.005
