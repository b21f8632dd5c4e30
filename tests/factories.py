import factory
from django.contrib.auth.models import Group

from emergencies.services import StubInput, emergency_stub_file
from qms.models import User
from qms.roles import Role


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pw-correct-horse")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.set([Group.objects.get(name=Role(r).group_name) for r in extracted])


def stub_input(**overrides) -> StubInput:
    values = {
        "title": "Checkout API returns 500",
        "category": "p1_incident",
        "problem_statement": "Every order fails since 02:40 UTC.",
    }
    values.update(overrides)
    return StubInput(**values)


def file_stub(actor: User, **overrides):
    now = overrides.pop("now", None)
    return emergency_stub_file(data=stub_input(**overrides), actor=actor, now=now)


PASSWORD = "pw-correct-horse"


def authorise(change, *signers):
    """Sign a stub's emergency bypass with each signer, in the first role of theirs it asks for."""
    from emergencies.models import BypassRequest
    from emergencies.services.bypass import bypass_sign, bypass_slot_status

    bypass = BypassRequest.objects.get(change=change, level="E")
    for signer in signers:
        slots = bypass_slot_status(bypass)
        role = next(r for slot in slots if not slot.filled for r in slot.roles if signer.has_role(r))
        bypass = bypass_sign(bypass_id=bypass.pk, signer=signer, password=PASSWORD, role=role)
    change.refresh_from_db()
    return bypass
