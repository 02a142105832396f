"""stories260K logits agree with Hugging Face transformers on the same
checkpoint (shared testdata models/stories260K-hf) within 1e-3."""
import numpy as np
import pytest

from llm4all import _core

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

TEXT = ("Once upon a time, there was a little girl named Lily. She loved to play outside in the park "
        "with her friends. One day, she saw a big red ball under a tree and ran to get it. 'Mom, look what "
        "I found!' she said. Her mom smiled and said they could share it with the little boy next door.")


def test_logits_match_transformers(testdata, stories260k):
    hf_dir = testdata / "models" / "stories260K-hf"
    model = _core.Model(str(stories260k))
    ids = model.tokenize(TEXT, add_special=True, parse_special=False)[:64]
    assert len(ids) == 64, "the text should give at least 64 tokens"

    session = _core.Session(model, n_ctx=128, n_threads=2, kv_type="f32")  # float reference: float cache
    session.decode(ids, all_logits=True)
    ours = session.logits()

    hf = transformers.AutoModelForCausalLM.from_pretrained(str(hf_dir), torch_dtype=torch.float32)
    hf.eval()
    with torch.no_grad():
        theirs = hf(torch.tensor([ids])).logits[0].numpy()
    assert ours.shape == theirs.shape
    err = np.abs(ours - theirs).max()
    print(f"max |logit difference| vs transformers: {err:.2e}")
    assert err <= 1e-3
