"""Asking core whether a user may join a ticket's or a queue's room, with a short cache.

Core is the only judge of who may see what (``helpdesk_shared.access``). Its answers are kept
for ``cache_seconds`` per (user, kind, id), allowed or not, so a dashboard that re-subscribes
after a reconnect does not cost core a request per room; a revoked right takes effect within
that time for new subscriptions. Failures to reach core are never cached.
"""

import time
from typing import Final

import httpx
import structlog
from pydantic import ValidationError

from app import metrics
from app.rooms import Kind
from helpdesk_shared.access import ROOM_ACCESS_PATH, RoomAccess, RoomAccessRequest

MAX_CACHED: Final = 50_000
log = structlog.get_logger("realtime.access")


class AccessUnavailable(Exception):
    """Core could not answer (down, slow, misconfigured); the client may try again."""


class RoomAccessClient:
    def __init__(
        self,
        core_url: str,
        service_token: str | None,
        *,
        cache_seconds: float,
        timeout: float,
    ) -> None:
        self._url = core_url + ROOM_ACCESS_PATH
        self._token = service_token
        self._cache_seconds = cache_seconds
        self._cache: dict[tuple[int, str, int], tuple[float, RoomAccess]] = {}
        self._client = httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def check(self, user_id: int, kind: Kind, ident: int) -> RoomAccess:
        key = (user_id, kind, ident)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            metrics.ROOM_ACCESS_CHECKS.labels("cache", str(cached[1].allowed).lower()).inc()
            return cached[1]
        answer = await self._ask(RoomAccessRequest(user_id=user_id, kind=kind, id=ident))
        metrics.ROOM_ACCESS_CHECKS.labels("core", str(answer.allowed).lower()).inc()
        if self._cache_seconds > 0:
            if len(self._cache) >= MAX_CACHED:
                self._prune(now)
            self._cache[key] = (now + self._cache_seconds, answer)
        return answer

    async def _ask(self, request: RoomAccessRequest) -> RoomAccess:
        if not self._token:
            raise AccessUnavailable("HELPDESK_SERVICE_TOKEN is not set: cannot ask core")
        try:
            response = await self._client.post(
                self._url,
                content=request.model_dump_json(),
                headers={
                    "Authorization": f"Bearer {self._token}",
                    "Content-Type": "application/json",
                },
            )
        except httpx.HTTPError as exc:
            log.warning("room_access_failed", error=f"{type(exc).__name__}: {exc}")
            raise AccessUnavailable("core did not answer") from None
        if response.status_code != 200:
            log.warning("room_access_failed", status=response.status_code, body=response.text[:300])
            raise AccessUnavailable(f"core answered {response.status_code}")
        try:
            return RoomAccess.model_validate_json(response.content)
        except ValidationError:
            log.warning("room_access_failed", reason="malformed answer", body=response.text[:300])
            raise AccessUnavailable("core's answer was malformed") from None

    def _prune(self, now: float) -> None:
        expired = [k for k, (until, _) in self._cache.items() if until <= now]
        for key in expired:
            del self._cache[key]
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()
