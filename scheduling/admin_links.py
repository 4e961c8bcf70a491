"""Links other apps add to an appointment's admin page ("Write note" from ``plans``), so the
appointment page offers them while scheduling knows nothing of those apps."""

from collections.abc import Callable

from django.http import HttpRequest

Link = Callable[[HttpRequest, object], tuple[str, str] | None]
_LINKS: list[Link] = []


def register(link: Link) -> None:
    """``link(request, appointment)`` returns ``(label, url)``, or None to show nothing."""
    if link not in _LINKS:
        _LINKS.append(link)


def links_for(request: HttpRequest, appointment) -> list[tuple[str, str]]:
    return [found for link in _LINKS if (found := link(request, appointment))]
