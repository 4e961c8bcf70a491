import factory

from clinic.models import Location, Room


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Location {n}")
    slug = factory.Sequence(lambda n: f"location-{n}")
    address_line = "1 Main St"
    city = "Pickering"
    region = "ON"
    country = "CA"
    phone = "+1 905 555 0100"
    timezone = "America/Toronto"
    jurisdiction = "CA-ON"


class RoomFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Room

    location = factory.SubFactory(LocationFactory)
    name = factory.Sequence(lambda n: f"Room {n}")
    kind = Room.Kind.TREATMENT
    capacity = 1
