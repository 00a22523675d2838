"""`--where`: which rows of a table meet a condition on its columns, e.g. "eval_set == 'c4_val'".

A condition is a small language of our own: column names, numbers, 'text', True/False, comparisons
(== != < <= > >=, chained as in `1e8 <= params < 1e9`), `in` / `not in` a list of values, `and`,
`or`, `not` and parentheses; a column name that is not a Python name goes in backticks
(`` `eval loss` < 3 ``). It is parsed with `ast`, bounded in length and nesting
(config.expressions), and its tree is walked into vectorised pandas operations: nothing reaches an
evaluator. pandas' DataFrame.query, which it replaces, evaluated method calls on columns and nested
queries in pandas' own scope, so a condition could run a shell command or write a file, and
`loss ** 9**9**9 > 0` hung it.
"""

from __future__ import annotations

import ast
import difflib
import operator
import re
from functools import reduce

import pandas as pd

from scalinglab.config import ConfigError
from scalinglab.config.expressions import ExpressionError, clipped, parse_expression

MAX_WHERE_LENGTH = 2000
"""Characters in a condition: a list of a few dozen values fits; the parser is never asked for more."""

_COMPARISONS = {ast.Eq: ("==", operator.eq), ast.NotEq: ("!=", operator.ne), ast.Lt: ("<", operator.lt),
                ast.LtE: ("<=", operator.le), ast.Gt: (">", operator.gt), ast.GtE: (">=", operator.ge)}
_LITERALS = (int, float, str, bool)
_BACKTICKS = re.compile(r"`([^`]+)`")
_WHAT = {ast.Call: "a call", ast.Attribute: "an attribute (.x)", ast.BinOp: "arithmetic", ast.Subscript: "indexing"}
ALLOWED = "column names, numbers, 'text', True/False, comparisons, in [...], and, or, not, parentheses"


def matching(df: pd.DataFrame, condition: str) -> pd.Series:
    """One true/false per row of `df`: whether it meets `condition`; a ConfigError (option 'where') names
    what in the condition is not allowed or cannot be compared."""
    return _Condition(df, condition).mask()


class _Condition:
    def __init__(self, df: pd.DataFrame, condition: str):
        self.df, self.condition = df, condition

    def refused(self, why: str) -> ConfigError:
        return ConfigError(f"cannot apply {clipped(self.condition, 80)!r}: {why}", option="where",
                           where=str(self.df.attrs.get("source", "table")))

    def mask(self) -> pd.Series:
        if len(self.condition) > MAX_WHERE_LENGTH:
            raise self.refused(f"longer than {MAX_WHERE_LENGTH} characters")
        # Backticked names become placeholders the parser reads as names (their length was checked above).
        self.quoted: dict[str, str] = {}

        def placeholder(m: re.Match) -> str:
            name = f"__column_{len(self.quoted)}__"
            self.quoted[name] = m.group(1)
            return name

        text = _BACKTICKS.sub(placeholder, self.condition.strip())
        try:
            tree = parse_expression(text, max_length=len(text))
        except ExpressionError as e:
            raise self.refused(str(e)) from None
        return self.test(tree.body)

    def test(self, node: ast.AST) -> pd.Series:
        """A condition: true/false per row."""
        if isinstance(node, ast.BoolOp):
            combine = operator.and_ if isinstance(node.op, ast.And) else operator.or_
            return reduce(combine, (self.test(v) for v in node.values))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return ~self.test(node.operand)
        if isinstance(node, ast.Compare):  # a < b < c is a < b and b < c
            pairs = zip([node.left, *node.comparators[:-1]], node.ops, node.comparators)
            return reduce(operator.and_, (self.compare(x, op, y) for x, op, y in pairs))
        if isinstance(node, ast.Name):  # a column of true/false on its own
            column = self.column(node)
            if not pd.api.types.is_bool_dtype(column):
                raise self.refused(f"column '{self.name(node)}' is not true/false; compare it with a value")
            return column.fillna(False).astype(bool)
        raise self.refused(self.not_allowed(node))

    def compare(self, left: ast.AST, op: ast.cmpop, right: ast.AST) -> pd.Series:
        x = self.operand(left)
        if isinstance(op, (ast.In, ast.NotIn)):
            if not isinstance(x, pd.Series):
                raise self.refused("'in' needs a column on its left")
            kept = x.isin(self.values(right))
            return ~kept if isinstance(op, ast.NotIn) else kept
        if type(op) not in _COMPARISONS:  # is, is not
            raise self.refused(f"'{'is not' if isinstance(op, ast.IsNot) else 'is'}' is not allowed; use == or !=")
        symbol, compare = _COMPARISONS[type(op)]
        y = self.operand(right)
        if not isinstance(x, pd.Series) and not isinstance(y, pd.Series):
            raise self.refused(f"{ast.unparse(left)} {symbol} {ast.unparse(right)} compares no column")
        try:
            return compare(x, y)
        except (TypeError, ValueError, OverflowError):  # text against a number, mixed columns
            raise self.refused(f"cannot compare {self.describe(left, x)} with {self.describe(right, y)}") from None

    def operand(self, node: ast.AST) -> pd.Series | int | float | str | bool:
        return self.column(node) if isinstance(node, ast.Name) else self.literal(node)

    def literal(self, node: ast.AST) -> int | float | str | bool:
        if isinstance(node, ast.Constant) and type(node.value) in _LITERALS:
            return node.value
        if (isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd))
                and isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float)):
            return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
        raise self.refused(self.not_allowed(node))

    def values(self, node: ast.AST) -> list:
        if not isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            raise self.refused("'in' needs a list of values on its right, e.g. arm in ['a', 'b']")
        return [self.literal(v) for v in node.elts]

    def name(self, node: ast.Name) -> str:
        return self.quoted.get(node.id, node.id)

    def column(self, node: ast.Name) -> pd.Series:
        name = self.name(node)
        if name not in self.df.columns:
            columns = [str(c) for c in self.df.columns]
            close = difflib.get_close_matches(name, columns, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"columns: {', '.join(columns)}"
            raise self.refused(f"no column '{name}' ({hint})")
        return self.df[name]

    def describe(self, node: ast.AST, value) -> str:
        if isinstance(value, pd.Series):
            kind = "numbers" if pd.api.types.is_numeric_dtype(value) else "text"
            return f"column '{self.name(node)}' ({kind})"
        return repr(value)

    def not_allowed(self, node: ast.AST) -> str:
        what = _WHAT.get(type(node), f"'{clipped(ast.unparse(node), 30)}'")
        return f"{what} is not allowed (only {ALLOWED})"
