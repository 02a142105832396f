"""HF -> GGUF conversion (llm4all.convert) against references we did not write.

- stories260K-hf converted to F32 equals the shared stories260K.gguf tensor for tensor
  (bit-exact) and in its tokenizer metadata, and continues a prompt greedily as llama.cpp
  (xllamacpp) does on the original file; F16/BF16/Q8_0/Q4_0 files stay close to it.
- Tiny random transformers models (save_pretrained) of each supported architecture convert
  to the tensor names gguf.TensorNameMap (llama.cpp's own table) gives and to llama.cpp's
  metadata keys; where the engine runs the architecture, logits match transformers.
- Real sentence encoders (all-MiniLM-L6-v2, EmbeddingGemma): test_convert_embed.py.
- Broken folders fail with one clear line and leave no output behind.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")
from llm4all import _core  # noqa: E402
from llm4all.convert import ConvertError, convert, supported_architectures  # noqa: E402

PROMPTS = ["Once upon a time", "Lily and Ben were", "The little dog"]


@pytest.fixture(scope="module")
def stories_hf(testdata) -> Path:
    d = testdata / "models" / "stories260K-hf"
    if not (d / "config.json").is_file():
        pytest.skip(f"{d} not found")
    return d


@pytest.fixture(scope="module")
def stories_files(stories_hf, tmp_path_factory):
    """stories260K-hf converted to every output type: {outtype: path}."""
    out = tmp_path_factory.mktemp("stories")
    return {t: convert(stories_hf, out / f"stories-{t}.gguf", t) for t in ("f32", "f16", "bf16", "q8_0", "q4_0")}


def fields(path):
    r = gguf.GGUFReader(str(path))
    return r, {k: f.contents() for k, f in r.fields.items() if not k.startswith("GGUF.")}


# ---- stories260K ------------------------------------------------------------------------

def test_stories_f32_equals_reference_gguf(stories_files, stories260k):
    ours, kv = fields(stories_files["f32"])
    ref, ref_kv = fields(stories260k)
    mine = {t.name: t for t in ours.tensors}
    theirs = {t.name: t for t in ref.tensors}
    assert set(mine) == set(theirs)
    for name, t in theirs.items():
        assert mine[name].tensor_type == gguf.GGMLQuantizationType.F32
        # Bit-exact, which also proves the Q/K row permutation.
        assert np.array_equal(np.asarray(mine[name].data), np.asarray(t.data)), name
    for key in ("tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
                "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
                "llama.context_length", "llama.embedding_length", "llama.feed_forward_length", "llama.block_count",
                "llama.attention.head_count", "llama.attention.head_count_kv", "llama.rope.dimension_count",
                "llama.attention.layer_norm_rms_epsilon"):
        assert kv[key] == ref_kv[key], key
    # The reference file (made by llama2.c's exporter) has no pad token; the HF folder names
    # <unk> as pad in tokenizer_config.json, which llama.cpp's converter writes as id 0.
    assert kv["tokenizer.ggml.padding_token_id"] == 0
    assert kv["llama.rope.freq_base"] == 10000.0  # from transformers 5's rope_parameters
    assert kv["general.file_type"] == gguf.LlamaFileType.ALL_F32


def greedy_ids(path, prompt, n=16):
    model = _core.Model(str(path))
    s = _core.Session(model, n_ctx=128, n_batch=32, n_threads=2)
    ids = model.tokenize(prompt, add_special=True)
    out = []
    s.decode(ids, all_logits=False)
    for _ in range(n):
        t = int(np.argmax(s.logits()[-1]))
        out.append(t)
        s.decode([t], all_logits=False)
    return out


def test_stories_greedy_llm4all_matches_llamacpp_golden(stories_files, testdata):
    golden = json.loads((testdata / "golden" / "stories260K.greedy16.json").read_text())
    for case in golden["cases"]:
        want = [t["id"] for t in case["tokens"]]
        assert greedy_ids(stories_files["f32"], case["prompt"], len(want)) == want, case["prompt"]


_XLLAMACPP_SCRIPT = r"""
import json, sys, xllamacpp as xl
p = xl.CommonParams()
p.model.path = sys.argv[1]
p.n_ctx = 256
p.cpuparams.n_threads = 2
s = xl.Server(p)
out = []
for prompt in json.loads(sys.argv[2]):
    r = s.handle_completions({"prompt": prompt, "n_predict": 16, "temperature": 0, "n_probs": 1})
    out.append([t["id"] for t in r["choices"][0]["logprobs"]["content"]])
print("RESULT" + json.dumps(out))
"""


def test_stories_greedy_llamacpp_on_converted_file(stories_files, testdata):
    pytest.importorskip("xllamacpp")
    golden = json.loads((testdata / "golden" / "stories260K.greedy16.json").read_text())
    prompts = [c["prompt"] for c in golden["cases"]]
    proc = subprocess.run([sys.executable, "-c", _XLLAMACPP_SCRIPT, str(stories_files["f32"]), json.dumps(prompts)],
                          capture_output=True, text=True, timeout=300)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    assert line is not None, f"xllamacpp failed on the converted file: {proc.stderr[-2000:]}"
    got = json.loads(line[len("RESULT"):])
    for case, ids in zip(golden["cases"], got):
        assert ids == [t["id"] for t in case["tokens"]], case["prompt"]


# Max |logit difference| to the F32 file, relative to the largest |logit|, over every
# position of the three prompts. Seen: f16 7.3e-4, bf16 5.3e-3, q8_0 1.8e-2, q4_0 0.19: this
# 260K-parameter model has 64-wide rows (two Q4_0 blocks), so 4-bit noise is large here;
# the bound only catches a broken encoding (wrong scales or order give errors of O(1)).
TOLERANCE = {"f16": 5e-3, "bf16": 2e-2, "q8_0": 5e-2, "q4_0": 0.35}


def all_logits(path, ids):
    s = _core.Session(_core.Model(str(path)), n_ctx=128, n_batch=64, n_threads=2)
    s.decode(ids, all_logits=True)
    return s.logits()


@pytest.mark.parametrize("outtype", list(TOLERANCE))
def test_stories_outtypes_close_to_f32(stories_files, outtype):
    path = stories_files[outtype]
    r, kv = fields(path)
    want_type = {"f16": "F16", "bf16": "BF16", "q8_0": "Q8_0", "q4_0": "Q4_0"}[outtype]
    types = {t.name: t.tensor_type.name for t in r.tensors}
    assert types["blk.0.attn_q.weight"] == want_type
    assert types["blk.0.attn_norm.weight"] == "F32"
    if outtype in ("q8_0", "q4_0"):
        assert types["blk.0.ffn_down.weight"] == "F16"  # rows of 172 are not whole 32-blocks
    model = _core.Model(str(stories_files["f32"]))
    worst = 0.0
    for prompt in PROMPTS:
        ids = model.tokenize(prompt, add_special=True) + greedy_ids(stories_files["f32"], prompt, 12)
        ref = all_logits(stories_files["f32"], ids)
        got = all_logits(path, ids)
        worst = max(worst, float(np.abs(got - ref).max() / np.abs(ref).max()))
    print(f"{outtype}: max |logit - f32 logit| / max |f32 logit| = {worst:.2e}")
    assert worst <= TOLERANCE[outtype]


# ---- tiny random models of every architecture --------------------------------------------

torch = None


def _torch():
    global torch
    torch = pytest.importorskip("torch")
    return pytest.importorskip("transformers")


def randomize(model, seed=7):
    """O(1) activations and non-trivial norms and biases, so mistakes show in the logits."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name.lower() and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p) if "Gemma" not in type(model).__name__
                        else 0.2 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.3 * torch.randn_like(p))
            elif p.dim() == 2 and ("embed" in name or "embeddings" in name):
                p.copy_(torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) / np.sqrt(p.shape[-1]))


def copy_spm_tokenizer(stories_hf, folder):
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(stories_hf / f, folder / f)


def write_bytelevel_tokenizer(folder):
    """A small byte-level BPE tokenizer.json with Qwen2's pre-tokenizer, trained here."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from llm4all.convert.vocab import _QWEN2_SPLIT
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_QWEN2_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    text = ["Once upon a time there was a little girl named Lily. She loved to play outside."] * 20
    tok.train_from_iterator(text, trainer)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "bos_token": None,
        "chat_template": "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"}))
    return tok.get_vocab_size()


def write_wordpiece_tokenizer(folder):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=200, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train_from_iterator(["the quick brown fox jumps over the lazy dog"] * 10, trainer)
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"cls_token": "[CLS]", "sep_token": "[SEP]",
                                                              "pad_token": "[PAD]", "unk_token": "[UNK]",
                                                              "mask_token": "[MASK]"}))
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": 32, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True}))
    return tok.get_vocab_size()


def make_tiny(kind, folder, stories_hf):
    tf = _torch()
    folder.mkdir()
    common = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=256)
    if kind == "llama3":
        # Llama 3.1-style RoPE scaling over a short original context: most dimensions get a
        # frequency factor (rope_freqs.weight), so positions past 16 show whether it is applied.
        copy_spm_tokenizer(stories_hf, folder)
        cfg = tf.LlamaConfig(vocab_size=512, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False,
                             rope_theta=10000.0, rope_scaling={"rope_type": "llama3", "factor": 8.0,
                                                               "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                                               "original_max_position_embeddings": 16}, **common)
        model = tf.LlamaForCausalLM(cfg)
    elif kind == "mistral":
        copy_spm_tokenizer(stories_hf, folder)
        cfg = tf.MistralConfig(vocab_size=512, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False,
                               rope_theta=100000.0, sliding_window=None, **common)
        model = tf.MistralForCausalLM(cfg)
    elif kind == "qwen2":
        n = write_bytelevel_tokenizer(folder)
        cfg = tf.Qwen2Config(vocab_size=n, tie_word_embeddings=True, rms_norm_eps=1e-6, rope_theta=1e6,
                             bos_token_id=None, eos_token_id=2, **common)
        model = tf.Qwen2ForCausalLM(cfg)
    elif kind == "gemma3":
        copy_spm_tokenizer(stories_hf, folder)
        cfg = tf.Gemma3TextConfig(vocab_size=512, head_dim=16, query_pre_attn_scalar=16, sliding_window=8,
                                  bos_token_id=1, eos_token_id=2, pad_token_id=0, **dict(common, num_hidden_layers=3))
        model = tf.Gemma3ForCausalLM(cfg)
    elif kind == "bert":
        n = write_wordpiece_tokenizer(folder)
        cfg = tf.BertConfig(vocab_size=n, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=4, max_position_embeddings=64)
        model = tf.BertModel(cfg, add_pooling_layer=True)
    else:
        raise AssertionError(kind)
    cfg._attn_implementation = "eager"
    model.eval()
    randomize(model)
    model.save_pretrained(str(folder))
    return model


# kind -> (GGUF arch, metadata keys llama.cpp's converter writes for it)
EXPECTED_KEYS = {
    "mistral": ("llama", ["context_length", "embedding_length", "block_count", "feed_forward_length",
                          "attention.head_count", "attention.head_count_kv", "rope.freq_base",
                          "attention.layer_norm_rms_epsilon", "rope.dimension_count", "vocab_size"]),
    "llama3": ("llama", ["context_length", "embedding_length", "block_count", "feed_forward_length",
                         "attention.head_count", "attention.head_count_kv", "rope.freq_base",
                         "attention.layer_norm_rms_epsilon", "rope.dimension_count", "vocab_size"]),
    "qwen2": ("qwen2", ["context_length", "embedding_length", "block_count", "feed_forward_length",
                        "attention.head_count", "attention.head_count_kv", "rope.freq_base",
                        "attention.layer_norm_rms_epsilon"]),
    "gemma3": ("gemma3", ["context_length", "embedding_length", "block_count", "feed_forward_length",
                          "attention.head_count", "attention.head_count_kv", "attention.layer_norm_rms_epsilon",
                          "attention.key_length", "attention.value_length", "rope.freq_base",
                          "attention.sliding_window"]),
    "bert": ("bert", ["context_length", "embedding_length", "block_count", "feed_forward_length",
                      "attention.head_count", "attention.layer_norm_epsilon", "attention.causal", "pooling_type"]),
}


def hf_to_gguf_names(arch, n_layer, hf_names):
    """What gguf.TensorNameMap (the gguf package's copy of llama.cpp's table) calls each
    checkpoint tensor; None for those it does not know (dropped ones)."""
    arch_id = next(k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == arch)
    tmap = gguf.get_tensor_name_map(arch_id, n_layer)
    out = {}
    for n in hf_names:
        out[n] = tmap.get_name(n, try_suffixes=(".weight", ".bias"))
    return out


@pytest.mark.parametrize("kind", list(EXPECTED_KEYS))
def test_tiny_model_converts_like_llamacpp(kind, tmp_path, testdata):
    stories_hf = testdata / "models" / "stories260K-hf"
    model = make_tiny(kind, tmp_path / kind, stories_hf)
    out = convert(tmp_path / kind, tmp_path / f"{kind}.gguf", "f32")
    r, kv = fields(out)
    arch, keys = EXPECTED_KEYS[kind]
    assert kv["general.architecture"] == arch
    for k in keys:
        assert f"{arch}.{k}" in kv, f"{arch}.{k} missing"
    cfg = model.config
    assert kv[f"{arch}.block_count"] == cfg.num_hidden_layers
    assert kv[f"{arch}.embedding_length"] == cfg.hidden_size
    assert len(kv["tokenizer.ggml.tokens"]) == cfg.vocab_size

    # Every tensor is named as llama.cpp's table names the checkpoint tensor it came from.
    sd_names = list(model.state_dict())
    expected = {}
    for hf, g in hf_to_gguf_names(arch, cfg.num_hidden_layers, sd_names).items():
        if g is not None and not hf.startswith(("pooler", "lm_head")) and "position_ids" not in hf:
            expected[g] = hf
    if kind in ("mistral", "llama3"):
        expected["output.weight"] = "lm_head.weight"
    if kind == "llama3":
        expected["rope_freqs.weight"] = "(computed from rope_scaling)"
    got = {t.name for t in r.tensors}
    assert got == set(expected), (sorted(got ^ set(expected)))

    if kind == "gemma3":
        # Gemma's norms are stored + 1 (llama.cpp multiplies by the weight itself).
        t = next(t for t in r.tensors if t.name == "blk.0.attn_q_norm.weight")
        want = model.state_dict()["model.layers.0.self_attn.q_norm.weight"].float().numpy() + 1
        assert np.array_equal(np.asarray(t.data), want)
        assert kv["tokenizer.ggml.add_space_prefix"] is False
    if kind == "qwen2":
        assert kv["tokenizer.ggml.model"] == "gpt2" and kv["tokenizer.ggml.pre"] == "qwen2"
        assert len(kv["tokenizer.ggml.merges"]) > 0
        assert "<|im_start|>" in kv["tokenizer.chat_template"]
        assert "output.weight" not in got  # tied embeddings
        assert kv["tokenizer.ggml.eos_token_id"] == 2
    if kind == "bert":
        assert kv["bert.pooling_type"] == gguf.PoolingType.MEAN
        assert kv["tokenizer.ggml.model"] == "bert"
        assert kv["tokenizer.ggml.tokens"][2] == "[CLS]"
        assert kv["bert.attention.causal"] is False
        return

    # Logits against transformers where the engine runs the architecture.
    try:
        ours_model = _core.Model(str(out))
    except Exception as e:  # noqa: BLE001
        if kind == "gemma3" and "gemma3" in str(e).lower():
            pytest.skip(f"the engine does not run gemma3 yet: {e}")
        raise
    ids = list(np.random.default_rng(0).integers(3, cfg.vocab_size, size=48 if kind == "llama3" else 24))
    s = _core.Session(ours_model, n_ctx=64, n_batch=16, n_threads=2)
    s.decode([int(i) for i in ids], all_logits=True)
    ours = s.logits()
    with torch.no_grad():
        theirs = model(torch.tensor([ids])).logits[0].float().numpy()
    err = float(np.abs(ours - theirs).max())
    print(f"{kind}: max |logit| {np.abs(theirs).max():.2f}, max |difference| {err:.2e}")
    assert err <= 1e-3 * max(1.0, float(np.abs(theirs).max()))


def test_sharded_bf16_checkpoint(tmp_path, testdata):
    """Shards with an index and bf16 weights convert to the same tensors as one file."""
    tf = _torch()
    stories_hf = testdata / "models" / "stories260K-hf"
    model = make_tiny("mistral", tmp_path / "one", stories_hf)
    model.to(torch.bfloat16).save_pretrained(str(tmp_path / "shards"), max_shard_size="40KB")
    copy_spm_tokenizer(stories_hf, tmp_path / "shards")
    assert (tmp_path / "shards" / "model.safetensors.index.json").is_file()
    a, _ = fields(convert(tmp_path / "shards", tmp_path / "shards.gguf", "f32"))
    model.to(torch.bfloat16).save_pretrained(str(tmp_path / "single"), max_shard_size="1GB")
    copy_spm_tokenizer(stories_hf, tmp_path / "single")
    b, _ = fields(convert(tmp_path / "single", tmp_path / "single.gguf", "f32"))
    assert [t.name for t in a.tensors] and {t.name for t in a.tensors} == {t.name for t in b.tensors}
    tb = {t.name: np.asarray(t.data) for t in b.tensors}
    for t in a.tensors:
        assert np.array_equal(np.asarray(t.data), tb[t.name]), t.name
    del tf


# ---- broken input --------------------------------------------------------------------------

def _broken_cases(src: Path):
    def missing_config(d):
        (d / "config.json").unlink()

    def bad_json(d):
        (d / "config.json").write_text('{"architectures": ["LlamaForCausalLM"], ')

    def truncated(d):
        data = (d / "model.safetensors").read_bytes()
        (d / "model.safetensors").write_bytes(data[: len(data) // 2])

    def missing_tensor(d):
        from safetensors.numpy import load_file, save_file
        t = load_file(str(d / "model.safetensors"))
        del t["model.layers.3.mlp.up_proj.weight"]
        save_file(t, str(d / "model.safetensors"))

    def unknown_arch(d):
        cfg = json.loads((d / "config.json").read_text())
        cfg["architectures"] = ["FancyNewForCausalLM"]
        (d / "config.json").write_text(json.dumps(cfg))

    def no_tokenizer(d):
        (d / "tokenizer.json").unlink()

    return {"missing config": (missing_config, "config.json not found"),
            "bad JSON": (bad_json, "invalid JSON"),
            "truncated safetensors": (truncated, "truncated"),
            "missing tensor": (missing_tensor, "blk.3.ffn_up.weight"),
            "unknown architecture": (unknown_arch, "supported: "),
            "no tokenizer": (no_tokenizer, "no tokenizer")}


@pytest.mark.parametrize("case", list(_broken_cases(Path("."))))
def test_broken_input_fails_cleanly(case, stories_hf, tmp_path):
    d = tmp_path / "model"
    shutil.copytree(stories_hf, d)
    for f in d.iterdir():
        f.chmod(0o644)
    breaker, needle = _broken_cases(d)[case]
    breaker(d)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(ConvertError) as e:
        convert(d, out_dir / "x.gguf", "q8_0")
    msg = str(e.value)
    assert "\n" not in msg and needle in msg, msg
    assert list(out_dir.iterdir()) == [], "a failed conversion left files behind"
    if case == "unknown architecture":
        assert "LlamaForCausalLM" in msg and "Qwen2ForCausalLM" in msg

    # The command line says the same in one line, exit status 1.
    proc = subprocess.run([sys.executable, "-m", "llm4all", "convert", str(d), "-o", str(out_dir / "y.gguf"), "-q"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("llm4all: error: "), proc.stderr
    assert list(out_dir.iterdir()) == []


def test_supported_architectures_listed():
    assert {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Gemma3ForCausalLM", "Gemma3TextModel",
            "BertModel"} <= set(supported_architectures())


def test_streams_one_tensor_at_a_time(stories_hf, tmp_path, monkeypatch):
    """Tensors are loaded one by one and each is dropped before the next is loaded."""
    import weakref
    from llm4all.convert import source
    live, peak, orig = [], [0], source.CheckpointSource.load

    def load(self, name):
        arr = orig(self, name)
        live.append(weakref.ref(arr))
        peak[0] = max(peak[0], sum(1 for r in live if r() is not None))
        return arr
    monkeypatch.setattr(source.CheckpointSource, "load", load)
    convert(stories_hf, tmp_path / "s.gguf", "q8_0")
    assert len(live) == 48 and peak[0] == 1


def test_command_line_lists_every_output_type_without_loading_gguf():
    import subprocess
    import sys
    from llm4all.convert.base import OUTTYPES
    from llm4all.convert.command import OUTTYPE_NAMES
    assert tuple(OUTTYPES) == OUTTYPE_NAMES
    # Building the CLI must not import gguf/numpy (numpy starts BLAS threads in every command).
    code = "import sys, llm4all.cli as c; c.build_parser(); print('gguf' in sys.modules or 'numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_llama3_rope_freqs_logits_like_llamacpp(tmp_path, testdata):
    """rope_freqs.weight (Llama 3.1+ rope scaling) as llama.cpp applies it: on a tiny random
    llama3-scaled model, llama.cpp's logits (llama-cpp-python) at every position, past the
    original context too, equal llm4all's."""
    llama_cpp = pytest.importorskip("llama_cpp")
    make_tiny("llama3", tmp_path / "llama3", testdata / "models" / "stories260K-hf")
    path = convert(tmp_path / "llama3", tmp_path / "llama3.gguf", "f32")
    ids = [1] + [int(i) for i in np.random.default_rng(1).integers(3, 512, size=40)]
    s = _core.Session(_core.Model(str(path)), n_ctx=64, n_batch=16, n_threads=2)
    s.decode(ids, all_logits=True)
    ours = s.logits()
    ref = llama_cpp.Llama(model_path=str(path), n_ctx=64, logits_all=True, verbose=False, n_threads=2)
    ref.eval(ids)
    theirs = np.array(ref.scores[:len(ids)])
    err = float(np.abs(ours - theirs).max())
    assert err <= 1e-3 * max(1.0, float(np.abs(theirs).max())), err
