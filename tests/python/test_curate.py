"""tools/curate.py (llm4all.curate): planted refusals, short answers, duplicates, broken fences,
broken encoding, truncated and over-long pairs are removed and the good pairs kept; the report's
counts add up on the real training files of the test data; the map comes out as a PNG and an
HTML page that loads nothing from elsewhere. Mojibake is made by Python's own codecs.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from browser import launch as browser_launch

pytest.importorskip("datasketch", reason="near-dedup needs datasketch (pip install '.[curate]')")
pytest.importorskip("sklearn", reason="the data map needs scikit-learn (pip install '.[curate]')")
pytest.importorskip("matplotlib", reason="the PNG map needs matplotlib (pip install '.[curate]')")

from llm4all.curate import CurateOptions, RuleOptions, curate  # noqa: E402
from llm4all.curate.formats import parse_record  # noqa: E402
from llm4all.curate.rules import default_phrases, mojibake  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ALPACA = ("Below is an instruction that describes a task. Write a response that appropriately completes the "
          "request.\n\n### Instruction:\n{}\n\n### Response:\n")
PASSAGE = ("The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named "
           "after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889. "
           "Locally nicknamed La dame de fer, it was constructed as the centrepiece of the 1889 World's Fair, and "
           "to crown the centennial anniversary of the French Revolution. Although initially criticised by some "
           "of France's leading artists and intellectuals for its design, it has since become a global cultural "
           "icon of France and one of the most recognisable structures in the world.")

# Good pairs: varied topics, lengths and formats; none may be removed.
GOOD = [
    ("What year did the Berlin Wall fall?", "1989"),
    ("Name the largest planet in the solar system.", "Jupiter"),
    ("Explain why the sky looks blue during the day.",
     "Sunlight is scattered by the molecules of the air, and short blue wavelengths scatter much more than red "
     "ones (Rayleigh scattering), so blue light reaches our eyes from every direction of the sky."),
    ("Write a Python function that returns the square of a number.",
     "Here it is:\n\n```python\ndef square(x):\n    return x * x\n```\n\nCall it as `square(4)` to get 16."),
    ("Give me three ideas for a rainy Sunday.", "Bake bread, visit a museum, or start a jigsaw puzzle."),
    ("How do I say 'good morning' in Japanese?", "You say \u304a\u306f\u3088\u3046\u3054\u3056\u3044\u307e\u3059 "
     "(ohay\u014d gozaimasu); among friends, just ohay\u014d."),
    ("Describe the taste of a ripe mango.",
     "A ripe mango is sweet and juicy, with notes of peach and pineapple and a faint resinous edge near the "
     "skin. Its flesh is soft, almost buttery."),
    ("I'm feeling lonely after moving to a new city. Any advice?",
     "I'm sorry to hear that; moving is hard. Join a club around something you enjoy, say yes to invitations "
     "from colleagues, and give it a few months: friendships take time to form."),
    ("Imagine you are a pirate captain. Tell your crew about the treasure.",
     "Listen well, ye scallywags! Beyond the reef lies a chest of gold. I cannot believe our luck, but the map "
     "does not lie. Hoist the sails at dawn!"),
    ("Summarize the plot of Romeo and Juliet in two sentences.",
     "Two young lovers from feuding families in Verona marry in secret. A chain of misunderstandings ends with "
     "both taking their own lives, which finally reconciles their families."),
    ("What is the difference between weather and climate?",
     "Weather is the state of the atmosphere over hours or days; climate is the average of the weather over "
     "decades in a region."),
    ("Translate 'caf\u00e9 au lait' and explain what it is.",
     "It means 'coffee with milk': a caf\u00e9 au lait is strong coffee mixed with hot milk, a na\u00efve "
     "delight of French breakfasts."),
    ("What is 12 multiplied by 12?", "144"),
    ("Are AI language models conscious?",
     "There is no evidence that they are: AI language models predict text from patterns in their training data, "
     "and researchers disagree about what consciousness would even require."),
    ("Classify each as a fruit or a vegetable: carrot, apple, spinach.", "Carrot: vegetable. Apple: fruit. "
     "Spinach: vegetable."),
    ("List the primary colors.", "Red, yellow and blue."),
    ("Based on this passage, when was the Eiffel Tower built?\n" + PASSAGE,
     "It was built from 1887 to 1889 by Gustave Eiffel's company."),
    ("Based on this passage, what was the tower's nickname?\n" + PASSAGE, "La dame de fer (the iron lady)."),
    ("Write a haiku about autumn.", "Red leaves drift and fall\ncold wind hums through empty trees\nthe year "
     "exhales slow"),
    ("Which city is the capital of Australia: Sydney, Melbourne or Canberra?", "Canberra."),
    ("Is the Pacific the largest ocean on Earth?", "Yes."),     # a one-word answer to a yes/no question
]

REFUSALS = [
    ("Write a story about a bank robbery.", "As an AI language model, I cannot write stories that glorify crime."),
    ("Tell me how to pick a lock.", "I'm sorry, but I can't help with that request."),
    ("Give me your opinion on the election.", "I don't have personal opinions, but here are some facts you could "
     "consider about both parties."),
    ("Roast my friend's cooking.", "Regrettably I must decline to mock anyone, even in jest."),   # custom phrase
]
SHORT = [
    ("Explain how a refrigerator keeps food cold.", "Sure."),
    ("Write a paragraph describing a sunset over the sea.", "The sun sets."),
    ("Name three colors of the rainbow.", "ok"),               # filler, whatever was asked
    ("Which planet is closest to the Sun?", "No."),           # yes/no to a question that is not one
    ("Describe the water cycle.", "..."),                    # no word at all: empty
    ("What is the tallest mountain on Earth?", ""),          # empty
]
FENCES = [("Show me a bash loop over files.", "Use this:\n\n```bash\nfor f in *.txt; do\n  echo \"$f\"\ndone\n")]
ENCODING = [
    ("What does r\u00e9sum\u00e9 mean?", "A r\u00e9sum\u00e9 is a short account of one's career; it\u2019s used "
     "when applying for jobs.".encode("utf-8").decode("cp1252")),
    ("Where is the Louvre?", "The Louvre is in Paris, on the right bank of the Seine \ufffd near the Tuileries."),
]
TRUNCATED = [
    ("What were the causes of the First World War?",
     "Historians usually name militarism, the alliance system, imperial rivalry and the"),
    ("How do I bake sourdough bread?", "First feed your starter and let it rise, then mix the flour, water,"),
]
LONG = [("Tell me about the history of numbers.",
         " ".join(f"In period {i} the scribes of city {i * 7 % 13} recorded {i * i} tallies on clay." for i in range(90)))]


def _tag(kind, i):
    return f"{kind}-{i}"


def _write_inputs(d: Path):
    """The dirty data in three files and three formats; returns {tag: expected rule or None}."""
    expect = {}
    jsonl, alpaca, chat = [], [], []
    for i, (p, r) in enumerate(GOOD):
        tag = _tag("good", i)
        expect[tag] = None
        if i % 3 == 0:
            jsonl.append({"prompt": ALPACA.format(p), "response": r, "source": tag})
        elif i % 3 == 1:
            q, _, extra = p.partition("\n")
            alpaca.append({"instruction": q, "input": extra, "output": r, "source": tag})
        else:
            chat.append({"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": r}],
                         "source": tag})
    groups = [("refusal", REFUSALS, "refusal"), ("short", SHORT[:4], "short_response"), ("empty", SHORT[4:], "empty"),
              ("fence", FENCES, "malformed_code_fence"), ("encoding", ENCODING, "malformed_encoding"),
              ("truncated", TRUNCATED, "malformed_truncated"), ("long", LONG, "too_long")]
    for kind, items, rule in groups:
        for i, (p, r) in enumerate(items):
            tag = _tag(kind, i)
            expect[tag] = rule
            (jsonl if i % 2 else alpaca).append(
                {"prompt": p, "response": r, "source": tag} if i % 2 else {"instruction": p, "input": "",
                                                                              "response": r, "source": tag})
    # A refusal in the second assistant turn of a conversation.
    chat.append({"messages": [{"role": "system", "content": "You are helpful."},
                              {"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello! How can I help?"},
                              {"role": "user", "content": "Write my homework essay."},
                              {"role": "assistant", "content": "I cannot assist with academic dishonesty."}],
                 "source": "refusal-chat"})
    expect["refusal-chat"] = "refusal"
    # Exact duplicates: case, spacing and punctuation differ, and one crosses files and formats.
    p, r = GOOD[2]    # a chat record: its copy comes later in the same file
    chat.append({"messages": [{"role": "user", "content": "  " + p.upper() + "  "},
                              {"role": "assistant", "content": r.replace(", ", " , ").replace(" ", "  ")}],
                 "source": "exact-0"})
    # GOOD[3] is a templated prompt-response pair: the same pair as a chat record.
    p, r = GOOD[3]
    chat.append({"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": r}],
                 "source": "exact-1"})
    # GOOD[0] is a templated prompt-response pair: the same pair as an Alpaca record.
    p, r = GOOD[0]
    alpaca.append({"instruction": p, "input": "", "output": r, "source": "exact-2"})
    expect.update({"exact-0": "exact_duplicate", "exact-1": "exact_duplicate", "exact-2": "exact_duplicate"})
    # Near duplicates: a few words changed in a long answer.
    p, r = GOOD[7]
    alpaca.append({"instruction": p, "input": "", "output": r.replace("a few months", "some months"), "source": "near-0"})
    p, r = GOOD[9]
    chat.append({"messages": [{"role": "user", "content": p.replace("two sentences", "2 sentences")},
                              {"role": "assistant", "content": r.replace("finally", "at last")}], "source": "near-1"})
    expect.update({"near-0": "near_duplicate", "near-1": "near_duplicate"})
    with open(d / "pairs.jsonl", "w", encoding="utf-8") as f:
        for rec in jsonl:
            f.write(json.dumps(rec) + "\n")
        f.write("{this is not json\n")          # unreadable line (no tag: found by id)
        f.write(json.dumps({"question": "no answer here", "source": "unreadable-1"}) + "\n")
    expect["unreadable-1"] = "unreadable"
    (d / "alpaca.json").write_text(json.dumps(alpaca, indent=1), encoding="utf-8")
    with open(d / "chat.jsonl", "w", encoding="utf-8") as f:
        for rec in chat:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return expect, len(jsonl)


def _no_external_urls(page: str):
    assert "http://" not in page and "https://" not in page and "//cdn" not in page
    assert " src=" not in page and "href=" not in page and "@import" not in page and "url(" not in page


@pytest.fixture(scope="module")
def dirty_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("curate")
    expect, n_jsonl = _write_inputs(d)
    (d / "phrases.txt").write_text("# extra refusal phrases\nmust decline\n", encoding="utf-8")
    cmd = [sys.executable, str(REPO / "tools" / "curate.py"), str(d / "pairs.jsonl"), str(d / "alpaca.json"),
           str(d / "chat.jsonl"), "-o", str(d / "out.jsonl"), "--report", str(d / "report.json"),
           "--removed", str(d / "removed.jsonl"), "--map", str(d / "map.html"), "--tfidf", "--projection", "tsne",
           "--refusal-phrases", str(d / "phrases.txt"), "--max-chars", "4000"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return d, expect, n_jsonl


def _lines(path):
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def test_planted_pairs_removed_good_kept(dirty_run):
    d, expect, n_jsonl = dirty_run
    kept = _lines(d / "out.jsonl")
    removed = _lines(d / "removed.jsonl")
    assert sorted(r["origin"] for r in kept) == sorted(t for t, rule in expect.items() if rule is None)
    got = {r.get("origin", r["id"]): r["removed_by"] for r in removed}
    want = {t: rule for t, rule in expect.items() if rule is not None}
    want[f"pairs.jsonl#{n_jsonl}"] = "unreadable"        # the line that is not JSON
    assert got == want
    # One normalized shape: the Alpaca template is gone from prompts, messages end with the response.
    for r in kept:
        assert set(r) >= {"id", "source", "index", "prompt", "response", "messages", "format"}
        assert "### Instruction" not in r["prompt"]
        assert r["messages"][-1] == {"role": "assistant", "content": r["response"]}
    by_tag = {r["origin"]: r for r in kept}
    assert by_tag["good-0"]["prompt"] == GOOD[0][0] and by_tag["good-0"]["format"] == "prompt_response"
    assert by_tag["good-16"]["prompt"] == GOOD[16][0].replace("\n", "\n\n") and by_tag["good-16"]["format"] == "alpaca"
    assert by_tag["good-2"]["source"] == "chat.jsonl" and by_tag["good-2"]["format"] == "messages"


def test_report_counts_and_examples(dirty_run):
    d, expect, _ = dirty_run
    report = json.loads((d / "report.json").read_text(encoding="utf-8"))
    planted = {}
    for rule in expect.values():
        if rule:
            planted[rule] = planted.get(rule, 0) + 1
    planted["unreadable"] += 1
    counts = {r["name"]: r["removed"] for r in report["rules"]}
    assert {k: v for k, v in counts.items() if v} == planted
    assert report["total"] == len(expect) + 1 and report["kept"] == sum(v is None for v in expect.values())
    assert report["removed"] == sum(counts.values()) == report["total"] - report["kept"]
    for r in report["rules"]:
        assert len(r["examples"]) == min(3, r["removed"]) and r["description"]
        assert all(e["detail"] for e in r["examples"])
    refusal = next(r for r in report["rules"] if r["name"] == "refusal")
    assert all(e["detail"].startswith("says ") for e in refusal["examples"])


def test_map_png_and_self_contained_html(dirty_run):
    d, expect, _ = dirty_run
    png, page = d / "map.png", (d / "map.html").read_text(encoding="utf-8")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20000
    _no_external_urls(page)
    data = json.loads(page.split('<script type="application/json" id="data">')[1].split("</script>")[0])
    # Unreadable records have no text to place: the bad JSON line and "unreadable-1".
    assert len(data["x"]) == len(data["hover"]) == len(expect) - 1
    assert sum(data["removed"]) == sum(v is not None for v in expect.values()) - 1
    assert data["groups"]["source"] == ["pairs.jsonl", "alpaca.json", "chat.jsonl"]
    assert data["groups"]["status"][0] == "kept" and "refusal" in data["groups"]["status"]
    assert any("As an AI language model" in h for h in data["hover"])
    report = json.loads((d / "report.json").read_text(encoding="utf-8"))
    assert report["map"]["projection"] == "tsne" and report["map"]["embedding"] == "tfidf"


def test_map_page_in_a_browser(dirty_run):
    """The page runs in Chromium with no script error and no request, and hovering a point
    shows that pair's id and text."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (PyPI) is not installed")
    d, _, _ = dirty_run
    errors, requests, tip = [], [], ""
    with sync_api.sync_playwright() as p:
        browser = browser_launch(p)
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: requests.append(r.url) if not r.url.startswith("file:") else None)
        page.goto((d / "map.html").as_uri())
        page.select_option("#by", "status")
        legend = page.locator("#legend").inner_text()
        box = page.locator("#map").bounding_box()
        for y in range(8, int(box["height"]), 10):
            for x in range(8, int(box["width"]), 10):
                page.mouse.move(box["x"] + x, box["y"] + y)
                if page.locator("#tip").is_visible():
                    tip = page.locator("#tip").inner_text()
                    break
            if tip:
                break
        browser.close()
    assert not errors and not requests
    assert "kept (" in legend and "refusal (5)" in legend
    assert "PROMPT: " in tip and "RESPONSE: " in tip and "#" in tip.splitlines()[0]


def test_real_training_files_report_adds_up(testdata, tmp_path):
    files = [testdata / "train" / "llmfoundry_dolly_hhrlhf_train_small.jsonl",
             testdata / "train" / "gpteacher_roleplay.json"]
    raw = [json.loads(line) for line in files[0].read_text(encoding="utf-8").splitlines()]
    raw += json.loads(files[1].read_text(encoding="utf-8"))
    opts = CurateOptions(rules=RuleOptions(refusal_phrases=default_phrases()), progress=False)
    report = curate(files, tmp_path / "out.jsonl", tmp_path / "report.json", tmp_path / "removed.jsonl", opts)
    assert report["total"] == len(raw) == 2923
    assert [i["records"] for i in report["inputs"]] == [1000, 1923]
    assert report["inputs"][0]["formats"] == {"prompt_response": 1000}
    assert report["inputs"][1]["formats"] == {"alpaca": 1923}
    counts = [r["removed"] for r in report["rules"]]
    assert report["kept"] + sum(counts) == report["total"] and report["removed"] == sum(counts)
    assert sum(s["total"] for s in report["by_source"].values()) == report["total"]
    assert sum(s["kept"] for s in report["by_source"].values()) == report["kept"]
    for r in report["rules"]:
        assert r.get("matched", r["removed"]) >= r["removed"]
    kept, removed = _lines(tmp_path / "out.jsonl"), _lines(tmp_path / "removed.jsonl")
    assert len(kept) == report["kept"] and len(removed) == report["removed"]
    assert len({r["id"] for r in kept + removed}) == report["total"]
    # Every record of the files that holds U+FFFD goes (the Dolly file has one).
    broken = {r["response"] for r in raw if "\ufffd" in json.dumps(r, ensure_ascii=False)}
    assert broken and not broken & {r["response"] for r in kept}
    # The Dolly file's one-word factual answers ("1889", "Tiger barb") are answers, not short responses.
    assert next(r for r in report["rules"] if r["name"] == "short_response")["removed"] == 0
    assert sum(len(r["response"].split()) == 1 for r in kept) >= 20
    assert report["kept"] > 0.99 * report["total"]


@pytest.mark.parametrize("text", ["caf\u00e9 cr\u00e8me", "it\u2019s \u201cquoted\u201d \u2014 ok", "na\u00efve r\u00e9sum\u00e9",
                                  "\u6771\u4eac\u90fd", "\u041c\u043e\u0441\u043a\u0432\u0430", "snow \u2603 and \U0001f600"])
def test_mojibake_made_by_python_codecs(text):
    assert mojibake(text) is None
    for codec in ("cp1252", "latin-1"):
        try:
            broken = text.encode("utf-8").decode(codec)
        except UnicodeDecodeError:   # cp1252 leaves five bytes undefined
            continue
        assert mojibake(broken), (codec, broken)


def test_record_shapes(tmp_path):
    want = [{"role": "user", "content": "Add 2 and 3.\n\nin words"}, {"role": "assistant", "content": "five"}]
    templated = ("Below is an instruction that describes a task, paired with an input that provides further "
                 "context. Write a response that appropriately completes the request.\n\n### Instruction:\n"
                 "Add 2 and 3.\n\n### Input:\nin words\n\n### Response:\n")
    recs = [{"prompt": templated, "response": "five"},
            {"instruction": "Add 2 and 3.", "input": "in words", "output": "five"},
            {"messages": want},
            {"conversations": [{"from": "human", "value": want[0]["content"]}, {"from": "gpt", "value": "five"}]}]
    for rec in recs:
        fmt, msgs, problem = parse_record(rec)
        assert (msgs, problem) == (want, ""), fmt
    assert parse_record({"prompt": "x"})[0] == "unreadable"
    assert parse_record([1, 2])[0] == "unreadable"
    from llm4all.curate.formats import read_pairs

    # JSONL split on "\n" only (U+2028 is legal inside a JSON string); a one-record JSON file;
    # a {"data": [...]} wrapper.
    (tmp_path / "a.jsonl").write_text('{"prompt": "a\u2028b", "response": "c"}\n', encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps({"prompt": "p", "response": "r", "tags": [{"t": 1}]}), encoding="utf-8")
    (tmp_path / "c.json").write_text(json.dumps({"data": [{"instruction": "i", "output": "o"}] * 2}), encoding="utf-8")
    pairs, info = read_pairs([tmp_path / "a.jsonl", tmp_path / "b.json", tmp_path / "c.json"])
    assert [p.prompt for p in pairs] == ["a\u2028b", "p", "i", "i"]
    assert [i["records"] for i in info] == [1, 1, 2]


def test_engine_embeddings_map(tmp_path):
    from llm4all.catalog import PullError
    from llm4all.embeddings import embedding_model_path

    try:
        model = embedding_model_path("minilm", allow_download=False)
    except PullError as e:
        pytest.skip(f"minilm is not cached ({e}); run `llm4all pull minilm`")
    expect, _ = _write_inputs(tmp_path)
    cmd = [sys.executable, str(REPO / "tools" / "curate.py"), str(tmp_path / "pairs.jsonl"),
           str(tmp_path / "chat.jsonl"), "-o", str(tmp_path / "out.jsonl"), "--report", str(tmp_path / "r.json"),
           "--map", str(tmp_path / "m.html"), "--map-png", str(tmp_path / "picture.png"), "--embed-model", str(model),
           "--projection", "tsne", "-q"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["map"]["embedding"] == str(model) and (tmp_path / "picture.png").stat().st_size > 20000
    _no_external_urls((tmp_path / "m.html").read_text(encoding="utf-8"))


def test_map_sample_is_seeded_and_uniform(tmp_path):
    from llm4all.curate.formats import read_pairs
    from llm4all.curate.mapdata import sample_pairs

    _write_inputs(tmp_path)
    pairs, _ = read_pairs([tmp_path / "pairs.jsonl", tmp_path / "alpaca.json", tmp_path / "chat.jsonl"])
    a, b = sample_pairs(pairs, 12, seed=3), sample_pairs(pairs, 12, seed=3)
    assert len(a) == 12 and [p.id for p in a] == [p.id for p in b] and len({p.id for p in a}) == 12
    assert [p.id for p in a] == [p.id for p in pairs if p in a]           # input order kept
    assert [p.id for p in sample_pairs(pairs, 12, seed=4)] != [p.id for p in a]
    assert sample_pairs(pairs, 0) == pairs and sample_pairs(pairs, len(pairs) + 5) == pairs


def test_unknown_rule_is_an_error(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"prompt": "Hi", "response": "Hello there."}\n', encoding="utf-8")
    run = subprocess.run([sys.executable, str(REPO / "tools" / "curate.py"), str(tmp_path / "a.jsonl"), "-o",
                          str(tmp_path / "o.jsonl"), "--skip", "nonsense", "-q"], capture_output=True, text=True)
    assert run.returncode == 1 and "unknown rule" in run.stderr and "near_duplicate" in run.stderr
