"""Whether the tests run against an ASan-built core (docs/fuzzing.md: the sanitizer runtime
preloaded into the interpreter), and how that moves the limits the tests assert: a Debug
build under ASan runs 10-20x slower, and its shadow memory and quarantine add to RSS."""

import os

UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")
TIME_SCALE = 20 if UNDER_ASAN else 1
RSS_SCALE = 2 if UNDER_ASAN else 1


def child_env(rss_limit_mib: int) -> dict:
    """This process's environment for a child Python that bounds its own memory: under ASan
    RLIMIT_AS cannot (ASan reserves terabytes of address space for its shadow), so ASan's
    hard_rss_limit_mb bounds the child instead."""
    env = dict(os.environ)
    if UNDER_ASAN:
        env["ASAN_OPTIONS"] = f"{env.get('ASAN_OPTIONS', '')}:hard_rss_limit_mb={rss_limit_mib}".lstrip(":")
    return env


def plain_env() -> dict:
    """This process's environment without a preloaded sanitizer runtime, for programs that are
    not the engine (a browser, compilers, other languages' runtimes): they fail or hang under
    it, and nothing of ours runs in them to check."""
    return {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}


# Under ASan a process's RSS also holds ASan's shadow memory and the quarantine that keeps
# freed blocks back (256 MiB): it says nothing about the engine's own memory there.
RSS_NOT_COMPARABLE = "under ASan the RSS holds its shadow memory and quarantine, not comparable"
