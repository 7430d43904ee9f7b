"""Parse YAML with PyYAML's safe composer, keeping the 1-based line of every key path (``cases[1].args.x``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml


class YamlError(ValueError):
    def __init__(self, message: str, line: int, key: str = "") -> None:
        super().__init__(message)
        self.line = line
        self.key = key


@dataclass
class Tree:
    """The plain Python value of a document plus where each path starts."""

    value: Any
    lines: dict[str, int] = field(default_factory=dict)
    nodes: dict[str, yaml.Node] = field(default_factory=dict)

    def line(self, path: str) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return self.lines.get("", 1)


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def parse(text: str) -> Tree:
    """Compose ``text`` with the SafeLoader and build plain values; raises YamlError with a line."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlError(f"invalid YAML: {exc.problem or exc}", (mark.line + 1) if mark else 1) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}", 1) from None
    finally:
        loader.dispose()
    tree = Tree(value=None)
    if root is not None:
        tree.value = _build(root, "", tree, loader)
    return tree


def _build(node: yaml.Node, path: str, tree: Tree, loader: yaml.SafeLoader) -> Any:
    tree.lines.setdefault(path, node.start_mark.line + 1)
    tree.nodes.setdefault(path, node)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlError("expected a plain key, got a complex key", key_node.start_mark.line + 1, path)
            key = loader.construct_object(key_node)
            if isinstance(key, bool | type(None)) or not isinstance(key, str | int):
                # `yes:`/`null:` keys are YAML 1.1 surprises; treat them as text so the schema names them.
                key = str(key_node.value)
            child = join(path, str(key))
            if key in out:
                raise YamlError(f"duplicate key {key!r} (first on line {tree.lines[child]})",
                                key_node.start_mark.line + 1, child)
            tree.lines[child] = key_node.start_mark.line + 1
            out[key] = _build(value_node, child, tree, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, join(path, i), tree, loader) for i, item in enumerate(node.value)]
    try:
        return loader.construct_object(node)
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid value: {exc}", node.start_mark.line + 1, path) from None
