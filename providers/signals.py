"""The signal providers sends when a credential covers less than it did.

Suspending or revoking a credential, ending it sooner, starting it later, moving it to another
jurisdiction or deleting it may leave booked care uncovered. Providers knows nothing of
appointments: it only announces the change, after commit, from whatever path saved the row (the
services, the admin, a shell), and scheduling listens (``scheduling.rebooking``). Sent with
``provider_id`` and ``credential_id``.
"""

from datetime import date

from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import Signal, receiver

from providers.models import Credential

credential_coverage_reduced = Signal()

_FIELDS = ("status", "valid_from", "valid_until", "jurisdiction")


def covers_less(before: dict, after: Credential) -> bool:
    """Whether the saved credential covers less than its previous values did."""
    if before["status"] == Credential.Status.ACTIVE and after.status != Credential.Status.ACTIVE:
        return True
    old_end, new_end = before["valid_until"], after.valid_until
    if new_end is not None and (old_end is None or new_end < old_end):
        return True
    new_start = after.valid_from
    if isinstance(new_start, date) and new_start > before["valid_from"]:
        return True
    return before["jurisdiction"] != after.jurisdiction


def _announce(credential: Credential) -> None:
    provider_id, credential_id = credential.provider_id, credential.pk
    transaction.on_commit(
        lambda: credential_coverage_reduced.send(
            sender=Credential, provider_id=provider_id, credential_id=credential_id
        )
    )


@receiver(pre_save, sender=Credential, dispatch_uid="providers.credential_before")
def _remember(sender, instance: Credential, **kwargs) -> None:
    instance._coverage_before = (
        Credential.objects.filter(pk=instance.pk).values(*_FIELDS).first() if instance.pk else None
    )


@receiver(post_save, sender=Credential, dispatch_uid="providers.credential_saved")
def _saved(sender, instance: Credential, created: bool, **kwargs) -> None:
    before = getattr(instance, "_coverage_before", None)
    if before is not None and covers_less(before, instance):
        _announce(instance)


@receiver(post_delete, sender=Credential, dispatch_uid="providers.credential_deleted")
def _deleted(sender, instance: Credential, **kwargs) -> None:
    _announce(instance)
