"""A string that a simple regular expression matches: the demo model's answer to a
JSON schema's `pattern`.

Python's own regex parser reads the pattern; literals, classes, categories (`\\d`,
`\\w`, `\\s`), `.`, groups, alternation, back references and bounded repeats are
sampled. A pattern with lookarounds, one Python cannot parse (most ECMAScript-only
syntax) or one longer than MAX_PATTERN gets None, and the caller falls back to a
plain string. The result is at most MAX_LENGTH characters however the pattern
repeats.
"""

from __future__ import annotations

import random
import re
from typing import Any

try:  # the parser behind `re`; private, so its absence only turns patterns off
    from re import _constants as _c  # type: ignore[attr-defined]
    from re import _parser as _p  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python < 3.11 or another runtime
    _c = _p = None

MAX_PATTERN = 300
MAX_LENGTH = 512
MAX_REPEAT = 8  # repeats beyond a pattern's minimum
MAX_DEPTH = 32
MAX_STEPS = 2000  # parsed items visited: empty groups repeated inside each other add up

_CATEGORY_CHARS = {
    "CATEGORY_DIGIT": "0123456789",
    "CATEGORY_NOT_DIGIT": "abcxyz",
    "CATEGORY_WORD": "abcxyz019_",
    "CATEGORY_NOT_WORD": "-. ",
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_SPACE": "abcxyz019",
}
_CANDIDATES = "aAbxz019_- .:/@#"


class _Unsupported(Exception):
    pass


class _State:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.steps = 0


def sample_pattern(pattern: str, rng: random.Random) -> str | None:
    """A string that `re.search(pattern, string)` matches, or None for a pattern this
    cannot sample."""
    if _p is None or not isinstance(pattern, str) or len(pattern) > MAX_PATTERN:
        return None
    try:
        parsed = _p.parse(pattern)
        out: list[str] = []
        _emit(list(parsed), _State(rng), out, {}, 0)
    except (_Unsupported, re.error, RecursionError, ValueError, TypeError, OverflowError):
        return None
    text = "".join(out)
    return text if len(text) <= MAX_LENGTH else None


def _emit(
    items: list[tuple[Any, Any]],
    state: _State,
    out: list[str],
    groups: dict[int, str],
    depth: int,
) -> None:
    rng = state.rng
    for op, arg in items:
        state.steps += 1
        if depth > MAX_DEPTH or state.steps > MAX_STEPS or len(out) > MAX_LENGTH:
            raise _Unsupported
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "NOT_LITERAL":
            out.append(next(c for c in _CANDIDATES if ord(c) != arg))
        elif name == "ANY":
            out.append(rng.choice("abcxyz"))
        elif name == "IN":
            out.append(_in_class(arg, rng))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = arg
            if low > MAX_LENGTH:
                raise _Unsupported
            extra = 0 if high == low else rng.randint(0 if low else 1, MAX_REPEAT)
            count = min(low + extra, high if high != _c.MAXREPEAT else low + MAX_REPEAT)
            for _ in range(count):
                _emit(list(sub), state, out, groups, depth + 1)
        elif name == "SUBPATTERN":
            group, _add, _del, sub = arg
            start = len(out)
            _emit(list(sub), state, out, groups, depth + 1)
            if group is not None:
                groups[group] = "".join(out[start:])
        elif name == "ATOMIC_GROUP":
            _emit(list(arg), state, out, groups, depth + 1)
        elif name == "BRANCH":
            _, alternatives = arg
            _emit(list(rng.choice(alternatives)), state, out, groups, depth + 1)
        elif name == "GROUPREF":
            out.append(groups.get(arg, ""))
        elif name == "AT":
            continue  # anchors: the string starts and ends where the pattern does
        else:  # lookarounds, conditionals, anything else
            raise _Unsupported


def _class_chars(items: list[tuple[Any, Any]]) -> tuple[bool, list[tuple[int, int]]]:
    """(negated, the code point ranges) of a character class."""
    negated = opposite = False
    ranges: list[tuple[int, int]] = []
    for op, arg in items:
        name = str(op)
        if name == "NEGATE":
            negated = True
        elif name == "LITERAL":
            ranges.append((arg, arg))
        elif name == "RANGE":
            ranges.append((arg[0], arg[1]))
        elif name == "CATEGORY":
            chars = _CATEGORY_CHARS.get(str(arg))
            if chars is None:
                raise _Unsupported
            opposite = opposite or "_NOT_" in str(arg)
            ranges.extend((ord(c), ord(c)) for c in chars)
        else:
            raise _Unsupported
    if negated and opposite:  # [^\D]: the sample chars of \D are not all of it
        raise _Unsupported
    return negated, ranges


def _in_class(items: list[tuple[Any, Any]], rng: random.Random) -> str:
    negated, ranges = _class_chars(items)
    if not negated:
        if not ranges:
            raise _Unsupported
        low, high = rng.choice(ranges)
        return chr(rng.randint(low, high))
    # A negated class: the first candidate that none of its ranges holds.
    for c in _CANDIDATES:
        if not any(low <= ord(c) <= high for low, high in ranges):
            return c
    raise _Unsupported
