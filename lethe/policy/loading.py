"""Load a policy file: YAML -> validated ``Policy``; every error names the file, the line and the field.

The YAML is parsed once into nodes (libyaml's C parser when PyYAML has it), which give the line of every
key and item, and the data is constructed from those nodes. Pydantic's error locations are then mapped back
to lines. Duplicate keys (which YAML parsers silently overwrite) are errors. ``${VAR}`` and
``${VAR:-default}`` are replaced from the environment in the ``stores`` block only, so secrets live outside
the file and the policy hash (over the file's bytes) does not depend on them. Nesting depth and alias
expansion are bounded (``MAX_DEPTH``, ``MAX_ALIASED_NODES``) before the tree is built.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from lethe.errors import PolicyError
from lethe.policy.model import Policy
from lethe.policy.urls import url_problem

Path_ = tuple[str | int, ...]
# Bounds for hostile files, checked on the parser's event stream before any node tree is built: a policy is
# at most ~8 levels deep, and aliases that expand to more than this many nodes are an "alias bomb" (a 7 KB
# file of nested aliases expands to a billion nodes).
MAX_DEPTH = 32
MAX_ALIASED_NODES = 100_000
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    """A mapping, refusing duplicate keys (YAML parsers keep the last one silently) and non-scalar keys."""
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            first = seen.get(key)
        except TypeError:  # a list or mapping as a key (``? [a, b]``)
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a plain value, not a list or mapping", key_node.start_mark
            ) from None
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {first})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


def _unique_key_loader(base: type[Any]) -> type[Any]:
    """A safe loader class on ``base`` whose mappings go through ``_construct_mapping``."""
    loader: type[Any] = type(f"UniqueKey{base.__name__}", (base,), {})
    loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    return loader


# Every task of a flow loads the policy: libyaml parses it about ten times faster than pure Python. Pure
# Python's syntax errors are clearer (they show the offending character), so a file that does not parse is
# parsed again with it for the message.
_PURE = _unique_key_loader(yaml.SafeLoader)
_FAST = _unique_key_loader(yaml.CSafeLoader) if hasattr(yaml, "CSafeLoader") else _PURE


def _line_index(
    node: yaml.Node | None, path: Path_ = (), index: dict[Path_, int] | None = None
) -> dict[Path_, int]:
    """Map every path (keys and item indices) to the 1-based line where it starts."""
    index = {} if index is None else index
    if node is None:
        return index
    index.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            index[(*path, key)] = key_node.start_mark.line + 1
            _line_index(value_node, (*path, key), index)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, (*path, i), index)
    return index


def _line_of(index: Mapping[Path_, int], path: Path_) -> int | None:
    """Line of the longest prefix of ``path`` that the file has (a missing field points at its parent)."""
    for end in range(len(path), -1, -1):
        line = index.get(tuple(path[:end]))
        if line is not None:
            return line
    return None


def _interpolate(value: Any, path: Path_, problems: list[tuple[Path_, str]], env: Mapping[str, str]) -> Any:
    """Replace ``${VAR}`` in strings of a nested structure; missing variables are collected as problems."""
    if isinstance(value, dict):
        return {k: _interpolate(v, (*path, k), problems, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*path, i), problems, env) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        problems.append((path, f"environment variable {name} is not set (and no ${{{name}:-default}} given)"))
        return ""

    return _ENV.sub(substitute, value)


def _pydantic_path(loc: tuple[str | int, ...]) -> Path_:
    # Pydantic inserts validator tags (e.g. "function-before[...]", "str", "LatestOf") into locations of
    # unions and annotated types; they are not keys of the file.
    return tuple(
        p for p in loc if not (isinstance(p, str) and (p[:1].isupper() or "[" in p or p in {"str", "int"}))
    )


def _format(file: str, index: Mapping[Path_, int], problems: list[tuple[Path_, str]]) -> str:
    lines = []
    for path, message in problems:
        line = _line_of(index, path)
        where = f"{file}:{line}" if line else file
        field = ".".join(str(p) for p in path) or "(top level)"
        lines.append(f"{where}: {field}: {message}")
    return "\n".join(lines)


def _check_shape(text: str, loader_class: type[Any], source: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH and aliases expanding to more than MAX_ALIASED_NODES nodes.

    Works on the event stream, which both parsers produce without recursion and without building nodes, so a
    hostile file is refused in well under a second and in little memory; the composer and constructor recurse
    once per level, and everything after them (line index, validation) walks an alias once per use.
    """
    expands: dict[str | None, tuple[int, int]] = {}  # anchor -> (nodes its value expands to, levels deep)
    open_nodes: list[list[Any]] = []  # per open collection: [anchor, nodes so far, deepest child's levels]
    aliased = 0
    loader = loader_class(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            line = event.start_mark.line + 1
            too_deep = f"{source}:{line}: the policy is nested more than {MAX_DEPTH} levels deep"
            if isinstance(event, yaml.CollectionStartEvent):
                if len(open_nodes) >= MAX_DEPTH:
                    raise PolicyError(too_deep)
                open_nodes.append([event.anchor, 1, 0])
                continue
            if isinstance(event, yaml.CollectionEndEvent):
                anchor, size, deepest = open_nodes.pop()
                levels = deepest + 1
            elif isinstance(event, yaml.AliasEvent):
                # An alias stands for its anchor's whole value, so aliases of aliases count in full. An
                # unknown anchor is left to the composer, which reports it with its line.
                anchor, (size, levels) = None, expands.get(event.anchor, (1, 0))
                aliased += size
                if aliased > MAX_ALIASED_NODES:
                    raise PolicyError(
                        f"{source}:{line}: aliases (*{event.anchor}) expand to more than "
                        f"{MAX_ALIASED_NODES:,} nodes; write the repeated parts out or share less"
                    )
                if len(open_nodes) + levels > MAX_DEPTH:
                    raise PolicyError(too_deep)
            elif isinstance(event, yaml.ScalarEvent):
                anchor, size, levels = event.anchor, 1, 0
            else:  # stream and document events
                continue
            if anchor is not None:
                expands[anchor] = (size, levels)
            if open_nodes:
                parent = open_nodes[-1]
                parent[1] += size
                parent[2] = max(parent[2], levels)
    finally:
        loader.dispose()


def _parse(text: str, loader_class: type[Any], source: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for lines) and the data constructed from it, parsed once."""
    _check_shape(text, loader_class, source)
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
        return root, (loader.construct_document(root) if root is not None else None)
    finally:
        loader.dispose()


def parse_policy(text: str, *, source: str = "<policy>", environ: Mapping[str, str] | None = None) -> Policy:
    """Validate policy ``text``; raise PolicyError naming ``source``, line and field for every problem."""
    env = os.environ if environ is None else environ
    try:
        try:
            root, data = _parse(text, _FAST, source)
        except yaml.YAMLError:
            root, data = _parse(text, _PURE, source)  # the same error, with pure Python's clearer message
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(f"{where}: not valid YAML: {problem}") from None
    if data is None:
        raise PolicyError(f"{source}: the policy file is empty")
    if not isinstance(data, dict):
        raise PolicyError(
            f"{source}:1: the policy must be a mapping of sections (version, controller, stores, ...)"
        )
    index = _line_index(root)

    problems: list[tuple[Path_, str]] = []
    if isinstance(data.get("stores"), dict):
        data["stores"] = _interpolate(data["stores"], ("stores",), problems, env)
    if problems:
        raise PolicyError(_format(source, index, problems))
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key (check its spelling and indentation)"
            problems.append((_pydantic_path(error["loc"]), message))
        raise PolicyError(_format(source, index, problems)) from None
    problems = policy.reference_problems()
    for name, store in policy.stores.items():
        # An unsupported database is a mistake in the file: say so here, not as a driver import error later.
        url_error = url_problem(store.url)
        if url_error is not None:
            problems.append((("stores", name, "url"), url_error))
    if problems:
        raise PolicyError(_format(source, index, problems))
    policy.attach_source(source, hashlib.sha256(text.encode("utf-8")).hexdigest())
    return policy


def load_policy(path: str | Path, *, environ: Mapping[str, str] | None = None) -> Policy:
    """Read and validate the policy file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"{path}: no such policy file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: cannot read the policy file ({exc.__class__.__name__})") from None
    return parse_policy(text, source=str(path), environ=environ)
