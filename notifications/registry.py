"""Which kinds of e-mail exist and how each is rendered: apps register, the ledger sends.

The notifications app knows nothing of appointments or care plans. An app that plans rows of a
kind registers that kind here (from its ``AppConfig.ready``) with three callables:

- ``render(notification, now) -> Email``: loads the subject, decides at send time whether the
  e-mail still makes sense (raise ``Skip(reason)`` if not) and builds it;
- ``consent(notification) -> bool`` or ``None``: asked right before rendering; ``None`` marks a
  transactional kind (confirmations, cancellations) that needs no consent;
- ``visible_subjects(user) -> QuerySet``: the subjects (appointments, program versions) whose
  ledger rows a staff user other than a manager may read, as a lazy queryset the ledger uses as
  a subquery. The owning app knows who may see its subjects; the ledger only applies the answer.
  A kind without one is shown to managers only.
- ``prepare(notifications) -> None`` or ``None``: given the rows of a batch about to be sent
  (``notifications.batches``), reads in one query what ``consent`` and ``render`` will need and
  keeps it on the rows, so a batch's reads do not grow with its size. Consent is still judged
  per row, right before its send, on a read at most ``NOTIFICATIONS_BATCH_READ_SECONDS`` old.

``clinical=True`` marks a kind whose mere existence reveals care (an exercise program tells that
a plan exists): its rows are never shown to front desk, whatever ``visible_subjects`` says.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.mime.base import MIMEBase
from typing import TYPE_CHECKING

from django.db.models import Model, QuerySet

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
Prepare = Callable[[list["Notification"]], None]
VisibleSubjects = Callable[[object], QuerySet[Model]]


@dataclass(frozen=True)
class Kind:
    """``clinical`` kinds reveal care (an exercise program tells that a plan exists), so front
    desk never sees their ledger rows; ``visible_subjects`` narrows every kind to the subjects a
    user may see (see the module docstring)."""

    key: str
    render: Renderer
    consent: ConsentCheck | None = None
    clinical: bool = False
    visible_subjects: VisibleSubjects | None = None
    prepare: Prepare | None = None


_KINDS: dict[str, Kind] = {}


def register(
    key: str,
    *,
    render: Renderer,
    consent: ConsentCheck | None = None,
    clinical: bool = False,
    visible_subjects: VisibleSubjects | None = None,
    prepare: Prepare | None = None,
) -> Kind:
    """Register (or re-register, on reload) the renderer, consent check, visibility and batch
    read of a kind."""
    kind = Kind(
        key=key,
        render=render,
        consent=consent,
        clinical=clinical,
        visible_subjects=visible_subjects,
        prepare=prepare,
    )
    _KINDS[key] = kind
    return kind


def get(key: str) -> Kind | None:
    return _KINDS.get(key)


def kinds() -> list[Kind]:
    return [_KINDS[key] for key in sorted(_KINDS)]
