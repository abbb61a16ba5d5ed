"""The ``name[key=value,…]`` grammar for choosing plugins and their parameters on a command line.

Values are read as YAML scalars or flow sequences, so ``seed=3`` is an int, ``op=mult`` a
string and ``sizes=[1,2]`` a list; commas inside brackets do not split entries.
"""

from __future__ import annotations

from typing import Any

import yaml

from benchsuite.api import BenchsuiteError


def parse_method_list(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Parse ``'full,hashing[seed=3]'`` into ``[("full", {}), ("hashing", {"seed": 3})]``."""
    entries = [e.strip() for e in _split_top(text, ",")]
    if not entries or any(not e for e in entries):
        raise BenchsuiteError(f"{text!r}: empty method name in the list")
    return [parse_method(e) for e in entries]


def parse_method(text: str) -> tuple[str, dict[str, Any]]:
    """Parse one ``name`` or ``name[key=value,…]``."""
    if "[" not in text:
        name, inner = text, ""
    else:
        if not text.endswith("]"):
            raise BenchsuiteError(f"{text!r}: parameters must be written name[key=value,...]")
        name, inner = text[: text.index("[")], text[text.index("[") + 1 : -1]
    name = name.strip()
    if not name.replace("-", "_").isidentifier():
        raise BenchsuiteError(f"{text!r}: {name!r} is not a valid plugin name")
    params: dict[str, Any] = {}
    for item in _split_top(inner, ","):
        if not item.strip():
            continue
        if "=" not in item:
            raise BenchsuiteError(f"{text!r}: parameter {item.strip()!r} needs the form key=value")
        key, value = (s.strip() for s in item.split("=", 1))
        if not key.isidentifier():
            raise BenchsuiteError(f"{text!r}: {key!r} is not a valid parameter name")
        if key in params:
            raise BenchsuiteError(f"{text!r}: parameter {key!r} given twice")
        try:
            params[key] = yaml.safe_load(value) if value else ""
        except yaml.YAMLError:
            raise BenchsuiteError(
                f"{text!r}: cannot read the value of {key!r}: {value!r}"
            ) from None
    return name, params


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside brackets; unbalanced brackets are an error."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
            if depth < 0:
                raise BenchsuiteError(f"{text!r}: unbalanced brackets")
        if ch == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth != 0:
        raise BenchsuiteError(f"{text!r}: unbalanced brackets")
    parts.append("".join(current))
    return parts
