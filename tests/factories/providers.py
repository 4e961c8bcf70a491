"""Factories for providers and credentials.

Disciplines and acts come from the catalogue (migration 0003): the factories get the existing rows
by code. Tests with ``transaction=True`` run after a flush that empties the catalogue; call
``ensure_scope_catalog()`` there first.

``ProviderFactory`` gives an active physiotherapist with a current CA-ON licence; pass
``credentials=False`` for a provider with no credential at all.
"""

import datetime

import factory

from providers.catalog import load_catalog
from providers.models import Act, Credential, Discipline, Provider
from tests.factories.clinic import LocationFactory

DEFAULT_KIND = {
    "physiotherapist": Credential.Kind.LICENCE,
    "chiropractor": Credential.Kind.LICENCE,
    "occupational_therapist": Credential.Kind.LICENCE,
    "massage_therapist": Credential.Kind.REGISTRATION,
    "exercise_physiologist": Credential.Kind.CERTIFICATION,
    "exercise_therapist": Credential.Kind.CERTIFICATION,
    "personal_trainer": Credential.Kind.CERTIFICATION,
    "corrective_exercise_specialist": Credential.Kind.CERTIFICATION,
}


def ensure_scope_catalog() -> None:
    """Restore disciplines, acts and rules after a flush (transactional tests)."""
    load_catalog()


class DisciplineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Discipline
        django_get_or_create = ["code"]

    code = "physiotherapist"
    name = factory.LazyAttribute(lambda o: o.code.replace("_", " ").capitalize())


class ActFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Act
        django_get_or_create = ["code"]

    code = "manual_therapy"
    name = factory.LazyAttribute(lambda o: o.code.replace("_", " ").capitalize())


class ProviderFactory(factory.django.DjangoModelFactory):
    """An active provider working at one location, with a current credential by default."""

    class Meta:
        model = Provider
        skip_postgeneration_save = True

    display_name = factory.Sequence(lambda n: f"Provider {n}")
    discipline = factory.SubFactory(DisciplineFactory)
    bio = "Works with runners and desk workers."
    email = factory.Sequence(lambda n: f"provider{n}@clinic.example")
    is_active = True

    @factory.post_generation
    def locations(self, create, extracted, **kwargs):
        if not create:
            return
        if extracted is None:
            extracted = [LocationFactory(slug="pickering", name="Pickering")]
        self.locations.set(extracted)
        self._first_location = extracted[0] if extracted else None

    @factory.post_generation
    def credentials(self, create, extracted, **kwargs):
        """``credentials=False``: none; default: one current credential for the jurisdiction of
        the first location given (kind by discipline); kwargs go to ``CredentialFactory``."""
        if not create or extracted is False:
            return
        kind = DEFAULT_KIND.get(self.discipline.code, Credential.Kind.LICENCE)
        first = getattr(self, "_first_location", None)
        jurisdiction = first.jurisdiction if first else "CA-ON"
        kwargs.setdefault("kind", kind)
        kwargs.setdefault("jurisdiction", jurisdiction)
        CredentialFactory(provider=self, **kwargs)


class CredentialFactory(factory.django.DjangoModelFactory):
    """An active CA-ON licence valid from a year ago with no end date, unless told otherwise.

    ``endorsements=["dry_needling"]`` adds endorsements by act code.
    """

    class Meta:
        model = Credential
        skip_postgeneration_save = True

    provider = factory.SubFactory(ProviderFactory, credentials=False)
    kind = Credential.Kind.LICENCE
    number = factory.Sequence(lambda n: f"L-{10000 + n}")
    issuing_body = "College of Physiotherapists of Ontario"
    jurisdiction = "CA-ON"
    valid_from = factory.LazyFunction(lambda: datetime.date.today() - datetime.timedelta(days=365))
    valid_until = None
    status = Credential.Status.ACTIVE

    @factory.post_generation
    def endorsements(self, create, extracted, **kwargs):
        if create and extracted:
            self.endorsements.set(Act.objects.filter(code__in=list(extracted)))
