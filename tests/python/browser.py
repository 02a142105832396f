"""Headless Chromium for the page tests: Debian's /usr/bin/chromium (or $LLM4ALL_CHROMIUM)
driven by Playwright; never a downloaded browser."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sanitizer import plain_env

CHROMIUM = os.environ.get("LLM4ALL_CHROMIUM", "/usr/bin/chromium")


def launch(playwright):
    """A headless Chromium from `playwright` (a sync_playwright() instance); skips the test,
    with the reason, when there is none."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt install chromium, or set LLM4ALL_CHROMIUM)")
    # Under an ASan-built core (docs/fuzzing.md) Chromium never starts with the sanitizer
    # runtime preloaded: it gets the environment without it.
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"],
                                      env=plain_env())
