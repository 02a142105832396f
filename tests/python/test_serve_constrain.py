"""Constrained decoding (llm4all.serve.constrain): real models generate under JSON and JSON-schema
constraints, greedy and sampled, through a plain decode loop over _core.Session; every output
must parse with json and validate with jsonschema (the reference validator), the mask must never
let a control token into the JSON nor end it early, and bad schemas must raise ValueError."""

import json
import re
import time

import numpy as np
import pytest

llguidance = pytest.importorskip("llguidance", reason="constrained decoding needs llguidance (pip install llguidance)")
jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is the reference validator (pip install jsonschema)")

from llm4all import _core  # noqa: E402
from llm4all.serve import constrain  # noqa: E402

# Three tokenizer families: GPT-2 BPE 49k (SmolLM2), Qwen2 BPE 152k, Gemma 3 SentencePiece 262k.
MODEL_NAMES = ("smollm2", "qwen05")
_MODELS = {}


def _load(request, name):
    if name not in _MODELS:
        _MODELS[name] = _core.Model(str(request.getfixturevalue(name)))
    return _MODELS[name]


@pytest.fixture(scope="module", params=MODEL_NAMES)
def model(request):
    return _load(request, request.param)


@pytest.fixture(scope="module", params=MODEL_NAMES + ("gemma3",))
def any_model(request):
    return _load(request, request.param)


@pytest.fixture(scope="module")
def smol(smollm2):
    return _core.Model(str(smollm2))


def _control_tokens(m):
    """Tokens that render only with render_special (control tokens), found independently of
    constrain's own vocabulary."""
    return np.array([m.token_to_piece(i, False) == b"" for i in range(m.n_vocab)], dtype=bool)


_CONTROL = {}


def control_tokens(m):
    if m.path not in _CONTROL:
        _CONTROL[m.path] = _control_tokens(m)
    return _CONTROL[m.path]


def chat_prompt(m, text):
    # ChatML serves both models (SmolLM2 and Qwen2.5 use it).
    return m.tokenize(f"<|im_start|>system\nYou are a helpful assistant that answers in JSON.<|im_end|>\n"
                      f"<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n",
                      add_special=True, parse_special=True)


def generate(m, constraint, prompt, *, max_tokens=160, temp=0.0, seed=0, check=None):
    """Decode under the constraint: mask the logits with -inf, then argmax (temp 0) or sample
    from the softmax. Returns (text, finished_by_constraint, per-step mask seconds)."""
    rng = np.random.default_rng(seed)
    sess = _core.Session(m, n_ctx=1024, n_batch=256, n_threads=2)
    sess.decode(prompt)
    out, times = [], []
    for _ in range(max_tokens):
        logits = sess.logits()[-1].astype(np.float64)
        t0 = time.perf_counter()
        mask = constraint.allowed()
        times.append(time.perf_counter() - t0)
        assert mask.dtype == bool and mask.shape == (m.n_vocab,)
        assert mask.any(), "the constraint allows no token"
        if check is not None:
            check(out, mask)
        logits[~mask] = -np.inf
        if temp == 0:
            tok = int(np.argmax(logits))
        else:
            p = np.exp((logits - logits.max()) / temp)
            tok = int(rng.choice(len(p), p=p / p.sum()))
        if m.is_eog(tok):
            return m.detokenize(out).decode("utf-8"), True, times
        constraint.accept(tok)
        out.append(tok)
        if constraint.done():
            return m.detokenize(out).decode("utf-8"), True, times
        sess.decode([tok])
    return m.detokenize(out).decode("utf-8"), False, times


def mask_checker(m):
    control = control_tokens(m)
    eog = np.array([m.is_eog(i) for i in range(m.n_vocab)], dtype=bool)

    def check(out, mask):
        # No control token may ever appear in the JSON; the end of generation is allowed only
        # once the text so far is a complete JSON value.
        assert not (mask & control & ~eog).any(), "the mask allows a control token inside JSON"
        if (mask & eog).any():
            json.loads(m.detokenize(out).decode("utf-8"))
    return check


def validate(text, schema):
    value = json.loads(text)
    if schema is None:
        assert isinstance(value, dict), f"json_object mode produced {type(value).__name__}: {text!r}"
    else:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        cls(schema).validate(value)
    # Compact: no free whitespace outside strings (json.dumps' ", " / ": " separators only).
    assert text == text.strip() and "\n" not in text, text
    outside = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    assert not re.search(r"\s\s|\s[,:}\]]|[\[{]\s", outside), text
    return value


SCHEMAS = {
    "nested": ("Describe a person named Alice who lives in Paris.", {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 20},
            "age": {"type": "integer", "minimum": 0, "maximum": 120},
            "address": {"type": "object",
                        "properties": {"city": {"type": "string", "maxLength": 20},
                                       "zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
                        "required": ["city", "zip"], "additionalProperties": False},
        },
        "required": ["name", "age", "address"], "additionalProperties": False}),
    "array_enum": ("List a shopping basket.", {
        "type": "object",
        "properties": {"items": {"type": "array", "minItems": 1, "maxItems": 3, "items": {
            "type": "object",
            "properties": {"kind": {"enum": ["fruit", "vegetable", "bread"]},
                           "qty": {"type": "integer", "minimum": 1, "maximum": 9}},
            "required": ["kind", "qty"], "additionalProperties": False}}},
        "required": ["items"], "additionalProperties": False}),
    "numbers": ("Give a temperature reading.", {
        "type": "object",
        "properties": {"celsius": {"type": "number", "minimum": -50, "maximum": 60},
                       "exact": {"type": "boolean"}, "note": {"type": "null"},
                       "count": {"type": "integer", "exclusiveMinimum": 0, "maximum": 1000}},
        "required": ["celsius", "exact", "note", "count"], "additionalProperties": False}),
    "escapes": ('Write a quotation: he said "hi" on two lines.', {
        "type": "object",
        "properties": {
            "quoted": {"type": "string", "pattern": "^\"[a-z]{1,8}\"$"},    # must be written with \"
            "two_lines": {"type": "string", "pattern": "^[a-z]{1,8}\n[a-z]{1,8}$"},  # with \n
            "path": {"type": "string", "pattern": "^[a-z]{1,6}\\\\[a-z]{1,6}$"},   # with \\
        },
        "required": ["quoted", "two_lines", "path"], "additionalProperties": False}),
    "refs_anyof": ("Give two points and a label.", {
        "$defs": {"pt": {"type": "object", "properties": {"x": {"type": "integer", "minimum": -999, "maximum": 999},
                                                  "y": {"type": "integer", "minimum": -999, "maximum": 999}},
                         "required": ["x", "y"], "additionalProperties": False}},
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/pt"}, "b": {"$ref": "#/$defs/pt"},
                       "label": {"anyOf": [{"type": "string", "maxLength": 10}, {"type": "null"}]}},
        "required": ["a", "b", "label"], "additionalProperties": False}),
    "top_level_array": ("List three colours.", {
        "type": "array", "items": {"type": "string", "enum": ["red", "green", "blue", "yellow"]},
        "minItems": 3, "maxItems": 3}),
}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
@pytest.mark.parametrize("temp", [0.0, 0.9], ids=["greedy", "sampled"])
def test_schema_output_validates(any_model, name, temp):
    model = any_model
    prompt_text, schema = SCHEMAS[name]
    c = constrain.json_constraint(model, schema)
    text, finished, _ = generate(model, c, chat_prompt(model, prompt_text), temp=temp, seed=7,
                                 check=mask_checker(model))
    assert finished, f"no complete value within the token budget: {text!r}"
    validate(text, schema)
    # Once done, nothing but the end of generation is allowed.
    eog = np.array([model.is_eog(i) for i in range(model.n_vocab)], dtype=bool)
    assert not (c.allowed() & ~eog).any()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_json_object_mode(model, seed):
    c = constrain.json_constraint(model, None)
    text, finished, _ = generate(model, c, chat_prompt(model, "Give the name and age of Alice, 30, as JSON."),
                                 temp=0.0 if seed == 1 else 0.7, seed=seed, max_tokens=200,
                                 check=mask_checker(model))
    assert finished, f"no complete object within the token budget: {text!r}"
    validate(text, None)


def test_mask_matches_jsonschema_on_forced_text(smol):
    # Independent of the model: tokenize a valid and an invalid document and feed them through.
    schema = SCHEMAS["nested"][1]
    good = json.dumps({"name": "Bob \"B\" \\ é", "age": 41, "address": {"city": "Lyon", "zip": "69001"}},
                      ensure_ascii=False)
    jsonschema.validate(json.loads(good), schema)
    c = constrain.json_constraint(smol, schema)
    for t in smol.tokenize(good, add_special=False):
        assert c.allowed()[t], f"token {t} of a valid document was masked"
        c.accept(t)
    assert c.done()
    # Invalid: wrong zip (schema pattern): some token must be refused, with ValueError.
    bad = good.replace("69001", "6900x")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(bad), schema)
    c = constrain.json_constraint(smol, schema)
    with pytest.raises(ValueError):
        for t in smol.tokenize(bad, add_special=False):
            c.accept(t)


def test_rejected_token_leaves_state_unchanged(smol):
    c = constrain.json_constraint(smol, {"type": "object", "properties": {"a": {"type": "integer"}},
                                         "required": ["a"], "additionalProperties": False})
    before = c.allowed()
    bad = int(np.flatnonzero(~before)[0])
    with pytest.raises(ValueError):
        c.accept(bad)
    with pytest.raises(ValueError):
        c.accept(smol.n_vocab + 5)
    assert np.array_equal(c.allowed(), before)
    for t in smol.tokenize('{"a": 12}', add_special=False):
        c.accept(t)
    assert c.done()


def test_control_tokens_never_allowed_in_strings(smol):
    # Inside a free string every ordinary token is possible, but no control token ever.
    c = constrain.json_constraint(smol, {"type": "object", "properties": {"s": {"type": "string"}},
                                         "required": ["s"], "additionalProperties": False})
    for t in smol.tokenize('{"s": "abc', add_special=False):
        c.accept(t)
    mask = c.allowed()
    control = control_tokens(smol)
    assert control.any()
    assert not (mask & control).any()
    assert mask.sum() > smol.n_vocab // 2  # a free string allows most of the vocabulary


BAD_SCHEMAS = [
    ({"type": "foo"}, "type"),
    ({"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}}, "missing"),
    ("a string", "object"),
    (42, "object"),
    ([{"type": "string"}], "object"),
    (False, "false"),
    ({"type": "string", "minLength": 5, "maxLength": 2}, "minLength"),
    ({"type": "string", "pattern": "("}, "regex"),
    ({"properties": 5}, "properties"),
    ({"enum": []}, "Unsatisfiable"),
    ({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["b"],
      "additionalProperties": False}, "required"),
    ({"not": {"type": "string"}}, "not"),           # unimplemented keywords are refused, not ignored
    ({"type": "array", "uniqueItems": True}, "uniqueItems"),
    ({"$ref": "http://example.com/schema.json"}, "example.com"),
    ({"type": "number", "minimum": float("nan")}, "JSON"),
]


@pytest.mark.parametrize("schema,word", BAD_SCHEMAS, ids=[str(i) for i in range(len(BAD_SCHEMAS))])
def test_bad_schema_raises_value_error(smol, schema, word):
    with pytest.raises(ValueError) as e:
        constrain.json_constraint(smol, schema)
    msg = str(e.value)
    assert msg.startswith("invalid JSON schema") and word.lower() in msg.lower(), msg


def test_schema_cannot_loosen_whitespace(smol):
    # A schema's own x-guidance options are dropped: output stays compact.
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
              "additionalProperties": False, "x-guidance": {"whitespace_flexible": True, "lenient": True}}
    c = constrain.json_constraint(smol, schema)
    for t in smol.tokenize('{"a": 12', add_special=False):
        c.accept(t)
    mask = c.allowed()
    for ws in (" ", "\n", " }", "\t"):
        assert not any(mask[t] for t in smol.tokenize(ws, add_special=False)), repr(ws)
    assert mask[smol.tokenize("}", add_special=False)[0]]


def test_vocabulary_built_once_per_model(smollm2, smol):
    v = constrain._vocab(smol)
    assert constrain._vocab(smol) is v
    other = _core.Model(str(smollm2))  # another load of the same file shares it
    assert constrain._vocab(other) is v
    t0 = time.perf_counter()
    for _ in range(5):
        constrain.json_constraint(smol, SCHEMAS["nested"][1])
    per_request = (time.perf_counter() - t0) / 5
    print(f"\njson_constraint per request (vocabulary cached): {per_request * 1e3:.1f} ms")
    assert per_request < 1.0


def test_mask_time_per_token(smol):
    """The per-token mask cost on SmolLM2's 49k vocabulary (reported; bounded generously)."""
    c = constrain.json_constraint(smol, SCHEMAS["array_enum"][1])
    text, finished, times = generate(smol, c, chat_prompt(smol, SCHEMAS["array_enum"][0]))
    assert finished
    c2 = constrain.json_constraint(smol, None)
    _, _, times2 = generate(smol, c2, chat_prompt(smol, "Give the name and age of Alice, 30, as JSON."), max_tokens=60)
    t = np.array(times + times2) * 1e3
    print(f"\nmask time per token on smollm2 (n_vocab {smol.n_vocab}), {len(t)} tokens: "
          f"mean {t.mean():.3f} ms, p50 {np.median(t):.3f} ms, max {t.max():.3f} ms")
    assert np.median(t) < 20.0


def test_prepare_then_many_constraints_share_vocabulary(qwen05):
    m = _core.Model(str(qwen05))
    constrain.prepare(m)
    a = constrain.json_constraint(m, None)
    b = constrain.json_constraint(m, {"type": "object"})
    assert a._v is b._v is constrain._vocab(m)
    assert a.allowed().shape == (m.n_vocab,)


def test_through_engine_concurrently(smol):
    """Constraints as the server uses them: several constrained requests (and one free one) at
    once in the engine's batched scheduler, greedy and sampled; each finishes with "stop" on a
    complete, valid value, and a greedy constrained request equals its solo run."""
    import asyncio
    try:
        from llm4all.serve.engine import Engine, Finish, GenRequest
    except ImportError as e:
        pytest.skip(f"the serve engine is not importable: {e}")
    names = ["nested", "array_enum", "numbers", "escapes"]

    def request(name, temp, seed):
        schema = SCHEMAS[name][1] if name else None
        prompt = chat_prompt(smol, SCHEMAS[name][0] if name else "Give the name and age of Alice, 30, as JSON.")
        return GenRequest(prompt=prompt, max_tokens=200, temp=temp, seed=seed,
                          constraint=constrain.json_constraint(smol, schema))

    async def run(reqs):
        async def one(req):
            text, fin = "", None
            async for ev in engine.submit(req):
                if isinstance(ev, Finish):
                    fin = ev
                else:
                    text += ev.text
            return text, fin
        return await asyncio.gather(*(one(r) for r in reqs))

    with Engine(smol, n_parallel=4, n_ctx=1024, n_threads=2) as engine:
        solo = asyncio.run(run([request("nested", 0.0, 1)]))[0]
        reqs = [request(n, 0.0 if i % 2 == 0 else 0.8, i) for i, n in enumerate(names)]
        reqs += [request("nested", 0.0, 1), request(None, 0.7, 5),
                 GenRequest(prompt=chat_prompt(smol, "Say hi."), max_tokens=20, temp=0.0)]
        results = asyncio.run(run(reqs))
    for (text, fin), name in zip(results[:len(names) + 2], names + ["nested", None]):
        assert fin.reason == "stop" and fin.error is None, (name, fin, text)
        validate(text, SCHEMAS[name][1] if name else None)
    assert results[len(names)][0] == solo[0]
    assert results[-1][1].reason in ("stop", "length")
