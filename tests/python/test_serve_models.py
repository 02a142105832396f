"""Models on demand in `llm4all serve` (llm4all/serve/pool.py): with no MODEL argument every
installed model answers by its name, loaded on first use; --max-loaded unloads the least
recently used idle model (and the RSS drops); a model that is not installed gets a 404 naming
`llm4all pull`. The pool's rules are also checked directly with stand-in engines."""

import asyncio
import os
import threading
import time

import pytest

pytest.importorskip("fastapi")

import llm4all  # noqa: E402
from llm4all.serve.errors import APIError  # noqa: E402
from llm4all.serve.pool import ModelPool, Served  # noqa: E402

from live_server import live_server  # noqa: E402


# ---- the pool's rules, with stand-in engines --------------------------------------------------

class FakeEngine:
    def __init__(self, name):
        self.name, self.closed, self.busy_slots = name, False, 0
        self.model = type("M", (), {"embedding_dim": 0})()
        self.n_ctx = 64

    def stats(self):
        return {"slots_busy": self.busy_slots, "queued": 0, "n_parallel": 1, "n_ctx": 64}

    def close(self):
        self.closed = True


def fake_pool(tmp_path, names, **kw):
    for n in names:
        (tmp_path / f"{n}.gguf").write_bytes(b"GGUF")
    loads = []

    def load(name, path):
        loads.append(name)
        time.sleep(0.05)   # a load takes a while: concurrent first requests must share it
        if name == "broken":
            raise RuntimeError("bad magic")
        return Served(name, FakeEngine(name))

    return ModelPool(load, cache=tmp_path, **kw), loads


def test_pool_loads_on_first_use_once_and_evicts_lru_idle(tmp_path):
    pool, loads = fake_pool(tmp_path, ["a", "b", "c"], max_loaded=2)

    async def main():
        got = await asyncio.gather(*(pool.acquire("a") for _ in range(5)))
        assert loads == ["a"] and all(g is got[0] for g in got) and got[0].pins == 5
        for g in got:
            pool.release(g)
        b = await pool.acquire("b")
        pool.release(b)
        a = await pool.acquire("a")     # a is now the most recently used
        pool.release(a)
        c = await pool.acquire("c")     # evicts b, the least recently used idle model
        assert sorted(pool.loaded) == ["a", "c"] and b.engine.closed and not a.engine.closed
        # A busy model is never unloaded: with a and c busy, a load of b waits for one to go idle.
        a2 = await pool.acquire("a")
        c.engine.busy_slots = 1
        waiter = asyncio.ensure_future(pool.acquire("b"))
        await asyncio.sleep(0.5)
        assert not waiter.done() and sorted(pool.loaded) == ["a", "c"]
        pool.release(a2)
        pool.release(c)
        b2 = await asyncio.wait_for(waiter, 5)
        assert b2.name == "b" and sorted(pool.loaded) == ["b", "c"] and a.engine.closed
    asyncio.run(main())


def test_pool_errors_name_the_problem(tmp_path):
    pool, loads = fake_pool(tmp_path, ["a", "broken"])

    async def main():
        with pytest.raises(APIError) as e:
            await pool.acquire("nope")
        assert e.value.status == 404 and "llm4all pull nope" in e.value.message and "a.gguf" in e.value.message
        errs = await asyncio.gather(*(pool.acquire("broken") for _ in range(3)), return_exceptions=True)
        assert loads == ["broken"] and all(isinstance(x, APIError) and x.status == 500 and "bad magic" in x.message
                                           for x in errs)
        with pytest.raises(APIError) as e:
            await pool.acquire(None)    # no MODEL on the command line: a request must name one
        assert e.value.status == 400
    asyncio.run(main())


def test_pool_unloads_idle_models_after_the_timeout(tmp_path):
    pool, _ = fake_pool(tmp_path, ["a"], idle_timeout_s=0.3)

    async def main():
        a = await pool.acquire("a")
        pool.release(a)
        reaper = asyncio.ensure_future(pool.reap(every_s=0.1))
        await asyncio.sleep(1.0)
        reaper.cancel()
        assert not pool.loaded and a.engine.closed
    asyncio.run(main())


# ---- a live server over two real models ----------------------------------------------------------

def _post(srv, path, body):
    import httpx
    return httpx.post(srv.api + path, json=body, timeout=120)


def test_two_models_by_name_and_max_loaded_unloads(tmp_path, stories260k, smollm2):
    cache = tmp_path / "cache"
    cache.mkdir()
    os.symlink(stories260k, cache / "stories.gguf")
    os.symlink(smollm2, cache / "small.gguf")
    prompts = {"stories": "Once upon a time", "small": "The capital of France is"}
    want = {name: llm4all.Model(str(cache / f"{name}.gguf")).generate(p, max_tokens=12, temp=0)
            for name, p in prompts.items()}
    import httpx
    with live_server(None, "--max-loaded", "1", "--parallel", "2", "--n-ctx", "256",
                     env={"LLM4ALL_CACHE": str(cache)}) as srv:
        ids = [m["id"] for m in httpx.get(srv.api + "/models").json()["data"]]
        assert {"stories", "small"} <= set(ids), ids
        rss_before = srv.rss_kb()
        for name in ["small", "stories", "small", "stories"]:   # alternate: each switch loads one, unloads the other
            r = _post(srv, "/completions", {"model": name, "prompt": prompts[name], "max_tokens": 12,
                                            "temperature": 0})
            assert r.status_code == 200, r.text
            assert r.json()["choices"][0]["text"] == want[name] and r.json()["model"] == name
            assert httpx.get(srv + "/health").json()["loaded"] == [name]
            if name == "small":
                rss_small = srv.rss_kb()
        # smollm2's weights (~94 MiB) went with it: the RSS with stories260K alone is well below.
        rss_stories = srv.rss_kb()
        assert rss_small - rss_stories > 40 * 1024, (rss_before, rss_small, rss_stories)
        r = _post(srv, "/chat/completions", {"model": "llama-9000", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 404 and "llm4all pull llama-9000" in r.json()["error"]["message"]


def test_other_models_answer_while_one_loads(tmp_path, stories260k, smollm2):
    """Loading happens off the event loop: a request to a loaded model is answered while
    another model's first request is still loading (several loads in a row keep it busy)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    os.symlink(stories260k, cache / "stories.gguf")
    for i in range(3):
        os.symlink(smollm2, cache / f"small{i}.gguf")
    import httpx
    with live_server(None, "--max-loaded", "4", "--parallel", "1", "--n-ctx", "128",
                     env={"LLM4ALL_CACHE": str(cache)}) as srv:
        assert _post(srv, "/completions", {"model": "stories", "prompt": "Once", "max_tokens": 2}).status_code == 200
        done = []

        def load_others():
            for i in range(3):
                done.append(_post(srv, "/completions", {"model": f"small{i}", "prompt": "Hi", "max_tokens": 1}))

        t = threading.Thread(target=load_others)
        t.start()
        quick = []
        while t.is_alive():
            t0 = time.monotonic()
            r = httpx.get(srv.api + "/models", timeout=60)
            quick.append(time.monotonic() - t0)
            assert r.status_code == 200
            time.sleep(0.02)
        t.join()
        assert all(r.status_code == 200 for r in done)
        assert len(quick) >= 3 and sorted(quick)[len(quick) // 2] < 0.5, quick
