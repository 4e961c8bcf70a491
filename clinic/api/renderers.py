"""Renderers that cannot crash on text UTF-8 cannot encode (``DEFAULT_RENDERER_CLASSES``).

The parsers refuse unpaired surrogates, but text can reach a response by other ways (a row
written before that rule, a message quoting a value): rendering must then still answer, not 500.
"""

from collections.abc import Callable
from typing import Any

from rest_framework import renderers


class RenderedJSON:
    """A response body a hot endpoint wrote itself as the JSON renderer would (compact), and
    the data it stands for, for any other rendering (the browsable API, an ``indent``)."""

    def __init__(self, content: bytes, data: Callable[[], Any]) -> None:
        self.content = content
        self.data = data


class JSONRenderer(renderers.JSONRenderer):
    """DRF's renderer; when the text holds an unpaired surrogate, the same JSON with every
    non-ASCII character escaped (``\\ud800`` is valid JSON text, just not valid UTF-8).
    ``RenderedJSON`` is sent as written when compact JSON is asked for."""

    def render(self, data: Any, accepted_media_type=None, renderer_context=None) -> bytes:
        if isinstance(data, RenderedJSON):
            if self.get_indent(accepted_media_type or "", renderer_context or {}) is None:
                return data.content
            data = data.data()
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            self.ensure_ascii = True
            return super().render(data, accepted_media_type, renderer_context)


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    """The browsable API page, with characters UTF-8 cannot encode shown as escapes."""

    def render(self, data: Any, accepted_media_type=None, renderer_context=None) -> bytes:
        html = super().render(data, accepted_media_type, renderer_context)
        return html.encode(self.charset, "backslashreplace")
