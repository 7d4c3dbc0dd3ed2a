"""Run filters and sort keys: a small grammar parsed into a tree, then compiled to SQL.

Grammar (keywords are case-insensitive)::

    expr    := term ("or" term)*
    term    := factor ("and" factor)*
    factor  := "not" factor | "(" expr ")" | compare
    compare := ident op value | ident ["not"] "in" "(" value ("," value)* ")"
    ident   := ("metrics" | "params" | "tags") "." key | ["attributes" "."] attribute
    key     := name | `quoted key` | "quoted key"
    op      := = | == | != | <> | < | <= | > | >= | like | ilike
    value   := number | 'string' | "string"

>>> parse_filter("metrics.auc > 0.9 and params.family = 'lgbm'")
And(items=(Compare(kind='metrics', key='auc', op='>', value=0.9), \
Compare(kind='params', key='family', op='=', value='lgbm')))
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

from mlcycle.exceptions import FilterError

__all__ = ["ATTRIBUTES", "And", "Compare", "Not", "Or", "SortKey", "parse_filter", "parse_order"]

#: Run attributes a filter or sort may name, with the type of their values.
ATTRIBUTES = {
    "id": str,
    "name": str,
    "status": str,
    "user": str,
    "start_time": float,
    "end_time": float,
    "parent_run_id": str,
    "experiment": str,
}
_KINDS = ("metrics", "params", "tags")
_MAX_DEPTH = 100  # nested "(" and "not": far below Python's recursion limit

_TOKEN = re.compile(
    r"""
    \s*(?:
      (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
    | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
    | (?P<backtick>`[^`]*`)
    | (?P<op><=|>=|==|!=|<>|[=<>])
    | (?P<punct>[(),.])
    | (?P<word>[A-Za-z_][\w\-]*)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Compare:
    """``kind.key op value``; kind is metrics, params, tags or attributes."""

    kind: str
    key: str
    op: str
    value: float | str | tuple[float | str, ...]


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Union[Compare, And, Or, Not]  # noqa: UP007 - a runtime alias used in isinstance checks


@dataclass(frozen=True)
class SortKey:
    """``kind.key [ASC|DESC]``."""

    kind: str
    key: str
    descending: bool


def _tokenize(source: str) -> list[tuple[str, str, int]]:
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    source = source.rstrip()
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None or match.end() == pos:
            rest = source[pos:].strip()
            at = len(source) - len(source[pos:].lstrip())
            raise FilterError(
                f"Cannot read the filter at position {at}: {rest[:20]!r}. "
                "Expected e.g. metrics.auc > 0.9 and params.family = 'lgbm'."
            )
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokenize(source)
        self.i = 0
        self.depth = 0

    def error(self, expected: str) -> FilterError:
        if self.i < len(self.tokens):
            _, text, at = self.tokens[self.i]
            found = f"found {text!r} at position {at}"
        else:
            found = "the filter ended"
        return FilterError(
            f"Malformed filter {self.source!r}: expected {expected}, {found}. "
            "Example: metrics.auc > 0.9 and params.family = 'lgbm'."
        )

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def peek_word(self) -> str | None:
        token = self.peek()
        return token[1].lower() if token and token[0] == "word" else None

    def take(self) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            raise self.error("more input")
        self.i += 1
        return token

    def expect_punct(self, char: str) -> None:
        token = self.peek()
        if token is None or token[1] != char:
            raise self.error(f"'{char}'")
        self.i += 1

    def parse(self) -> Node:
        node = self.expr()
        if self.peek() is not None:
            raise self.error("'and', 'or' or the end of the filter")
        return node

    def expr(self) -> Node:
        items = [self.term()]
        while self.peek_word() == "or":
            self.i += 1
            items.append(self.term())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def term(self) -> Node:
        items = [self.factor()]
        while self.peek_word() == "and":
            self.i += 1
            items.append(self.factor())
        return items[0] if len(items) == 1 else And(tuple(items))

    def factor(self) -> Node:
        if self.depth >= _MAX_DEPTH:
            raise FilterError(
                f"The filter nests parentheses or 'not' more than {_MAX_DEPTH} levels "
                "deep; simplify it."
            )
        self.depth += 1
        try:
            if self.peek_word() == "not":
                self.i += 1
                return Not(self.factor())
            token = self.peek()
            if token is not None and token[1] == "(":
                self.i += 1
                node = self.expr()
                self.expect_punct(")")
                return node
            return self.compare()
        finally:
            self.depth -= 1

    def ident(self) -> tuple[str, str]:
        kind_tok = self.take()
        if kind_tok[0] not in ("word", "backtick", "string"):
            self.i -= 1
            raise self.error("a name such as metrics.auc, params.family or status")
        first = _unquote(kind_tok)
        token = self.peek()
        if token is not None and token[1] == ".":
            self.i += 1
            key_tok = self.take()
            if key_tok[0] not in ("word", "backtick", "string", "number"):
                self.i -= 1
                raise self.error(f"a key after '{first}.'")
            key = _unquote(key_tok)
            # keys may contain dots: metrics.val.auc -> key 'val.auc'
            while (
                (nxt := self.peek()) is not None and nxt[1] == "." and self.i + 1 < len(self.tokens)
            ):
                self.i += 1
                key += "." + _unquote(self.take())
            kind = first.lower()
            if kind in ("attribute", "attributes", "run"):
                return _attribute(key.lower(), self)
            if kind in ("metric", "param", "tag"):
                kind += "s"
            if kind not in _KINDS:
                self.i -= 1
                raise FilterError(
                    f"Unknown field '{first}' in filter {self.source!r}. "
                    "Use metrics.KEY, params.KEY, tags.KEY or a run attribute "
                    f"({', '.join(ATTRIBUTES)})."
                )
            if not key:
                raise self.error(f"a non-empty key after '{first}.'")
            return kind, key
        return _attribute(first.lower(), self)

    def value(self) -> float | str:
        if self.peek() is None:
            raise self.error("a number or a quoted string")
        kind, text, _ = self.take()
        if kind == "number":
            return float(text)
        if kind == "string":
            return _unquote((kind, text, 0))
        self.i -= 1
        raise self.error("a number or a quoted string")

    def compare(self) -> Compare:
        kind, key = self.ident()
        token = self.peek()
        if token is None:
            raise self.error("an operator (=, !=, <, <=, >, >=, like, ilike, in)")
        word = self.peek_word()
        if word == "not":
            self.i += 1
            if self.peek_word() != "in":
                raise self.error("'in' after 'not'")
            word = "not in"
        if word in ("in", "not in"):
            self.i += 1
            self.expect_punct("(")
            values = [self.value()]
            while (nxt := self.peek()) is not None and nxt[1] == ",":
                self.i += 1
                values.append(self.value())
            self.expect_punct(")")
            return _checked(Compare(kind, key, word, tuple(values)), self.source)
        if token[0] == "op" or word in ("like", "ilike"):
            self.i += 1
            op = token[1].lower()
            op = {"==": "=", "<>": "!="}.get(op, op)
            return _checked(Compare(kind, key, op, self.value()), self.source)
        raise self.error("an operator (=, !=, <, <=, >, >=, like, ilike, in)")


def _unquote(token: tuple[str, str, int]) -> str:
    kind, text, _ = token
    if kind == "backtick":
        return text[1:-1]
    if kind == "string":
        quote = text[0]
        body = text[1:-1]
        if quote == "'":
            body = body.replace("''", "'")
        return re.sub(r"\\(.)", r"\1", body)
    return text


def _attribute(name: str, parser: _Parser) -> tuple[str, str]:
    if name not in ATTRIBUTES:
        raise FilterError(
            f"Unknown run attribute '{name}' in filter {parser.source!r}. "
            f"Known attributes: {', '.join(ATTRIBUTES)}; or use metrics.KEY, params.KEY, tags.KEY."
        )
    return "attributes", name


def _checked(node: Compare, source: str) -> Compare:
    values = node.value if isinstance(node.value, tuple) else (node.value,)
    numeric_only = node.kind == "metrics" or (
        node.kind == "attributes" and ATTRIBUTES[node.key] is float
    )
    if numeric_only and any(isinstance(v, str) for v in values):
        raise FilterError(
            f"In filter {source!r}, {node.kind}.{node.key} is a number but is compared "
            f"with text. Compare it with a number, e.g. {node.kind}.{node.key} > 0.5."
        )
    if node.op in ("like", "ilike") and not isinstance(node.value, str):
        raise FilterError(
            f"In filter {source!r}, '{node.op}' needs a quoted pattern such as 'lgb%'."
        )
    if node.kind == "metrics" and node.op in ("like", "ilike"):
        raise FilterError(f"In filter {source!r}, metrics cannot be matched with '{node.op}'.")
    return node


def parse_filter(source: str | None) -> Node | None:
    """Parse a run filter; ``None`` or blank means no filter. Raises FilterError."""
    if source is None or not source.strip():
        return None
    return _Parser(source).parse()


def parse_order(keys: str | Sequence[str] | None) -> list[SortKey]:
    """Parse sort keys such as ``["metrics.auc DESC", "start_time"]`` (or one comma string)."""
    if keys is None:
        return []
    if isinstance(keys, str):
        keys = [k for k in keys.split(",") if k.strip()]
    result: list[SortKey] = []
    for raw in keys:
        parts = raw.strip().rsplit(None, 1)
        descending = False
        if len(parts) == 2 and parts[1].lower() in ("asc", "desc"):
            descending = parts[1].lower() == "desc"
            target = parts[0]
        else:
            target = raw.strip()
        parser = _Parser(target)
        if not parser.tokens:
            raise FilterError(f"Empty sort key in {keys!r}. Example: metrics.auc DESC.")
        kind, key = parser.ident()
        if parser.peek() is not None:
            raise FilterError(
                f"Malformed sort key {raw!r}: expected FIELD [ASC|DESC], e.g. metrics.auc DESC."
            )
        result.append(SortKey(kind, key, descending))
    return result
