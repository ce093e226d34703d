"""Where the test suite finds PostgreSQL, Redis and Chromium, and what it does without them.

On a machine without a service, tests that need it skip with the reason. With
PEERLINE_REQUIRE_SERVICES=1 (as .ci/run sets) a missing service fails the run.
"""

import os
import shutil
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

REQUIRE_SERVICES = os.environ.get("PEERLINE_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get(
    "PEERLINE_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def worker_index() -> int:
    """This process's number under pytest-xdist (gw0 is 0, gw1 is 1, ...); 0 without xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker.removeprefix("gw")) if worker.startswith("gw") else 0


def redis_url_for_worker(url: str, index: int) -> str:
    """The Redis database of xdist worker `index`: the base URL's database number plus the index
    (redis://host:6379/10 gives gw0 database 10 and gw1 database 11), so that workers never flush
    each other's queues. Redis has databases 0 to 15 unless configured otherwise."""
    if index == 0:
        return url
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{base + index}"))


REDIS_URL = redis_url_for_worker(
    os.environ.get("PEERLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/14"), worker_index())
CHROMIUM = os.environ.get("PEERLINE_CHROMIUM", "/usr/bin/chromium")
# The shared community data sits beside the repository (../shared/data); it is never copied in.
SHARED_DATA = Path(os.environ.get(
    "PEERLINE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
COFFEE_DUMP = SHARED_DATA / "coffee-stackexchange"


def require_coffee_dump() -> Path:
    """The coffee.stackexchange.com sample folder; skips (fails in CI) without it."""
    require((COFFEE_DUMP / "Posts.xml").is_file(), f"the Stack Exchange sample is not at {COFFEE_DUMP}")
    return COFFEE_DUMP


def require(available: bool, reason: str) -> None:
    """Skip (or, in CI, fail) the current test when a service is missing."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (PEERLINE_REQUIRE_SERVICES=1, so this fails instead of skipping)")
    pytest.skip(reason)


@cache
def postgres_available() -> bool:
    try:
        import psycopg
    except ImportError:
        return False
    url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error:
        return False
    return True


@cache
def redis_available() -> bool:
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        return bool(Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except RedisError:
        return False


def chromium_available() -> bool:
    return bool(shutil.which(CHROMIUM) or os.path.exists(CHROMIUM))
