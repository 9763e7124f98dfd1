"""Factories for the core's tests: rows with sensible defaults, one call each."""

import itertools

from rest_framework.test import APIClient

from helpdesk.accounts.models import Organization, Role, User
from helpdesk.accounts.services import api_token_create

_seq = itertools.count(1)


def make_org(slug: str | None = None) -> Organization:
    n = next(_seq)
    slug = slug or f"org-{n}"
    return Organization.objects.create(slug=slug, name=slug.title())


def make_user(org: Organization | None, role: Role = Role.AGENT, email: str | None = None) -> User:
    n = next(_seq)
    return User.objects.create_user(
        email or f"{role}{n}@{org.slug if org else 'nowhere'}.example",
        "correct horse battery staple",
        organization=org,
        role=role,
        full_name=f"{role.title()} {n}",
    )


def client_for(user: User) -> APIClient:
    """An API client that authenticates as ``user`` with a real bearer token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user)}")
    return client
