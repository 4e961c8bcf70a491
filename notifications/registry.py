"""Which kinds of e-mail exist and how each is rendered: apps register, the ledger sends.

The notifications app knows nothing of appointments or care plans. An app that plans rows of a
kind registers that kind here (from its ``AppConfig.ready``) with two callables:

- ``render(notification, now) -> Email``: loads the subject, decides at send time whether the
  e-mail still makes sense (raise ``Skip(reason)`` if not) and builds it;
- ``consent(notification) -> bool`` or ``None``: asked right before rendering; ``None`` marks a
  transactional kind (confirmations, cancellations) that needs no consent.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.mime.base import MIMEBase
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from notifications.models import Notification


class Skip(Exception):
    """The renderer decided at send time that this e-mail must not go out."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Email:
    """A rendered e-mail. ``told`` records the facts it tells, so later notices can compare."""

    subject: str
    text: str
    html: str = ""
    to: str = ""
    attachments: list[MIMEBase] = field(default_factory=list)
    unsubscribe_url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    told: dict = field(default_factory=dict)


Renderer = Callable[["Notification", datetime], Email]
ConsentCheck = Callable[["Notification"], bool]


@dataclass(frozen=True)
class Kind:
    """``clinical`` kinds reveal care (an exercise program tells that a plan exists), so only
    managers see their ledger rows."""

    key: str
    render: Renderer
    consent: ConsentCheck | None = None
    clinical: bool = False


_KINDS: dict[str, Kind] = {}


def register(
    key: str, *, render: Renderer, consent: ConsentCheck | None = None, clinical: bool = False
) -> Kind:
    """Register (or re-register, on reload) the renderer and consent check of a kind."""
    kind = Kind(key=key, render=render, consent=consent, clinical=clinical)
    _KINDS[key] = kind
    return kind


def get(key: str) -> Kind | None:
    return _KINDS.get(key)


def clinical_kinds() -> list[str]:
    return sorted(key for key, kind in _KINDS.items() if kind.clinical)
