"""One beat at a time: a second beat started by mistake refuses to start.

Beat holds a lock while it runs and refreshes it on every tick. On Redis the lock is a key set
with NX and an expiry (a beat that dies without releasing it frees it after four refresh
intervals); on the serverless default it is an exclusive `flock` on a file beside the broker
database (the kernel frees it when the process dies). Duplicate sends would be harmless anyway (a
trading date's run is stored once, by its database key); the lock keeps them from happening.
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import socket
import uuid
from pathlib import Path
from typing import Any, Protocol

import redis
from celery.beat import PersistentScheduler

from quality_service.celery_app import refuse_unsafe_production_settings
from quality_service.settings import CelerySettings, get_celery_settings

log = logging.getLogger(__name__)

_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"
_REFRESH = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)


class BeatLockHeld(RuntimeError):
    """Another beat holds the lock."""


class BeatLock(Protocol):
    def acquire(self) -> None: ...
    def refresh(self) -> bool: ...
    def release(self) -> None: ...


class RedisBeatLock:
    """`SET key token NX PX ttl`, refreshed and released only by the token's owner."""

    def __init__(self, url: str, key: str, ttl_s: int) -> None:
        self.client = redis.Redis.from_url(url)
        self.key = key
        self.ttl_ms = ttl_s * 1000
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def acquire(self) -> None:
        if not self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):
            holder = self.client.get(self.key)
            raise BeatLockHeld(f"another beat holds {self.key} ({holder!r})")

    def refresh(self) -> bool:
        return bool(self.client.eval(_REFRESH, 1, self.key, self.token, self.ttl_ms))

    def release(self) -> None:
        self.client.eval(_RELEASE, 1, self.key, self.token)
        self.client.close()


class FileBeatLock:
    """An exclusive, non-blocking `flock` held for the life of the process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise BeatLockHeld(f"another beat holds {self.path}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{socket.gethostname()}:{os.getpid()}\n".encode())
        self.fd = fd

    def refresh(self) -> bool:
        return self.fd is not None

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def beat_lock(settings: CelerySettings) -> BeatLock:
    """The lock that fits the broker: a Redis key, or a file beside the SQLite broker."""
    url = settings.broker_url
    if url.startswith(("redis://", "rediss://")):
        key = f"optrade:quality:beat-lock:{settings.queue}"
        return RedisBeatLock(url, key, ttl_s=4 * settings.beat_lock_refresh_seconds)
    path = url.split(":///", 1)[1] if ":///" in url else "./data/celery-broker.db"
    return FileBeatLock(Path(f"{path}.{settings.queue}.beat-lock"))


class LockedScheduler(PersistentScheduler):
    """Celery's persistent scheduler, run only while this beat holds the beat lock."""

    lock: BeatLock | None = None

    def setup_schedule(self) -> None:
        refuse_unsafe_production_settings()  # before taking the lock a refused beat would hold
        self.lock = beat_lock(get_celery_settings())
        try:
            self.lock.acquire()
        except BeatLockHeld as exc:
            log.error("refusing to start a second beat: %s", exc)
            raise SystemExit(3) from exc
        atexit.register(self.close_lock)  # also when beat exits before its service loop
        log.info("beat lock acquired")
        super().setup_schedule()

    def close_lock(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if self.lock is not None and not self.lock.refresh():
            log.error("beat lost its lock (another beat took over): stopping")
            raise SystemExit(3)
        return float(super().tick(*args, **kwargs))

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.close_lock()
