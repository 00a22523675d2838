"""Short expressions users write, parsed with `ast` and never run by Python: an LR rule ('2/width',
config.rules) and a row filter ("eval_set == 'c4_val'", analysis.where).

Each walks the tree against its own allow-list of node types. What they share is here: a bound on
length and on nesting, so that neither CPython's parser nor a walk of the tree recurses deeply (a
5,000-term sum once overflowed the parser's stack), and one error for text that is no expression.
"""

from __future__ import annotations

import ast

MAX_NESTING = 100
"""Levels of the tree below its root. Real rules and filters have a handful; Python's own parser
refuses 200 nested parentheses, and a walk of 100 levels stays far inside the recursion limit."""


class ExpressionError(ValueError):
    """Text that is not a short expression; str() is the reason, e.g. 'nested deeper than 100 levels'."""


def parse_expression(text: str, max_length: int) -> ast.Expression:
    """`text` as one Python expression (a tree, not evaluated), within the bounds; ExpressionError if not."""
    if len(text) > max_length:
        raise ExpressionError(f"longer than {max_length} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        where = f"at character {e.offset}" if e.offset and e.offset <= len(text) else "at its end"
        raise ExpressionError(f"{e.msg.split(' (')[0]} {where}") from None
    except (ValueError, MemoryError, RecursionError):  # ValueError: a NUL byte
        raise ExpressionError("not an expression") from None
    if _depth(tree) > MAX_NESTING:
        raise ExpressionError(f"nested deeper than {MAX_NESTING} levels")
    return tree


def _depth(tree: ast.AST) -> int:
    """Levels below the root, counted without recursion (the tree may be deep)."""
    deepest, stack = 0, [(tree, 0)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack += [(child, level + 1) for child in ast.iter_child_nodes(node)]
    return deepest


def clipped(text: str, length: int = 40) -> str:
    """The start of a long expression, for a one-line message."""
    return text if len(text) <= length else text[: length - 3] + "..."
