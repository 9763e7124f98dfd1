import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings

from helpdesk.accounts.models import Organization, Role, User
from tests.factories import make_org, make_user


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A real redis-server of the test's own, so the test can stop and start it."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.port = _free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    yield server
    server.stop()
