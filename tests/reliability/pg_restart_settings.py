"""The web server's settings in the PostgreSQL restart drill: the suite's settings (static files
from the finders, no HTTPS redirect) with production's persistent, health-checked connections,
which a restart breaks under the running server."""

from tests.settings import *  # noqa: F403

DATABASES["default"]["CONN_MAX_AGE"] = 60  # noqa: F405
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # noqa: F405
