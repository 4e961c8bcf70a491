"""What a request may carry before any view sees it: size, nesting and text that can be stored.

One place for the limits every endpoint shares (the parser and the input-guard middleware call
it), so a new endpoint is covered without doing anything. The limits are documented in
``docs/LIMITS.md``.
"""

import math
from typing import Any

from django.conf import settings
from rest_framework import exceptions

# Deeper than any request the API defines (a booking is 3 levels); far below Python's recursion
# limit, so a hostile body can never reach code that recurses per level.
MAX_JSON_DEPTH = 32
# Longer than any free text a clinic writes in one field (about 25 pages); a field that needs
# less says so itself. A megabyte string is refused here, whichever field it is sent in.
MAX_TEXT_LENGTH = 50_000
# Answering with every offending field would let one body make a megabyte-long answer.
MAX_REPORTED_FIELDS = 20


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def max_body_bytes() -> int:
    """Django's own cap on a request body held in memory; the JSON parser enforces it too."""
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def text_problem(value: str) -> str | None:
    """Why a piece of text cannot be accepted, or None.

    PostgreSQL refuses NUL in text and UTF-8 cannot encode an unpaired surrogate (JSON's
    ``"\\ud800"`` escape makes one), so either would fail later, in the database or the
    renderer, as a 500.
    """
    if len(value) > MAX_TEXT_LENGTH:
        return f"Longer than {MAX_TEXT_LENGTH} characters."
    if "\x00" in value:
        return "Contains a NUL character (\\u0000), which cannot be stored."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Contains an unpaired UTF-16 surrogate (such as \\ud800), which is not text."
    return None


def printable_name(name: str) -> str:
    """A field name as it can be echoed back safely: NUL and surrogates as ``\\uXXXX``."""
    return "".join(
        f"\\u{ord(char):04x}" if char == "\x00" or "\ud800" <= char <= "\udfff" else char
        for char in name
    )


def _join(prefix: str, key: object) -> str:
    name = printable_name(str(key))
    return f"{prefix}.{name}" if prefix else name


def text_error(reason: str) -> exceptions.ErrorDetail:
    code = "max_length" if reason.startswith("Longer") else "invalid_character"
    return exceptions.ErrorDetail(reason, code)


def body_problems(data: Any) -> tuple[bool, dict[str, list[exceptions.ErrorDetail]]]:
    """Walk parsed JSON without recursion: (too deep?, {field path: [error]}).

    Strings (keys and values) must be storable text; numbers finite (``1e999`` parses as
    infinity, which no field holds and JSON cannot render).
    """
    problems: dict[str, list[exceptions.ErrorDetail]] = {}
    stack: list[tuple[Any, str, int]] = [(data, "", 1)]
    while stack and len(problems) < MAX_REPORTED_FIELDS:
        value, path, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                return True, {}
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, child in items:
                child_path = _join(path, key)
                if isinstance(key, str) and (reason := text_problem(key)):
                    problems[child_path] = [text_error(reason)]
                    continue
                stack.append((child, child_path, depth + 1))
        elif isinstance(value, str):
            if reason := text_problem(value):
                problems[path or "body"] = [text_error(reason)]
        elif isinstance(value, float) and not math.isfinite(value):
            problems[path or "body"] = [
                exceptions.ErrorDetail("Numbers must be finite.", "not_finite")
            ]
    return False, problems


def too_deep() -> exceptions.ParseError:
    return exceptions.ParseError(
        f"The JSON body is nested deeper than {MAX_JSON_DEPTH} levels.", "too_deep"
    )


def refuse_bad_body(data: Any) -> None:
    """Raise the 400 for a body nested too deep or holding text that cannot be stored."""
    deep, problems = body_problems(data)
    if deep:
        raise too_deep()
    if problems:
        raise exceptions.ValidationError(problems)
