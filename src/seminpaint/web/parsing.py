"""Strict reading of what a request sends: JSON bodies, whole numbers, query parameters.

Every bad value becomes an InpaintError with one line naming it, which the app answers with HTTP 400;
no body, however odd, reaches the code behind it as anything but a flat object of plain values.
"""

from __future__ import annotations

import decimal
import json
import re

from ..errors import InpaintError

MAX_SEED = 2**63 - 1
MAX_INTEGER_DIGITS = 20  # longer integers in a JSON body are refused before conversion (2**63 has 19 digits)


def short(value) -> str:
    """A request value as a message shows it: JSON-like, at most 40 characters."""
    if isinstance(value, (int, decimal.Decimal)) and not isinstance(value, bool):
        text = str(value)
    else:
        try:
            text = json.dumps(value)
        except (TypeError, ValueError):
            text = type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def whole_number(value, name: str, low: int, high: int) -> int:
    """A JSON value that must be an integer in [low, high] (not a bool, not a number with a fraction
    or exponent: 5.0 and 1e400 are refused) → the int, or InpaintError (HTTP 400) naming it."""
    if type(value) is not int or not low <= value <= high:
        raise InpaintError(f"{name} must be a whole number from {low:,} to {high:,}, got {short(value)}")
    return value


QUERY_NUMBER = re.compile(r"[0-9]{1,19}")


def query_number(args, name: str, low: int, high: int, default: int | None = None) -> int:
    """A query-string parameter that must be ASCII digits only (no sign, space, exponent or other
    script's digits), at most 19 of them, with a value in [low, high] → the int, or InpaintError."""
    text = args.get(name)
    if text is None and default is not None:
        return default
    if text is None or not QUERY_NUMBER.fullmatch(text) or not low <= int(text) <= high:
        got = "nothing" if text is None else repr(text[:40])
        raise InpaintError(f"{name} must be a whole number from {low:,} to {high:,}, got {got}")
    return int(text)


def _short_integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise ValueError(f"an integer of {len(text):,} digits (at most {MAX_INTEGER_DIGITS} here)")
    return int(text)


def _not_json(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_json_object(data: bytes) -> dict:
    """A request body → the JSON object of plain values it holds, or InpaintError (HTTP 400).

    Strict: UTF-8 only; NaN and Infinity (which Python's json reads) refused; integers of more than
    MAX_INTEGER_DIGITS digits refused before conversion; numbers with a fraction or exponent kept as
    decimal.Decimal (exact, never inf), so that whole_number refuses them by their value; any
    nesting refused: the body is one object whose values are strings, numbers, booleans or null.
    Nesting deep enough to exhaust the parser's recursion is refused by the same message.
    """
    try:
        value = json.loads(data.decode("utf-8"), parse_int=_short_integer, parse_float=decimal.Decimal,
                           parse_constant=_not_json)
    except RecursionError:
        raise InpaintError("the JSON body is nested too deeply: send one object of plain values") from None
    except UnicodeDecodeError:
        raise InpaintError("the body is not UTF-8 text: send a JSON object") from None
    except ValueError as error:
        raise InpaintError(f"the body is not valid JSON ({str(error).splitlines()[0][:100]})") from None
    if not isinstance(value, dict):
        raise InpaintError("send a JSON object: {image, mask, method, iterations, seed}")
    for key, field_value in value.items():
        if isinstance(field_value, (dict, list)):
            raise InpaintError(f"the JSON body is nested: {short(key)} holds an "
                               f"{'object' if isinstance(field_value, dict) else 'array'}; send plain values")
    return value



FACE_BOX = re.compile(r"\s*([0-9]{1,9})\s*,\s*([0-9]{1,9})\s*,\s*([0-9]{1,9})\s*,\s*([0-9]{1,9})\s*")


def face_box(value, width: int, height: int) -> tuple[int, int, int, int] | None:
    """A request's face box: null (none) or the text "x,y,w,h" of four whole pixels, a box of positive
    size inside the width × height image (x = column, y = row of its top-left corner) → the tuple or
    None; anything else raises InpaintError naming it."""
    if value is None:
        return None
    found = FACE_BOX.fullmatch(value) if isinstance(value, str) else None
    box = tuple(int(part) for part in found.groups()) if found else None
    if box is None or box[2] < 1 or box[3] < 1 or box[0] + box[2] > width or box[1] + box[3] > height:
        raise InpaintError(f'face must be "x,y,w,h": whole pixels of a box inside the {width}×{height} image, '
                           f"got {short(value)}")
    return box


def flag(value, name: str, default: bool) -> bool:
    """A JSON true or false (absent or null: `default`); anything else raises InpaintError naming it."""
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InpaintError(f"{name} must be true or false, got {short(value)}")
    return value
