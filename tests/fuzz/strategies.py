"""What the fuzzers draw from: JSON values, and mutations of a real JSON document.

A mutation picks a node of the document (any depth) and replaces it (with a value aimed at
its key, a node moved from elsewhere in the document, or any JSON value), deletes it, or
adds a key beside it; one to three mutations per example. Hypothesis shrinks a failure to
the smallest such edit.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st

NodePath = tuple[Any, ...]
Aimed = Callable[[NodePath], list[Any]]


def examples(n: int) -> int:
    """``n`` examples under the ``ci`` profile, scaled by the profile in force (``deep``: 20x)."""
    return max(1, n * settings.default.max_examples // 100)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2, 3, 2**31, 2**63, -(2**63), 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", "0", "1.5", "true", "null", "NaN", "../x", "/etc/passwd", "\x00", "é"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


def nodes(tree: Any, path: NodePath = ()) -> list[NodePath]:
    """The path of every node of ``tree``, the root included, depth first."""
    out = [path]
    if isinstance(tree, dict):
        for key, value in tree.items():
            out += nodes(value, (*path, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            out += nodes(value, (*path, i))
    return out


def _at(tree: Any, path: NodePath) -> Any:
    for step in path:
        tree = tree[step]
    return tree


@st.composite
def mutated(draw: st.DrawFn, tree: Any, aimed: Aimed = lambda path: []) -> Any:
    """A deep copy of ``tree`` with one to three mutations."""
    tree = copy.deepcopy(tree)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from([p for p in nodes(tree) if p] or [()]))
        if not path:
            return draw(json_values)
        parent, key = _at(tree, path[:-1]), path[-1]
        action = draw(st.sampled_from(["aimed", "moved", "any", "delete", "add"]))
        if action == "delete":
            del parent[key]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(json_values)
        elif action == "add":
            parent.insert(key, draw(json_values))
        elif action == "moved":
            parent[key] = copy.deepcopy(_at(tree, draw(st.sampled_from(nodes(tree)))))
        else:
            choices = aimed(path) if action == "aimed" else []
            parent[key] = draw(st.sampled_from(choices)) if choices else draw(json_values)
    return tree
