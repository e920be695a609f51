"""Untrusted YAML and JSON documents (policies, `cancel --cli-input-*`), loaded safely.

- A key given twice in one mapping is an error: the parsers would keep the last one silently, and a pasted second
  `jobs: ["*"]` must never widen a rule.
- YAML aliases are bounded: the document may stand for at most `MAX_VALUES` values once its aliases are expanded,
  so an alias bomb ("billion laughs") is refused after that many steps, before anything is built from it.
- Nesting too deep for the parser is an error, not a RecursionError.
- No message quotes a value of the document beyond `show`'s few characters.

The YAML parser is imported only when a YAML document is read (the function reads JSON only).
"""

from __future__ import annotations

import json
import reprlib
from collections.abc import Iterator
from typing import Any

MAX_VALUES = 100_000
_SHOW = reprlib.Repr()
_SHOW.maxstring = _SHOW.maxother = 60
_SHOW.maxlist = _SHOW.maxtuple = _SHOW.maxdict = _SHOW.maxset = 4
_SHOW.maxlevel = 2

Path = tuple[str | int, ...]


class DocumentError(ValueError):
    """The document cannot be used; `problems` says why, one line each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


class DuplicateKeys(DocumentError):
    """Some mapping gives a key twice. `found` holds (path of the mapping, key) for each; `document` is what the
    parser built (last value winning), for callers that name the place in their own terms."""

    def __init__(self, found: list[tuple[Path, str]], document: Any):
        self.found = found
        self.document = document
        super().__init__([f"{where(path)}: duplicate key {show(key)}" for path, key in found])


def show(value: Any) -> str:
    """A value for a message: its repr, cut short."""
    return _SHOW.repr(value)


def where(path: Path) -> str:
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path).lstrip(".")
    return text or "the top level"


def load_json(text: str) -> Any:
    class Mapping(dict[str, Any]):
        repeated: list[str]

    def pairs(items: list[tuple[str, Any]]) -> Mapping:
        mapping = Mapping(items)
        keys = [key for key, _ in items]
        mapping.repeated = list(dict.fromkeys(key for index, key in enumerate(keys) if key in keys[:index]))
        return mapping

    try:
        document = json.loads(text, object_pairs_hook=pairs)
    except RecursionError as error:
        raise DocumentError(["the JSON is nested too deeply"]) from error
    except ValueError as error:
        raise DocumentError([f"not valid JSON: {str(error).splitlines()[0]}"]) from error
    found = [(path, key) for path, node in _walk(document) if isinstance(node, Mapping) for key in node.repeated]
    if found:
        raise DuplicateKeys(found, document)
    return document


def _walk(node: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every mapping and list of a parsed JSON document with its path (iteratively: no depth limit)."""
    stack = [(path, node)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            yield path, node
            stack.extend((path + (str(key),), value) for key, value in node.items())
        elif isinstance(node, list):
            stack.extend((path + (index,), value) for index, value in enumerate(node))


def load_yaml(text: str) -> Any:
    import yaml  # only the CLI and the CDK app read YAML

    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        found = _check_yaml(root)
        document = loader.construct_document(root)
    except RecursionError as error:
        raise DocumentError(["the YAML is nested too deeply"]) from error
    except yaml.YAMLError as error:
        raise DocumentError([f"not valid YAML: {str(error).splitlines()[0]}"]) from error
    finally:
        loader.dispose()
    if found:
        raise DuplicateKeys(found, document)
    return document


def _check_yaml(root: Any) -> list[tuple[Path, str]]:
    """Walk the composed node graph as construction would expand it, counting every value: an alias counts as
    often as it is used. Stop at MAX_VALUES; report repeated scalar keys of each mapping."""
    import yaml

    found: list[tuple[Path, str]] = []
    stack: list[tuple[Path, Any]] = [((), root)]
    visited = 0
    while stack:
        path, node = stack.pop()
        visited += 1
        if visited > MAX_VALUES:
            raise DocumentError([f"the YAML stands for more than {MAX_VALUES} values once its aliases are expanded "
                                 "(an alias bomb?)"])
        if isinstance(node, yaml.MappingNode):
            keys = [key.value for key, _ in node.value if isinstance(key, yaml.ScalarNode)]
            found += [(path, key) for key in dict.fromkeys(k for i, k in enumerate(keys) if k in keys[:i])]
            stack.extend((path + (str(getattr(key, "value", "?")),), value) for key, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((path + (index,), value) for index, value in enumerate(node.value))
    return found
