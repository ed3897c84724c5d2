import factory
from django.contrib.auth import get_user_model

from projects.models import ApplicationSettings, Membership, Project, Role


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Project {n}")
    settings = factory.RelatedFactory("tests.factories.ApplicationSettingsFactory", factory_related_name="project")


class ApplicationSettingsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApplicationSettings


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.OWNER


class EventFactory(factory.django.DjangoModelFactory):
    """An event as PutEvents stores it. Pass `timestamp`; `endpoint_key` is the lower-cased endpoint id."""

    class Meta:
        model = "audience.Event"

    project = factory.SubFactory(ProjectFactory)
    endpoint_key = "endpoint-1"
    client_event_id = factory.Sequence(lambda n: f"event-{n}")
    event_type = "app.opened"
