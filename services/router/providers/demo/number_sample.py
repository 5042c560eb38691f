"""Sample numbers for a JSON schema: integers and numbers inside `minimum`,
`maximum`, `exclusiveMinimum`/`exclusiveMaximum` (draft 4's booleans too) and
`multipleOf`, computed exactly (fractions) so that huge or tiny bounds neither
overflow nor lose the bound; a multiple is one that also divides evenly in binary
floats, as validators check it. A schema no finite number satisfies gets 0."""

from __future__ import annotations

import math
import random
from fractions import Fraction
from typing import Any

JSON = dict[str, Any]


def exact(value: Any) -> Fraction | None:
    """A finite JSON number as an exact fraction; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return Fraction(value)


def bounds(schema: JSON) -> tuple[Fraction | None, bool, Fraction | None, bool]:
    """(low, low is exclusive, high, high is exclusive), draft 4's boolean
    exclusive bounds included."""
    low, high = exact(schema.get("minimum")), exact(schema.get("maximum"))
    low_open = high_open = False
    for key, is_low in (("exclusiveMinimum", True), ("exclusiveMaximum", False)):
        value = schema.get(key)
        if value is True:
            low_open, high_open = (True, high_open) if is_low else (low_open, True)
        bound = exact(value)
        if bound is None:
            continue
        if is_low and (low is None or bound >= low):
            low, low_open = bound, True
        elif not is_low and (high is None or bound <= high):
            high, high_open = bound, True
    return low, low_open, high, high_open


def integer(schema: JSON, rng: random.Random) -> int:
    """An integer inside the schema's bounds, a multiple of its multipleOf."""
    low, low_open, high, high_open = bounds(schema)
    lo = None if low is None else math.floor(low) + 1 if low_open else math.ceil(low)
    hi = None if high is None else math.ceil(high) - 1 if high_open else math.floor(high)
    if lo is not None and hi is not None:
        target = lo + rng.randint(0, max(min(hi - lo, 100), 0))
    elif lo is not None:
        target = lo + rng.randint(0, 10)
    elif hi is not None:
        target = hi - rng.randint(0, 10)
    else:
        target = rng.randint(1, 100)
    step_of = exact(schema.get("multipleOf"))
    if step_of is None or step_of <= 0:
        return target
    step = step_of.numerator  # an integer that is a multiple of p/q is one of p
    value = -(-target // step) * step
    if hi is not None and value > hi:
        value = (hi // step) * step
    return value


def number(schema: JSON, rng: random.Random) -> int | float:
    """A number inside the schema's bounds (halfway between integers where it may be,
    so that it tells `number` from `integer`), a multiple of its multipleOf."""
    low, low_open, high, high_open = bounds(schema)
    step = exact(schema.get("multipleOf"))
    if step is not None and step > 0:
        return multiple(step, low, low_open, high, high_open)
    offset = Fraction(rng.randint(0, 20)) + Fraction(1, 2)
    if low is not None and high is not None:
        target = low / 2 + high / 2 if high > low else low
        if target - low > offset and high - target > offset:
            target = low + offset
    elif low is not None:
        target = low + offset
    elif high is not None:
        target = high - offset
    else:
        target = offset + rng.randint(1, 80)
    try:
        result = float(target)
    except OverflowError:  # a bound at the edge of a float's range
        return 0
    return result if math.isfinite(result) else 0


def multiple(
    step: Fraction,
    low: Fraction | None,
    low_open: bool,
    high: Fraction | None,
    high_open: bool,
) -> int | float:
    """A multiple of `step` inside the bounds that also divides evenly in binary
    floats (as validators check it)."""
    try:
        return _multiple(step, low, low_open, high, high_open)
    except (OverflowError, ValueError):  # bounds or steps beyond a float's range
        return 0


def _multiple(
    step: Fraction,
    low: Fraction | None,
    low_open: bool,
    high: Fraction | None,
    high_open: bool,
) -> int | float:
    start = low if low is not None else (high - 10 * step if high is not None else step)
    k = math.ceil(start / step)
    best: float = float(k * step)
    for candidate in range(k, k + 64):
        exact = candidate * step
        if (low is not None and (exact < low or (low_open and exact == low))) or (
            high is not None and (exact > high or (high_open and exact == high))
        ):
            continue
        value = float(exact)
        quotient = value / float(step)
        if math.isfinite(quotient) and quotient == int(quotient):
            if value == int(value) and abs(value) < 2**53:
                return int(value)
            return value
        best = value
    return best if math.isfinite(best) else 0
