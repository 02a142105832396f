"""Which non-CPU devices this machine has, for tests that run on each one.

A test on a device that is absent skips saying why; with LLM4ALL_REQUIRE_DEVICES=vulkan
(CI sets it, since it installs Mesa's lavapipe) the absence fails instead, so a broken
plugin build cannot pass as a skip."""
import json
import os

import pytest

from llm4all import _core


def device_problem(kind: str) -> str:
    """'' when a device of this kind can run models here, else why not."""
    plugins = json.loads(_core.devices_json())
    mine = [p for p in plugins if p.get("backend") == kind]
    if not mine:
        return f"no {kind} plugin in this build (libllm4all-{kind}.so)"
    for p in mine:
        if p.get("devices"):
            return ""
    return f"the {kind} plugin cannot be used: " + "; ".join(p.get("problem", "no device") for p in mine)


def require_device(kind: str) -> None:
    why = device_problem(kind)
    if not why:
        return
    required = [k.strip() for k in os.environ.get("LLM4ALL_REQUIRE_DEVICES", "").split(",") if k.strip()]
    if kind in required:
        pytest.fail(f"LLM4ALL_REQUIRE_DEVICES names {kind}, but {why}")
    pytest.skip(why)
