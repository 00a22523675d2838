"""Numbers that may be given as a rule of the model width: `2/width`, `0.002`, `width/64`,
`1 if width < 1024 else 8`.

A rule is a tiny arithmetic expression over named variables (numbers, + - * / ** ^, parentheses,
and `a if <comparison> else b`, the comparison's parts arithmetic too), parsed once with `ast` so
a typo fails at validation time with a suggestion, not mid-study. It is evaluated by walking the
tree, never by eval(), in floats, with limits: a rule is short and shallow (config.expressions:
neither the parser nor the walk can recurse deeply), every step must stay a finite real number (so
`9**9**9`, `width*1e400` and `(-width)**0.5` are refused rather than hang, overflow or turn
complex), and a division by zero says where.
"""

from __future__ import annotations

import ast
import difflib
import math
import operator

from scalinglab.config.checks import shown
from scalinglab.config.expressions import ExpressionError, clipped, parse_expression

MAX_RULE_LENGTH = 200
"""Characters in a rule. Real rules are a dozen."""

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.BitXor: operator.pow,  # users write 2^-1 meaning a power
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
            ast.Eq: operator.eq, ast.NotEq: operator.ne}


class RuleError(ValueError):
    """A rule that cannot be evaluated at a width: division by zero, overflow, a complex number."""


def _check(node: ast.AST, names: tuple[str, ...], text: str) -> None:
    if isinstance(node, ast.Expression):
        _check(node.body, names, text)
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        _check(node.left, names, text)
        _check(node.right, names, text)
    elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        _check(node.operand, names, text)
    elif isinstance(node, ast.IfExp) and isinstance(node.test, ast.Compare) \
            and all(type(op) in _COMPARE for op in node.test.ops):
        # A comparison only as the condition: a rule's value is always a number.
        for part in (node.test.left, *node.test.comparators, node.body, node.orelse):
            _check(part, names, text)
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
        if not math.isfinite(float(node.value)):  # 1e400 parses as inf
            number = ast.get_source_segment(text, node) or str(node.value)
            raise ValueError(f"cannot parse '{text}': {number} is too large a number")
    elif isinstance(node, ast.Name):
        if node.id not in names:
            close = difflib.get_close_matches(node.id, names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(names)})"
            raise ValueError(f"cannot parse '{text}': unknown name '{node.id}'{hint}")
    else:
        raise ValueError(f"cannot parse '{text}': only numbers, {', '.join(names)}, + - * / ** and "
                         "'a if <comparison> else b' are allowed")


def _parse(text: str) -> ast.Expression:
    try:
        return parse_expression(text, MAX_RULE_LENGTH)
    except ExpressionError as e:
        if len(text) > MAX_RULE_LENGTH:
            raise ValueError(f"cannot parse '{clipped(text, 23)}': a rule may have at most {MAX_RULE_LENGTH} "
                             "characters") from None
        raise ValueError(f"cannot parse '{text}' as a number or a rule such as '2/width' ({e})") from None


def check_rule(value: float | int | str, names: tuple[str, ...] = ("width",)) -> float | int | str:
    """Validate a number-or-rule; numbers in strings ('0.002') become numbers.

    A rule without names ('2/64') is evaluated here, so '1/0' fails at load time too.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected a number or a rule such as '2/width', got {shown(value)}")
    if isinstance(value, (int, float)):
        return value
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    tree = _parse(text)
    _check(tree, names, text)
    if not any(isinstance(node, ast.Name) for node in ast.walk(tree)):
        evaluate_rule(text)
    return text


def evaluate_rule(value: float | int | str, **variables: float) -> float:
    """The value of a number-or-rule at the given variables (e.g. width=256); RuleError if it has none."""
    if isinstance(value, (int, float)):
        return float(value)
    at = "".join(f" at {name} {x:g}" for name, x in variables.items())

    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        try:
            if isinstance(node, ast.BinOp):
                x = _BINARY[type(node.op)](walk(node.left), walk(node.right))
            elif isinstance(node, ast.UnaryOp):
                x = _UNARY[type(node.op)](walk(node.operand))
            elif isinstance(node, ast.Constant):
                x = float(node.value)
            elif isinstance(node, ast.Name):
                x = float(variables[node.id])
            elif isinstance(node, ast.IfExp):
                x = walk(node.body if _holds(node.test, walk) else node.orelse)
            else:
                raise RuleError(f"cannot evaluate rule '{value}'")
        except ZeroDivisionError:
            raise RuleError(f"'{value}' divides by zero{at}") from None
        except OverflowError:
            raise RuleError(f"'{value}' is too large a number{at}") from None
        except KeyError as e:
            raise RuleError(f"'{value}' needs {e.args[0]}") from None
        # A negative number to a fractional power is complex; inf - inf is nan.
        if not isinstance(x, float):
            raise RuleError(f"'{value}' is not a real number{at}")
        if not math.isfinite(x):
            raise RuleError(f"'{value}' is too large a number{at}")
        return x

    return walk(_parse(value))


def _holds(test: ast.Compare, walk) -> bool:
    """A (possibly chained) comparison such as `width < 1024` or `256 <= width < 1024`."""
    left = walk(test.left)
    for op, node in zip(test.ops, test.comparators, strict=True):
        right = walk(node)
        if not _COMPARE[type(op)](left, right):
            return False
        left = right
    return True
