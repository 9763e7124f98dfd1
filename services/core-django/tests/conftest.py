import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings

from helpdesk.accounts.models import Organization, Role, User
from tests.factories import make_org, make_user
from tools.stack import RedisServer, free_port, redis_server_binary


@pytest.fixture(autouse=True)
def _own_cache_keys(settings: Any) -> None:
    """Each test caches under keys of its own: ids repeat across tests, Redis does not forget."""
    settings.CACHE_KEY_PREFIX = f"test:core:{uuid.uuid4().hex}"


@pytest.fixture
def org(db: None) -> Organization:
    return make_org("acme")


@pytest.fixture
def other_org(db: None) -> Organization:
    return make_org("globex")


@pytest.fixture
def agent(org: Organization) -> User:
    return make_user(org, Role.AGENT)


@pytest.fixture
def customer(org: Organization) -> User:
    return make_user(org, Role.CUSTOMER)


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def stream(redis_client: redis.Redis) -> Iterator[str]:
    """A stream of this test's own on the real Redis, deleted afterwards."""
    name = f"test:core:events:{uuid.uuid4().hex}"
    yield name
    redis_client.delete(name)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server of the test's own (not started), so a test can stop and start it."""
    if redis_server_binary() is None:
        pytest.skip("no redis-server binary")
    server = RedisServer(port=free_port(), workdir=tmp_path)
    yield server
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def _drop_published_tokens() -> Iterator[None]:
    """Tokens created by tests publish records to the tests' Redis database; drop them after."""
    yield
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        keys = list(client.scan_iter(match="helpdesk:api-token:*", count=1000))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass
    finally:
        client.close()
