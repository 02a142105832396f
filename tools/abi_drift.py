#!/usr/bin/env python3
"""ABI drift check: every function of the C ABI (core/include/llm4all/llm4all.h) must be
wrapped by each language binding under bindings/<lang>/, or listed with a reason in that
binding's not_wrapped.txt. Adding a function to the header without deciding fails CI.
Every C struct a binding declares itself (C#, Java, TypeScript; Go and Python compile
against the header) must have the header's fields in the header's order: the _init
functions write the whole struct, so a binding that misses an appended field corrupts memory.

Usage (from the project root): python tools/abi_drift.py [--header H] [--root R]. Exit 0 when clean.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Dict, List, Set, Tuple

# How each binding calls the C ABI, so that a name only counts where it really is a call or
# a declaration of one: file extensions holding the binding's source, and the pattern that a
# function's name must match there ({name} is replaced by the escaped name).
WORD = r"(?<![A-Za-z0-9_]){name}(?![A-Za-z0-9_])"
BINDINGS: Dict[str, Tuple[Tuple[str, ...], str]] = {
    "python": ((".cpp", ".hpp", ".h"), WORD),            # the pybind11 module _core
    "go": ((".go",), r"(?<![A-Za-z0-9_])C\.{name}(?![A-Za-z0-9_])"),  # cgo calls
    "csharp": ((".cs",), WORD),                           # DllImport EntryPoint or method name
    "java": ((".java",), WORD),                           # JNA interface method names
    "typescript": ((".ts", ".mts", ".cts"), WORD),        # koffi declaration strings
}
# Folders and files that are not the binding itself: a name used only by a test or found
# in build output or downloaded packages does not make it wrapped.
SKIP_DIRS = {"test", "tests", "node_modules", "build", "dist", "bin", "obj", "out", "target"}
SKIP_FILE = re.compile(r"(_test\.go|\.test\.[cm]?ts|\.d\.ts|Test\.java|Tests?\.cs)$")
NOT_WRAPPED = "not_wrapped.txt"
LINE = re.compile(r"^(llm4all_[A-Za-z0-9_]+)\s*#\s*(\S.*)$")


def header_functions(header: Path) -> List[str]:
    """Names of the functions declared in the header, in order (comments stripped first,
    so prose such as 'llm4all_last_error() then explains it' is not a declaration)."""
    text = header.read_text(encoding="utf-8")
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    names: List[str] = []
    for m in re.finditer(r"(?<![A-Za-z0-9_*])(llm4all_[A-Za-z0-9_]+)\s*\(", text):
        if m.group(1) not in names:
            names.append(m.group(1))
    return names


def binding_sources(folder: Path, exts: Tuple[str, ...]) -> str:
    parts = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).parts
        if not p.is_file() or p.suffix not in exts or SKIP_DIRS.intersection(rel[:-1]) or SKIP_FILE.search(p.name):
            continue
        parts.append(p.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(parts)


def read_not_wrapped(path: Path, problems: List[str]) -> Dict[str, str]:
    listed: Dict[str, str] = {}
    if not path.exists():
        return listed
    for i, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        if not m:
            problems.append(f"{path.name}:{i}: expected 'llm4all_name  # why', got {line!r}")
            continue
        if m.group(1) in listed:
            problems.append(f"{path.name}:{i}: {m.group(1)} listed twice")
        listed[m.group(1)] = m.group(2)
    return listed


def check_binding(folder: Path, functions: List[str], exts: Tuple[str, ...], pattern: str) -> List[str]:
    """Problems of one binding, one line each; empty when it is clean."""
    problems: List[str] = []
    source = binding_sources(folder, exts)
    listed = read_not_wrapped(folder / NOT_WRAPPED, problems)
    wrapped: Set[str] = {f for f in functions if re.search(pattern.format(name=re.escape(f)), source)}
    for name in functions:
        if name not in wrapped and name not in listed:
            problems.append(f"missing: {name} (neither wrapped nor listed in {NOT_WRAPPED})")
    for name in listed:
        if name not in functions:
            problems.append(f"{NOT_WRAPPED}: {name} is not a function of the header")
        elif name in wrapped:
            problems.append(f"{NOT_WRAPPED}: {name} is listed but also wrapped")
    return problems


def header_structs(header: Path) -> Dict[str, List[str]]:
    """Field names, in order, of each `typedef struct llm4all_x { ... } llm4all_x;`."""
    text = header.read_text(encoding="utf-8")
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    out: Dict[str, List[str]] = {}
    for m in re.finditer(r"typedef\s+struct\s+(llm4all_\w+)\s*\{(.*?)\}\s*\1\s*;", text, flags=re.S):
        fields = []
        for decl in m.group(2).split(";"):
            for part in decl.split(","):
                name = re.search(r"(\w+)\s*(\[[^\]]*\])?\s*$", part.strip())
                if name and part.strip():
                    fields.append(name.group(1))
        out[m.group(1)] = fields
    return out


def _snake(camel: str) -> str:
    return "llm4all_" + re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


def binding_structs(lang: str, source: str) -> Dict[str, List[str]]:
    """The C structs a binding declares itself: C name -> its field names in order."""
    out: Dict[str, List[str]] = {}
    if lang == "csharp":   # internal struct ModelOptionsC { public T a; public T b, c; }
        for m in re.finditer(r"struct\s+(\w+?)C\s*\{(.*?)\}", source, flags=re.S):
            body = re.sub(r"//[^\n]*", " ", m.group(2))
            out[_snake(m.group(1))] = [n.strip() for d in re.findall(r"public\s+[\w.\[\]<>]+\s+([\w\s,]+);", body)
                                       for n in d.split(",")]
    elif lang == "java":   # @Structure.FieldOrder({"a", "b"}) class ModelOptions extends Structure
        for m in re.finditer(r"FieldOrder\(\{(.*?)\}\)\s*(?:public\s+)?(?:static\s+)?class\s+(\w+)", source, flags=re.S):
            out[_snake(m.group(2))] = re.findall(r'"(\w+)"', m.group(1))
    elif lang == "typescript":   # koffi.struct("llm4all_x", { a: "T", b: T })
        for m in re.finditer(r'koffi\.struct\(\s*"(llm4all_\w+)"\s*,\s*\{(.*?)\}\s*\)', source, flags=re.S):
            body = re.sub(r"//[^\n]*", " ", m.group(2))
            out[m.group(1)] = re.findall(r"(\w+)\s*:", body)
    return out


def check_structs(lang: str, source: str, structs: Dict[str, List[str]]) -> List[str]:
    problems = []
    for name, fields in binding_structs(lang, source).items():
        want = structs.get(name)
        if want is None:
            problems.append(f"struct {name}: not in the header")
        elif fields != want:
            problems.append(f"struct {name}: fields {fields} differ from the header's {want}")
    return problems


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path("."), help="project root (default: .)")
    ap.add_argument("--header", type=Path, default=None,
                    help="the C header (default: ROOT/core/include/llm4all/llm4all.h)")
    args = ap.parse_args(argv)
    header = args.header or args.root / "core/include/llm4all/llm4all.h"
    functions = header_functions(header)
    if not functions:
        print(f"abi_drift: no llm4all_ functions found in {header}", file=sys.stderr)
        return 2
    failed = False
    for lang, (exts, pattern) in BINDINGS.items():
        folder = args.root / "bindings" / lang
        if not folder.is_dir():
            print(f"{lang}: no binding (bindings/{lang} absent), not checked")
            continue
        problems = check_binding(folder, functions, exts, pattern)
        problems += check_structs(lang, binding_sources(folder, exts), header_structs(header))
        if problems:
            failed = True
            print(f"{lang}: {len(problems)} problem(s)")
            for p in problems:
                print(f"  {p}")
        else:
            n_listed = len(read_not_wrapped(folder / NOT_WRAPPED, []))
            print(f"{lang}: ok ({len(functions) - n_listed} wrapped, {n_listed} deliberately not)")
    print(f"abi_drift: {len(functions)} functions in {header}: {'DRIFT' if failed else 'clean'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
