"""The test suite's environment: engage.settings with the variables a test run needs.

Everything else (DATABASE_URL above all) still comes from the environment, so the same suite
runs on SQLite and on PostgreSQL.
"""

import os

os.environ.setdefault("SECRET_KEY", "engage-test-suite-only")
os.environ.setdefault("ENGAGE_QUEUE_SYNC", "1")
os.environ.setdefault("SESSION_COOKIE_SECURE", "0")
os.environ.setdefault("CSRF_COOKIE_SECURE", "0")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")  # an https ENGAGE_PUBLIC_URL in a shell must not redirect tests
os.environ.pop("DATABASE_REPLICA_URL", None)  # tests that need a replica add it themselves (test_replica.py)

from engage.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
WHITENOISE_AUTOREFRESH = True  # serve from the finders; no collectstatic needed for tests
WHITENOISE_USE_FINDERS = True
# The live test server's threads must not keep connections open past a test: PostgreSQL could not
# drop the test database at the end ("is being accessed by other users").
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
