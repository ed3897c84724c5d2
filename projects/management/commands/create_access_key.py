import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from projects.services import access_key_create


class Command(BaseCommand):
    help = (
        "Issue an API access key for a user. Prints one JSON object, "
        '{"AccessKeyId": "...", "SecretAccessKey": "..."}, and nothing else on stdout; '
        "the secret is shown only this once."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username", help="the Django user the key belongs to")
        parser.add_argument("--description", default="Created with manage.py create_access_key")

    def handle(self, *args, username: str, description: str, **options) -> None:
        User = get_user_model()
        user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(
                f"No user named {username!r}. Create one first, e.g. `python manage.py createsuperuser`."
            )
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive; a key of an inactive user is refused.")

        issued = access_key_create(user, description=description)

        self.stderr.write(
            f"Created access key {issued.key.access_key_id} for {username}; store the secret now.",
            style_func=self.style.SUCCESS,
        )
        self.stdout.write(json.dumps({"AccessKeyId": issued.key.access_key_id, "SecretAccessKey": issued.secret}))
