"""The two settings the API and the worker share, from the environment (see .env.example).

Both default to the safe choice in production and to the permissive one locally
(``ENVIRONMENT=local`` or ``DJANGO_DEBUG``), where receivers run on 127.0.0.1 over plain HTTP.
A Django setting of the same name (tests set one) wins over the environment.
"""

from django.conf import settings

from config.env import env_bool


def _local() -> bool:
    return bool(settings.DEBUG or getattr(settings, "LOCAL", False))


def allow_http() -> bool:
    """Whether endpoint URLs may be ``http://``; production requires ``https://``."""
    value = getattr(settings, "WEBHOOKS_ALLOW_HTTP", None)
    return env_bool("WEBHOOKS_ALLOW_HTTP", _local()) if value is None else bool(value)


def allow_private_networks() -> bool:
    """Whether deliveries may go to loopback, private, link-local or other non-public addresses.

    Off in production: an organization's admin must not be able to make the worker call the
    platform's own network (the database, Redis, a cloud metadata service).
    """
    value = getattr(settings, "WEBHOOKS_ALLOW_PRIVATE_NETWORKS", None)
    if value is None:
        return env_bool("WEBHOOKS_ALLOW_PRIVATE_NETWORKS", _local())
    return bool(value)
