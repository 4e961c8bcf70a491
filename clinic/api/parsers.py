"""Request parsers for every endpoint (``DEFAULT_PARSER_CLASSES``): the API takes JSON only.

DRF's own JSON parser reads any length, lets ``RecursionError`` escape on deep nesting and hands
unpaired surrogates and NUL characters to the views, where they fail as 500s in the database or
the renderer. These refuse all of that as 400/413 problems before a view runs.
"""

import json
from typing import Any

from django.conf import settings
from rest_framework import exceptions, parsers
from rest_framework.settings import api_settings

from clinic.api.limits import PayloadTooLarge, max_body_bytes, refuse_bad_body, too_deep


def _declared_length(parser_context: dict | None) -> int:
    request = (parser_context or {}).get("request")
    meta = getattr(request, "META", {}) if request is not None else {}
    try:
        return int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def refuse_oversized(parser_context: dict | None) -> None:
    """413 before reading a body whose declared length is over the cap."""
    limit = max_body_bytes()
    if _declared_length(parser_context) > limit:
        raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")


def _read_capped(stream) -> bytes:
    """The body, refusing it as soon as it passes the cap (a stream may outrun its header)."""
    limit = max_body_bytes()
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
    return raw


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON.")


class JSONParser(parsers.JSONParser):
    """JSON with a size cap, a nesting limit, finite numbers and storable text only."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        refuse_oversized(parser_context)
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        raw = _read_capped(stream)
        try:
            data = json.loads(
                raw.decode(encoding),
                parse_constant=_refuse_constant if api_settings.STRICT_JSON else None,
            )
        except RecursionError as error:
            raise too_deep() from error
        except ValueError as error:  # includes UnicodeDecodeError and the 4,300-digit int cap
            raise exceptions.ParseError(f"JSON parse error: {error}") from error
        refuse_bad_body(data)
        return data


def _form_fields(data) -> dict[str, Any]:
    fields = {key: data.getlist(key) for key in data}
    return {key: values[0] if len(values) == 1 else values for key, values in fields.items()}


class FormParser(parsers.FormParser):
    """For the one form post the API takes (RFC 8058 one-click unsubscribe), the same rules."""

    def parse(self, stream, media_type=None, parser_context=None):
        refuse_oversized(parser_context)
        data = super().parse(stream, media_type, parser_context)
        refuse_bad_body(_form_fields(data))
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        refuse_oversized(parser_context)
        result = super().parse(stream, media_type, parser_context)
        refuse_bad_body(_form_fields(result.data))
        return result
