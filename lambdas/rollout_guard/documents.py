"""Untrusted YAML and JSON documents (policies, `cancel --cli-input-*`), loaded safely.

- A key given twice in one mapping is an error: the parsers would keep the last one silently, and a pasted second
  `jobs: ["*"]` must never widen a rule.
- YAML aliases are bounded: expanding them may add at most `MAX_VALUES` values to those the document writes out,
  so an alias bomb ("billion laughs") is refused after that many steps, before anything is built from it; a long
  document without aliases is read whatever its size.
- Nesting too deep for the parser is an error, not a RecursionError.
- No message quotes a value of the document beyond `show`'s few characters.

The YAML parser is imported only when a YAML document is read (the function reads JSON only).
"""

from __future__ import annotations

import json
import reprlib
from collections.abc import Iterable, Iterator
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
        mapping.repeated = _repeated(key for key, _ in items)
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


def _repeated(keys: Iterable[str]) -> list[str]:
    """The keys given more than once, each once, in order (linear: a mapping may hold many keys)."""
    seen: set[str] = set()
    repeated: dict[str, None] = {}
    for key in keys:
        if key in seen:
            repeated[key] = None
        seen.add(key)
    return list(repeated)


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

    loader = yaml.SafeLoader(text)  # not libyaml's: its parser recurses in C, where deep nesting crashes the process
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
    """Walk the composed node graph as construction would expand it: a node met again is an alias's expansion, and
    expansions may add at most MAX_VALUES values. Report repeated scalar keys of each mapping (once per node)."""
    import yaml

    found: list[tuple[Path, str]] = []
    stack: list[tuple[Path, Any]] = [((), root)]
    met: set[int] = set()
    expanded = 0
    while stack:
        path, node = stack.pop()
        if id(node) in met:
            expanded += 1
            if expanded > MAX_VALUES:
                raise DocumentError([f"the YAML stands for more than {MAX_VALUES} values once its aliases are "
                                     "expanded (an alias bomb?)"])
            first = False
        else:
            met.add(id(node))
            first = True
        if isinstance(node, yaml.MappingNode):
            if first:
                keys = [key.value for key, _ in node.value if isinstance(key, yaml.ScalarNode)]
                found += [(path, key) for key in _repeated(keys)]
            stack.extend((path + (str(getattr(key, "value", "?")),), value) for key, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((path + (index,), value) for index, value in enumerate(node.value))
    return found
