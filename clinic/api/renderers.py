"""Renderers that cannot crash on text UTF-8 cannot encode (``DEFAULT_RENDERER_CLASSES``).

The parsers refuse unpaired surrogates, but text can reach a response by other ways (a row
written before that rule, a message quoting a value): rendering must then still answer, not 500.
"""

from typing import Any

from rest_framework import renderers


class JSONRenderer(renderers.JSONRenderer):
    """DRF's renderer; when the text holds an unpaired surrogate, the same JSON with every
    non-ASCII character escaped (``\\ud800`` is valid JSON text, just not valid UTF-8)."""

    def render(self, data: Any, accepted_media_type=None, renderer_context=None) -> bytes:
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
