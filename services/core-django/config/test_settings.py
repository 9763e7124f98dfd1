"""Settings for the core's own tests: the real ones, with local defaults for the secrets."""

import os

os.environ.setdefault("ENVIRONMENT", "local")
os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-" + "k3y-" * 12)
os.environ.setdefault("REALTIME_TOKEN_SECRET", "tests-only-realtime-secret-0123456789")
# A Redis database of the core's tests' own: keys other services' tests (or a running stack)
# leave in database 0 (presence, tokens) must not leak into these tests, nor ours into theirs.
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")

from config.settings import *  # noqa: F403

# Tests render no collected static files; the manifest storage would demand a collectstatic.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast, tests only
STATIC_ROOT.mkdir(exist_ok=True)  # noqa: F405  (WhiteNoise warns about a missing folder)
