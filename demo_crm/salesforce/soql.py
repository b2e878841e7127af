"""The SOQL subset the demo org answers, tokenised and parsed by hand (never evaluated as code).

    SELECT f1, Rel.Field, ... | COUNT() FROM Object [WHERE condition]
    [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]

Conditions combine comparisons (`= != <> < <= > >=`, `IN (...)`, `NOT IN (...)`, `LIKE`) with
NOT, AND, OR (binding in that order) and parentheses. Literals: 'strings' with backslash
escapes, numbers, true/false/null, dates (`2026-11-18`) and datetimes (`2026-11-18T00:00:00Z`,
`...000+0000`). `parse` checks only the grammar; `compile_condition` binds field names to
values and checks each literal against its field's type, as Salesforce does.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from .schema import CASE_INSENSITIVE_TYPES, NUMBER_TYPES, TEXT_TYPES


class SoqlError(Exception):
    """A query Salesforce would refuse: `code` is its errorCode (MALFORMED_QUERY, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Literal:
    kind: str  # "string" | "number" | "date" | "datetime" | "boolean" | "null"
    value: object


@dataclass(frozen=True)
class Comparison:
    field: str
    operator: str  # "=", "!=", "<", "<=", ">", ">=", "IN", "NOT IN", "LIKE"
    values: tuple[Literal, ...]


@dataclass(frozen=True)
class Not:
    condition: "Condition"


@dataclass(frozen=True)
class Logical:
    operator: str  # "AND" | "OR"
    conditions: tuple["Condition", ...]


Condition = Comparison | Not | Logical


@dataclass(frozen=True)
class OrderItem:
    field: str
    descending: bool = False
    nulls_first: bool | None = None  # None: Salesforce's default, first when ascending


@dataclass(frozen=True)
class Query:
    sobject: str
    fields: tuple[str, ...]  # empty for COUNT()
    is_count: bool = False
    where: Condition | None = None
    order_by: tuple[OrderItem, ...] = ()
    limit: int | None = None
    offset: int = 0


_KEYWORDS = frozenset(
    "SELECT FROM WHERE ORDER BY ASC DESC NULLS FIRST LAST LIMIT OFFSET AND OR NOT IN LIKE "
    "TRUE FALSE NULL".split()
)
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2})(?![\w:])
    | (?P<number>[+-]?\d+(?:\.\d+)?)(?![\w.])
    | (?P<string>'(?:[^'\\]|\\.)*')
    | (?P<name>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)(?![\w.])
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),])
    """,
    re.VERBOSE,
)
# \% and \_ stay escaped: they only mean something to LIKE.
_ESCAPES = {"'": "'", '"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}
_ESCAPES |= {"%": "\\%", "_": "\\_"}


def tokenize(text: str) -> list[tuple[str, str]]:
    """(kind, text) pairs, ending with ("end", "")."""
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            snippet = text[position : position + 20]
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{snippet}'")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append((kind, match.group(kind)))
        position = match.end()
    tokens.append(("end", ""))
    return tokens


def parse(text: str) -> Query:
    """The query's structure; SoqlError("MALFORMED_QUERY") if it is not in the subset."""
    return _Parser(tokenize(text)).query()


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens, self.at = tokens, 0

    def peek(self, ahead: int = 0) -> tuple[str, str]:
        return self.tokens[min(self.at + ahead, len(self.tokens) - 1)]

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.at += 1
        return token

    def is_keyword(self, word: str, ahead: int = 0) -> bool:
        kind, text = self.peek(ahead)
        return kind == "name" and text.upper() == word

    def keyword(self, word: str) -> None:
        if not self.is_keyword(word):
            self.fail(f"expected {word}")

    def accept(self, word: str) -> bool:
        if self.is_keyword(word):
            self.at += 1
            return True
        return False

    def punct(self, mark: str) -> None:
        if self.peek() != ("punct", mark):
            self.fail(f"expected '{mark}'")
        self.at += 1

    def fail(self, expected: str) -> None:
        text = self.peek()[1] or "end of query"
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text}' ({expected})")

    def name(self) -> str:
        kind, text = self.peek()
        if kind != "name" or text.upper() in _KEYWORDS:
            self.fail("expected a field or object name")
        self.at += 1
        return text

    def integer(self) -> int:
        kind, text = self.take()
        if kind != "number" or not text.isdigit():
            self.at -= 1
            self.fail("expected a non-negative integer")
        return int(text)

    def query(self) -> Query:
        self.keyword("SELECT")
        self.at += 1
        fields: list[str] = []
        is_count = self.is_keyword("COUNT") and self.peek(1) == ("punct", "(")
        if is_count:
            self.at += 2
            self.punct(")")
        else:
            fields.append(self.name())
            while self.peek() == ("punct", ","):
                self.at += 1
                fields.append(self.name())
        self.keyword("FROM")
        self.at += 1
        sobject = self.name()
        if "." in sobject:
            self.fail("expected an object name")
        where = self.condition() if self.accept("WHERE") else None
        order_by: list[OrderItem] = []
        if self.accept("ORDER"):
            self.keyword("BY")
            self.at += 1
            order_by.append(self.order_item())
            while self.peek() == ("punct", ","):
                self.at += 1
                order_by.append(self.order_item())
        limit = self.integer() if self.accept("LIMIT") else None
        offset = self.integer() if self.accept("OFFSET") else 0
        if self.peek()[0] != "end":
            self.fail("expected end of query")
        return Query(sobject, tuple(fields), is_count, where, tuple(order_by), limit, offset)

    def order_item(self) -> OrderItem:
        field = self.name()
        descending = self.accept("DESC")
        if not descending:
            self.accept("ASC")
        nulls_first = None
        if self.accept("NULLS"):
            if self.accept("FIRST"):
                nulls_first = True
            else:
                self.keyword("LAST")
                self.at += 1
                nulls_first = False
        return OrderItem(field, descending, nulls_first)

    def condition(self) -> Condition:
        return self.logical("OR", self.conjunction)

    def conjunction(self) -> Condition:
        return self.logical("AND", self.negation)

    def logical(self, word: str, operand: Callable[[], Condition]) -> Condition:
        parts = [operand()]
        while self.accept(word):
            parts.append(operand())
        return parts[0] if len(parts) == 1 else Logical(word, tuple(parts))

    def negation(self) -> Condition:
        if self.accept("NOT"):
            return Not(self.negation())
        if self.peek() == ("punct", "("):
            self.at += 1
            inner = self.condition()
            self.punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        field = self.name()
        if self.accept("NOT"):
            self.keyword("IN")
            self.at += 1
            return Comparison(field, "NOT IN", self.literal_list())
        if self.accept("IN"):
            return Comparison(field, "IN", self.literal_list())
        if self.accept("LIKE"):
            value = self.literal()
            if value.kind != "string":
                raise SoqlError("MALFORMED_QUERY", "LIKE needs a string pattern")
            return Comparison(field, "LIKE", (value,))
        kind, text = self.take()
        if kind != "op":
            self.at -= 1
            self.fail("expected a comparison operator")
        return Comparison(field, "!=" if text == "<>" else text, (self.literal(),))

    def literal_list(self) -> tuple[Literal, ...]:
        self.punct("(")
        values = [self.literal()]
        while self.peek() == ("punct", ","):
            self.at += 1
            values.append(self.literal())
        self.punct(")")
        return tuple(values)

    def literal(self) -> Literal:
        kind, text = self.take()
        if kind == "string":
            return Literal("string", _unescape(text[1:-1]))
        if kind == "number":
            return Literal("number", float(text) if "." in text else int(text))
        if kind == "date":
            return Literal("date", text)
        if kind == "datetime":
            return Literal("datetime", _instant(text))
        upper = text.upper() if kind == "name" else ""
        if upper in ("TRUE", "FALSE"):
            return Literal("boolean", upper == "TRUE")
        if upper == "NULL":
            return Literal("null", None)
        self.at -= 1
        self.fail("expected a value")
        raise AssertionError  # fail() raised


def _unescape(body: str) -> str:
    out, chars = [], iter(body)
    for ch in chars:
        if ch != "\\":
            out.append(ch)
            continue
        escaped = next(chars, "")
        if escaped not in _ESCAPES:
            raise SoqlError("MALFORMED_QUERY", f"invalid escape sequence: \\{escaped}")
        out.append(_ESCAPES[escaped])
    return "".join(out)


def _instant(text: str) -> str:
    """A datetime literal as the org stores datetimes: UTC, milliseconds, `+0000`."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


# ---------- binding a condition to records

Getter = Callable[[dict], object]
Resolver = Callable[[str], tuple[Getter, str]]  # field name → (value of a row, describe type)
_LITERAL_FOR = {"datetime": "datetime", "date": "date", "boolean": "boolean"}
_COMPARE = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def compile_condition(condition: Condition, resolve: Resolver) -> Callable[[dict], bool]:
    """A test of one row; SoqlError (INVALID_FIELD) for unknown fields or mistyped values."""
    if isinstance(condition, Logical):
        parts = [compile_condition(c, resolve) for c in condition.conditions]
        if condition.operator == "AND":
            return lambda row: all(p(row) for p in parts)
        return lambda row: any(p(row) for p in parts)
    if isinstance(condition, Not):
        inner = compile_condition(condition.condition, resolve)
        return lambda row: not inner(row)
    return _comparison(condition, resolve)


def _comparison(comparison: Comparison, resolve: Resolver) -> Callable[[dict], bool]:
    get, field_type = resolve(comparison.field)
    text = field_type in TEXT_TYPES
    if field_type in CASE_INSENSITIVE_TYPES:
        raw = get

        def get(row: dict) -> object:
            value = raw(row)
            return value.lower() if isinstance(value, str) else value

    operator = comparison.operator
    values = [_operand(comparison.field, field_type, v, operator) for v in comparison.values]
    if operator == "LIKE":
        if not text:
            raise SoqlError("INVALID_FIELD", f"invalid operator on field {comparison.field}: LIKE")
        pattern = _like_pattern(str(values[0]))
        return lambda row: isinstance(value := get(row), str) and bool(pattern.fullmatch(value))
    if operator in ("IN", "NOT IN"):
        members = {v for v in values if v is not None}
        has_null = len(members) < len(values)
        if operator == "IN":
            return lambda row: (value := get(row)) in members or (value is None and has_null)
        return lambda row: (value := get(row)) not in members and not (value is None and has_null)
    value = values[0]
    if operator == "=":
        return lambda row: get(row) == value
    if operator == "!=":
        return lambda row: get(row) != value
    if value is None:
        return lambda row: False  # nothing is less or greater than null
    compare = _COMPARE[operator]
    return lambda row: (found := get(row)) is not None and compare(found, value)


def _operand(name: str, field_type: str, literal: Literal, operator: str) -> object:
    if literal.kind == "null":
        return None
    if field_type in TEXT_TYPES:
        wanted = "string"
    elif field_type in NUMBER_TYPES:
        wanted = "number"
    else:
        wanted = _LITERAL_FOR.get(field_type, field_type)
    if literal.kind != wanted:
        quotes = " and should not be enclosed in quotes" if literal.kind == "string" else ""
        raise SoqlError(
            "INVALID_FIELD",
            f"value of filter criterion for field '{name}' must be of type {field_type}{quotes}",
        )
    if wanted == "string":
        value = str(literal.value)
        if operator != "LIKE":  # outside LIKE an escaped wildcard is just the character
            value = value.replace("\\%", "%").replace("\\_", "_")
        return value.lower() if field_type in CASE_INSENSITIVE_TYPES else value
    return literal.value


def _like_pattern(pattern: str) -> re.Pattern:
    parts, at = [], 0
    while at < len(pattern):
        ch = pattern[at]
        if ch == "\\" and at + 1 < len(pattern) and pattern[at + 1] in "%_":
            parts.append(re.escape(pattern[at + 1]))
            at += 2
            continue
        parts.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        at += 1
    return re.compile("".join(parts), re.DOTALL)
