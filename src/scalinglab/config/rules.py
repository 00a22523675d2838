"""Numbers that may be given as a rule of the model width: `2/width`, `0.002`, `width/64`.

A rule is a tiny arithmetic expression over named variables (numbers, + - * / ** ^, parentheses),
parsed once with `ast` so a typo fails at validation time with a suggestion, not mid-study.
"""

from __future__ import annotations

import ast
import difflib
import operator

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.BitXor: operator.pow,  # users write 2^-1 meaning a power
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


def _check(node: ast.AST, names: tuple[str, ...], text: str) -> None:
    if isinstance(node, ast.Expression):
        _check(node.body, names, text)
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        _check(node.left, names, text)
        _check(node.right, names, text)
    elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        _check(node.operand, names, text)
    elif isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        pass
    elif isinstance(node, ast.Name):
        if node.id not in names:
            close = difflib.get_close_matches(node.id, names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(names)})"
            raise ValueError(f"cannot parse '{text}': unknown name '{node.id}'{hint}")
    else:
        raise ValueError(f"cannot parse '{text}': only numbers, {', '.join(names)} and + - * / ** are allowed")


def check_rule(value: float | int | str, names: tuple[str, ...] = ("width",)) -> float | int | str:
    """Validate a number-or-rule; numbers in strings ('0.002') become numbers."""
    if isinstance(value, bool):
        raise ValueError("expected a number or a rule such as '2/width'")
    if isinstance(value, (int, float)):
        return value
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise ValueError(f"cannot parse '{text}' as a number or a rule such as '2/width'") from None
    _check(tree, names, text)
    return text


def evaluate(value: float | int | str, **variables: float) -> float:
    """The value of a number-or-rule at the given variables (e.g. width=256)."""
    if isinstance(value, (int, float)):
        return float(value)

    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](walk(node.operand))
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            return float(variables[node.id])
        raise ValueError(f"cannot evaluate rule '{value}'")

    return walk(ast.parse(value, mode="eval"))
