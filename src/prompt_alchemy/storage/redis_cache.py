"""The response cache and the per-key rate windows in Redis (`cache.url: redis://…`), for servers that share one
library and want both off the database. The same interfaces as the stores' (`CacheStore` and `count_request`);
`services/app.py` picks this or the store.

What Redis holds, under the `prompt-alchemy:` prefix:

- `resp:<hash>`: a hash {response, hits} per cached answer, expiring by Redis (PEXPIRE) at its TTL;
- `vec:<hash>`: the float32 bytes of a cached embedding, expiring by Redis;
- `rate:<key id>`: a counter per API key, created by the first request of a window and expiring by Redis when
  the window closes (INCR + PEXPIRE in one script, atomic across every server on this Redis).

Expiry is Redis's: the `now` arguments of the store interface are ignored (Redis's clock decides). A cache read or
write that fails (Redis down, timeout) is a miss and a warning, never a failed generation; a rate-window count,
the statistics and clearing raise StorageError, so a server never lets keys through unlimited unnoticed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from prompt_alchemy.errors import StorageError
from prompt_alchemy.logging_setup import get_logger

if TYPE_CHECKING:
    import redis

log = get_logger("storage.redis")

PREFIX = "prompt-alchemy:"
_SCHEMES = ("redis://", "rediss://", "unix://")

#: Read an answer and count the hit, only while the entry exists (HINCRBY alone would create a key without a TTL).
_READ_ANSWER = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HINCRBY', KEYS[1], 'hits', 1)
return redis.call('HGET', KEYS[1], 'response')
"""

#: Count one request in the key's window: the first request opens the window (sets its expiry); a counter that has
#: somehow lost its expiry gets one. Returns {hits, milliseconds until the window closes}.
_COUNT = """
local hits = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if hits == 1 or left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {hits, left}
"""


class RateWindows(Protocol):
    """Per-key fixed rate windows (the store's `count_request`, or Redis's)."""

    def count_request(self, key_id: str, limit: int, *, window: float = 60.0, now: float | None = None) -> float: ...


def check_cache_url(url: str) -> str:
    """`url` when it names a Redis server (redis://, rediss:// or unix://); ValueError without the password."""
    if not url.startswith(_SCHEMES):
        raise ValueError("cache.url must be a Redis URL (redis://host:6379/0, rediss://… or unix:///path.sock)")
    return url


def mask_cache_url(url: str) -> str:
    """The URL with its password replaced by ****."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    return url.replace(f"{user}:{parts.password}@", f"{user}:****@", 1)


class RedisCache:
    """The response cache (`CacheStore`) and the rate windows (`RateWindows`) on one Redis connection pool."""

    def __init__(self, url: str, *, prefix: str = PREFIX, timeout: float = 5.0) -> None:
        try:
            import redis
        except ImportError as exc:
            from prompt_alchemy.localstack import missing_extra

            raise StorageError(f"cache.url is a Redis server, but {missing_extra('redis', exc)}") from None

        self.url = url
        self.where = mask_cache_url(url)
        self.prefix = prefix
        self.client: redis.Redis = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30
        )
        self._read_answer = self.client.register_script(_READ_ANSWER)
        self._count = self.client.register_script(_COUNT)
        self._warned_at = 0.0

    # ------------------------------------------------------------------ helpers

    def _key(self, kind: str, key: str) -> str:
        return f"{self.prefix}{kind}:{key}"

    def _miss(self, what: str, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= 30:  # one warning per 30 s while Redis is away
            self._warned_at = now
            log.warning("the Redis cache at %s failed (%s: %s); %s", self.where, type(exc).__name__, exc, what)

    def _failed(self, what: str, exc: Exception) -> StorageError:
        return StorageError(
            f"the Redis cache at {self.where} failed to {what} ({type(exc).__name__}: {exc}); "
            f"check that it is running, or unset cache.url"
        )

    def _scan(self, kind: str) -> Iterator[bytes]:
        yield from self.client.scan_iter(match=f"{self.prefix}{kind}:*", count=1000)

    # ------------------------------------------------------------------ answers

    def cached_response(self, key: str, now: float) -> str | None:
        import redis

        try:
            found = self._read_answer(keys=[self._key("resp", key)])
        except redis.RedisError as exc:
            self._miss("the answer is generated again", exc)
            return None
        return None if found is None else found.decode("utf-8")

    def cache_response(
        self,
        key: str,
        provider: str,
        model: str,
        payload: str,
        now: float,
        expires_at: float,
        *,
        purge_expired: bool = False,
    ) -> None:
        """Store an answer for `expires_at - now` seconds (Redis drops it then; `purge_expired` has nothing to do)."""
        import redis

        ttl_ms = max(1, int((expires_at - now) * 1000))
        name = self._key("resp", key)
        try:
            with self.client.pipeline(transaction=True) as pipe:
                pipe.delete(name)
                pipe.hset(name, mapping={"response": payload, "provider": provider, "model": model, "hits": 0})
                pipe.pexpire(name, ttl_ms)
                pipe.execute()
        except redis.RedisError as exc:
            self._miss("the answer was not cached", exc)

    # ------------------------------------------------------------------ vectors

    def cached_vectors(self, keys: Sequence[str], now: float) -> dict[str, bytes]:
        import redis

        unique = list(dict.fromkeys(keys))
        if not unique:
            return {}
        try:
            values = self.client.mget([self._key("vec", k) for k in unique])
        except redis.RedisError as exc:
            self._miss("the texts are embedded again", exc)
            return {}
        return {k: v if isinstance(v, bytes) else v.encode() for k, v in zip(unique, values) if v is not None}

    def cache_vectors(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Store (key, provider, model, dimensions, vector bytes, created_at, expires_at) rows, each for its TTL."""
        import redis

        try:
            with self.client.pipeline(transaction=False) as pipe:
                for key, _provider, _model, _dims, vector, created_at, expires_at in rows:
                    pipe.set(self._key("vec", key), vector, px=max(1, int((expires_at - created_at) * 1000)))
                pipe.execute()
        except redis.RedisError as exc:
            self._miss("the vectors were not cached", exc)

    # ------------------------------------------------------------------ housekeeping

    def cache_stats(self, now: float) -> dict[str, int]:
        import redis

        try:
            answers = list(self._scan("resp"))
            hits = 0
            if answers:
                with self.client.pipeline(transaction=False) as pipe:
                    for name in answers:
                        pipe.hget(name, "hits")
                    hits = sum(int(h) for h in pipe.execute() if h is not None)
            vectors = sum(1 for _ in self._scan("vec"))
        except redis.RedisError as exc:
            raise self._failed("count the cached entries", exc) from exc
        return {"responses": len(answers), "response_hits": hits, "embeddings": vectors}

    def clear_cache(self) -> int:
        """Remove every cached answer and vector (not the rate windows); how many went."""
        import redis

        removed = 0
        try:
            for kind in ("resp", "vec"):
                batch: list[bytes] = []
                for name in self._scan(kind):
                    batch.append(name)
                    if len(batch) >= 1000:
                        removed += int(self.client.unlink(*batch))
                        batch = []
                if batch:
                    removed += int(self.client.unlink(*batch))
        except redis.RedisError as exc:
            raise self._failed("clear the cache", exc) from exc
        return removed

    # ------------------------------------------------------------------ rate windows

    def count_request(self, key_id: str, limit: int, *, window: float = 60.0, now: float | None = None) -> float:
        """Count one request of `key_id` in its window, shared by every server on this Redis: 0.0 when it is one
        of the first `limit`, else the seconds until Redis expires the window (the Retry-After)."""
        import redis

        try:
            hits, left_ms = self._count(keys=[self._key("rate", key_id)], args=[max(1, int(window * 1000))])
        except redis.RedisError as exc:
            raise self._failed("count a request against its key's rate limit", exc) from exc
        return 0.0 if int(hits) <= limit else max(0.0, int(left_ms) / 1000)

    def ping(self) -> bool:
        import redis

        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        self.client.close()
