"""tools/abi_drift.py: the tree is clean, and a function added to llm4all.h without a
decision (wrap it, or list it in bindings/<lang>/not_wrapped.txt) makes it fail, naming the
function for every binding; stale or dishonest not_wrapped.txt entries fail too."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "abi_drift.py"
HEADER = REPO / "core" / "include" / "llm4all" / "llm4all.h"


def run(*args, cwd=REPO):
    return subprocess.run([sys.executable, str(TOOL), *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_tree_is_clean():
    r = run()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "clean" in r.stdout
    # Every binding present was checked, none silently ignored.
    for lang in ("python", "go", "java", "csharp", "typescript"):
        if (REPO / "bindings" / lang).is_dir():
            assert re.search(rf"^{lang}: ok ", r.stdout, re.M), r.stdout


def test_a_function_added_to_the_header_fails(tmp_path):
    text = HEADER.read_text(encoding="utf-8")
    end = text.rindex("#ifdef __cplusplus")
    added = text[:end] + "/* new */\nLLM4ALL_API int32_t llm4all_brand_new_thing(const llm4all_model *model);\n\n" + text[end:]
    header = tmp_path / "llm4all.h"
    header.write_text(added, encoding="utf-8")
    r = run("--header", str(header))
    assert r.returncode != 0, r.stdout
    present = [d.name for d in (REPO / "bindings").iterdir() if (d / "not_wrapped.txt").exists()]
    assert len(present) >= 2
    for lang in present:
        assert re.search(rf"^{lang}: .*\n(  .*\n)*  missing: llm4all_brand_new_thing", r.stdout, re.M), r.stdout
    assert "DRIFT" in r.stdout


def make_root(tmp_path, go_source, not_wrapped):
    root = tmp_path / "root"
    (root / "core/include/llm4all").mkdir(parents=True)
    (root / "core/include/llm4all/llm4all.h").write_text(
        "/* llm4all_in_prose() is not a declaration */\n"
        "typedef bool (*llm4all_cb)(void *user);\n"
        "LLM4ALL_API int32_t llm4all_a(void);\nLLM4ALL_API void llm4all_b(int x);\n")
    go = root / "bindings/go"
    go.mkdir(parents=True)
    (go / "a.go").write_text(go_source)
    (go / "a_test.go").write_text("package x\n// C.llm4all_b in a test does not count\n")
    (go / "not_wrapped.txt").write_text(not_wrapped)
    return root


def test_rules_on_a_small_tree(tmp_path):
    ok = make_root(tmp_path / "ok", "x := C.llm4all_a()\n", "# comment\n\nllm4all_b  # not needed\n")
    r = run("--root", str(ok))
    assert r.returncode == 0, r.stdout
    assert "2 functions" in r.stdout  # the typedef and the prose are not functions
    # A name without cgo's C. prefix, or only in a test file, is not wrapped.
    bad = make_root(tmp_path / "bad", "// llm4all_a\n", "")
    r = run("--root", str(bad))
    assert r.returncode == 1
    assert "missing: llm4all_a" in r.stdout and "missing: llm4all_b" in r.stdout
    # A listed name that is not in the header, or is also wrapped, or has no reason, fails.
    stale = make_root(tmp_path / "stale", "C.llm4all_a()\n",
                      "llm4all_b  # fine\nllm4all_a  # but wrapped\nllm4all_gone  # removed\nllm4all_x\n")
    r = run("--root", str(stale))
    assert r.returncode == 1
    assert "llm4all_a is listed but also wrapped" in r.stdout
    assert "llm4all_gone is not a function of the header" in r.stdout
    assert "expected 'llm4all_name  # why'" in r.stdout


def test_a_field_appended_to_a_struct_fails(tmp_path):
    """The _init functions write the whole struct: a binding that declares it without an
    appended field would let them write past its buffer, so the check names the struct."""
    text = HEADER.read_text(encoding="utf-8")
    m = re.search(r"(typedef struct llm4all_session_options \{.*?)(\} llm4all_session_options;)", text, re.S)
    assert m, "llm4all_session_options not found in the header"
    added = text[:m.start(2)] + "    int32_t brand_new_field;\n" + text[m.start(2):]
    header = tmp_path / "llm4all.h"
    header.write_text(added, encoding="utf-8")
    r = run("--header", str(header))
    assert r.returncode != 0, r.stdout
    declaring = [lang for lang in ("csharp", "java", "typescript") if (REPO / "bindings" / lang).is_dir()]
    assert declaring
    for lang in declaring:
        assert re.search(rf"^{lang}: .*\n(  .*\n)*  struct llm4all_session_options: fields .*brand_new_field",
                         r.stdout, re.M), r.stdout
