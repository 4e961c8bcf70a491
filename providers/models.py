"""Providers, their disciplines and credentials, and the scope-of-practice rules as data.

Disciplines, acts and scope rules are rows, not code branches: adding a discipline or a
jurisdiction's override is a data change. ``providers.scope`` is the one place that decides.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from clinic.models import Location, validate_jurisdiction


class Discipline(models.Model):
    """A profession: physiotherapist, massage therapist, personal trainer, ..."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    summary = models.TextField(blank=True)
    is_public = models.BooleanField(default=True, help_text="Shown in the booking widget.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Act(models.Model):
    """The unit of scope of practice: diagnose, dry_needling, fitness_training, ..."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    description = models.TextField(blank=True)
    is_clinical = models.BooleanField(
        default=False, help_text="Produces clinical records (diagnosis, treatment plans)."
    )

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class ScopeRule(models.Model):
    """Whether a discipline may perform an act, by default (blank jurisdiction) or in one
    jurisdiction, and whether it needs an endorsement on the provider's credential."""

    discipline = models.ForeignKey(Discipline, on_delete=models.CASCADE, related_name="rules")
    act = models.ForeignKey(Act, on_delete=models.CASCADE, related_name="rules")
    jurisdiction = models.CharField(
        max_length=10,
        blank=True,
        validators=[validate_jurisdiction],
        help_text="Blank for the default rule; a code such as CA-ON for an override.",
    )
    allowed = models.BooleanField(default=True)
    requires_endorsement = models.BooleanField(default=False)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["discipline__code", "act__code", "jurisdiction"]
        constraints = [
            models.UniqueConstraint(
                fields=["discipline", "act", "jurisdiction"], name="scope_rule_unique"
            ),
        ]

    def __str__(self) -> str:
        where = self.jurisdiction or "default"
        verdict = "allowed" if self.allowed else "forbidden"
        if self.allowed and self.requires_endorsement:
            verdict = "allowed with endorsement"
        return f"{self.discipline.code} / {self.act.code} ({where}): {verdict}"


class Provider(models.Model):
    """A person who gives care, of one discipline, working at one or more locations."""

    display_name = models.CharField(max_length=120)
    discipline = models.ForeignKey(Discipline, on_delete=models.PROTECT, related_name="providers")
    bio = models.TextField(blank=True)
    email = models.EmailField(blank=True)
    locations = models.ManyToManyField(Location, related_name="providers", blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="provider",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.discipline.name})"


class Credential(models.Model):
    """A licence, registration or certification, valid in one jurisdiction over a date range."""

    class Kind(models.TextChoices):
        LICENCE = "licence", "Licence"
        REGISTRATION = "registration", "Registration"
        CERTIFICATION = "certification", "Certification"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        REVOKED = "revoked", "Revoked"

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="credentials")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    number = models.CharField(max_length=60)
    issuing_body = models.CharField(max_length=160)
    jurisdiction = models.CharField(
        max_length=10,
        blank=True,
        validators=[validate_jurisdiction],
        help_text="Where the credential is valid; blank for a certification valid everywhere.",
    )
    valid_from = models.DateField()
    valid_until = models.DateField(null=True, blank=True, help_text="Last day it is valid.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    endorsements = models.ManyToManyField(Act, blank=True, related_name="endorsed_credentials")

    class Meta:
        ordering = ["provider__display_name", "-valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=models.F("valid_from")),
                name="credential_dates_in_order",
            ),
            models.CheckConstraint(
                condition=Q(kind="certification") | ~Q(jurisdiction=""),
                name="credential_licence_has_jurisdiction",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.number} ({self.jurisdiction or 'any'})"


class CredentialRequirement(models.Model):
    """Which credential kinds let a discipline practise, by default or in one jurisdiction.

    A massage therapist needs a licence or registration in CA-ON but a certification elsewhere:
    that is a default row plus a CA-ON override row, not a code branch.
    """

    discipline = models.ForeignKey(
        Discipline, on_delete=models.CASCADE, related_name="credential_requirements"
    )
    jurisdiction = models.CharField(
        max_length=10,
        blank=True,
        validators=[validate_jurisdiction],
        help_text="Blank for the default requirement; a code such as CA-ON for an override.",
    )
    accepts_licence = models.BooleanField(default=False)
    accepts_registration = models.BooleanField(default=False)
    accepts_certification = models.BooleanField(default=False)

    class Meta:
        ordering = ["discipline__code", "jurisdiction"]
        constraints = [
            models.UniqueConstraint(
                fields=["discipline", "jurisdiction"], name="credential_requirement_unique"
            ),
            models.CheckConstraint(
                condition=Q(accepts_licence=True)
                | Q(accepts_registration=True)
                | Q(accepts_certification=True),
                name="credential_requirement_accepts_some_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.discipline.code} ({self.jurisdiction or 'default'}): {self.kinds_label}"

    @property
    def kinds(self) -> frozenset[str]:
        accepted = {
            Credential.Kind.LICENCE: self.accepts_licence,
            Credential.Kind.REGISTRATION: self.accepts_registration,
            Credential.Kind.CERTIFICATION: self.accepts_certification,
        }
        return frozenset(str(kind) for kind, ok in accepted.items() if ok)

    @property
    def kinds_label(self) -> str:
        return " or ".join(sorted(self.kinds))


class ScopeRuleChange(models.Model):
    """Append-only history of scope-rule edits: who changed what, when, before and after.

    Natural keys (codes) are copied so the history stays readable after a rule is deleted.
    """

    class Action(models.TextChoices):
        CREATE = "create", "Created"
        UPDATE = "update", "Updated"
        DELETE = "delete", "Deleted"

    rule = models.ForeignKey(
        ScopeRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="changes"
    )
    discipline_code = models.CharField(max_length=40)
    act_code = models.CharField(max_length=40)
    jurisdiction = models.CharField(max_length=10, blank=True)
    action = models.CharField(max_length=10, choices=Action.choices)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    changed_by_label = models.CharField(max_length=150, blank=True)
    changed_at = models.DateTimeField(auto_now_add=True, db_index=True)
    channel = models.CharField(max_length=20, blank=True, help_text="api, admin, command")

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        where = self.jurisdiction or "default"
        when = f"{self.changed_at:%Y-%m-%d %H:%M}"
        return f"{when} {self.action} {self.discipline_code}/{self.act_code} ({where})"
