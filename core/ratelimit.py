"""Rate limits: how often one address or one account may sign in, sign up, post, vote or ask for mail.

A limit is counted before the work it guards (`take`), so that forty requests arriving together
cannot all pass a check that each of them made before any was counted; counts live in Redis when
REDIS_URL is set (so every web process shares them) and in this process's memory otherwise, or
while Redis fails: a limit never silently switches off. What the work did not use is given back
(`give_back`): a question refused as invalid does not count against the asker, and a sign-in
that succeeds does not count as a failed one.

Limits are written as `limits` strings ("5 per 5 minutes;50 per day") in app config, one per rule
(see LIMIT_SETTINGS); each rule counts per key (an address, an account id), hashed before storage.
Refusals are `RateLimited` errors, which say when to try again.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Flask, after_this_request, current_app, has_request_context, request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import FixedWindowRateLimiter

from core.errors import DomainError

log = logging.getLogger(__name__)

# rule -> (config key, the refusal; {wait} becomes "5 minutes")
LIMIT_SETTINGS = {
    "signin-address": ("PEERLINE_SIGNIN_LIMIT",
                       "Too many failed sign-ins from your network. Try again in {wait}."),
    "signin-account": ("PEERLINE_SIGNIN_ACCOUNT_LIMIT",
                       "Too many failed sign-ins for this account. Try again in {wait}, sign in on a device "
                       "you have used here before, or reset your password."),
    "signin-device": ("PEERLINE_SIGNIN_ACCOUNT_LIMIT",
                      "Too many failed sign-ins for this account on this device. Try again in {wait}, or "
                      "reset your password."),
    "signup": ("PEERLINE_SIGNUP_LIMIT", "Too many new accounts from your network. Try again in {wait}."),
    "reset-address": ("PEERLINE_RESET_LIMIT",
                      "Too many password-reset requests from your network. Try again in {wait}."),
    "reset-email": ("PEERLINE_RESET_EMAIL_LIMIT",
                    "Several reset links went to that address already. Try again in {wait}."),
    "question": ("PEERLINE_QUESTION_LIMIT",
                 "You have asked several questions in a short time. Try again in {wait}; "
                 "your text is still here."),
    "reply": ("PEERLINE_REPLY_LIMIT",
              "You have posted several answers in a short time. Try again in {wait}; "
              "your text is still here."),
    "preview": ("PEERLINE_PREVIEW_LIMIT",
                "You have asked for many previews in a short time. Try again in {wait}; "
                "your text is still here."),
    "upload": ("PEERLINE_UPLOAD_LIMIT", "You have attached many files in a short time. Try again in {wait}; "
                                        "your text is still here."),
    "vote": ("PEERLINE_VOTE_LIMIT", "You have voted many times in a short time. Try again in {wait}."),
    "flag": ("PEERLINE_FLAG_LIMIT", "You have flagged many posts in a short time. Try again in {wait}; "
                                    "moderators are looking at the ones you sent."),
    "feedback": ("PEERLINE_FEEDBACK_LIMIT",
                 "Thank you: we have many answers from your network already. Try again in {wait}."),
    "ask-opened": ("PEERLINE_ASK_OPENED_LIMIT", "Too many suggestions opened. Try again in {wait}."),
    "ask-opened-address": ("PEERLINE_ASK_OPENED_LIMIT",
                           "Too many suggestions opened from your network. Try again in {wait}."),
}
REDIS_RETRY_AFTER = 30.0  # seconds on the in-memory counts after Redis failed, before trying it again


class RateLimited(DomainError):
    """Too many attempts; `retry_after` says in how many seconds the limit lifts."""

    status_code = 429

    def __init__(self, message: str, retry_after: int, *, field: str | None = None):
        super().__init__(message, field=field)
        self.retry_after = retry_after


def wait_text(seconds: float) -> str:
    """'1 minute', '7 minutes', '3 hours': how long until a limit lifts, never less than a minute."""
    minutes = max(1, math.ceil(seconds / 60))
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = math.ceil(minutes / 60)
    return f"{hours} hours"


@dataclass
class Taken:
    """One counted attempt; `give_back()` un-counts it (once)."""

    limiter: Limiter
    items: list[RateLimitItem]
    identifiers: tuple[str, ...]
    returned: bool = False

    def give_back(self) -> None:
        if not self.returned:
            self.returned = True
            self.limiter._give_back(self.items, self.identifiers)


def _identifiers(rule: str, key: object) -> tuple[str, str]:
    """How a count is stored: the rule, and the key hashed (an address, a typed name: any text)."""
    return rule, hashlib.sha256(str(key).encode("utf-8", "replace")).hexdigest()[:32]


def _uncount(strategy, item: RateLimitItem, identifiers: tuple[str, ...]) -> None:
    """Take one attempt back off a window's count (the storages count up and down alike)."""
    strategy.storage.incr(item.key_for(*identifiers), item.get_expiry(), amount=-1)


class Limiter:
    """The app's counters: Redis when configured and answering, this process's memory otherwise."""

    def __init__(self, app: Flask):
        self.app = app
        self.memory = FixedWindowRateLimiter(MemoryStorage())
        url = app.config.get("REDIS_URL")
        self.redis = FixedWindowRateLimiter(RedisStorage(
            url, socket_timeout=2, socket_connect_timeout=2, key_prefix="peerline-limits")) if url else None
        self._redis_down_until = 0.0
        self._lock = threading.Lock()
        self._items: dict[str, list[RateLimitItem]] = {}

    def items(self, rule: str) -> list[RateLimitItem]:
        """The parsed limits of a rule, read from config once. Raises KeyError for an unknown rule,
        ValueError for a setting that is not a limit."""
        with self._lock:
            if rule not in self._items:
                setting = self.app.config[LIMIT_SETTINGS[rule][0]]
                try:
                    self._items[rule] = parse_many(setting)
                except ValueError as exc:
                    raise ValueError(f"{LIMIT_SETTINGS[rule][0]} is not a rate limit: {setting!r}") from exc
            return self._items[rule]

    def _run(self, operation):
        """operation(strategy) on Redis, or on memory when there is no Redis or it just failed."""
        if self.redis is not None and time.monotonic() >= self._redis_down_until:
            try:
                return operation(self.redis)
            except Exception:  # Redis unreachable: keep limiting, per process, rather than not at all
                log.warning("rate limits: Redis failed; counting in this process for %.0f s",
                            REDIS_RETRY_AFTER, exc_info=True)
                self._redis_down_until = time.monotonic() + REDIS_RETRY_AFTER
        return operation(self.memory)

    def take(self, rule: str, key: object, *, field: str | None = None) -> Taken:
        """Count one attempt of `rule` for `key`. Raises RateLimited (the attempt is not counted)."""
        items, identifiers = self.items(rule), _identifiers(rule, key)

        def attempt(strategy):
            counted, refused = [], None
            for item in items:
                if strategy.hit(item, *identifiers):
                    counted.append(item)
                    continue
                _uncount(strategy, item, identifiers)
                reset_at = strategy.get_window_stats(item, *identifiers).reset_time
                refused = max(refused or 0, reset_at - time.time())
            if refused is not None:
                for item in counted:
                    _uncount(strategy, item, identifiers)
            return refused

        refused = self._run(attempt)
        if refused is not None:
            retry_after = max(1, math.ceil(refused))
            if has_request_context():  # whatever page the refusal ends up on says when to come back
                after_this_request(lambda response: _with_retry_after(response, retry_after))
            message = LIMIT_SETTINGS[rule][1].format(wait=wait_text(refused))
            raise RateLimited(message, retry_after=retry_after, field=field)
        return Taken(self, items, identifiers)

    def _give_back(self, items: list[RateLimitItem], identifiers: tuple[str, ...]) -> None:
        def refund(strategy):
            for item in items:
                if strategy.storage.get(item.key_for(*identifiers)) > 0:
                    _uncount(strategy, item, identifiers)

        self._run(refund)

    def clear(self, rule: str, key: object) -> None:
        """Forget every counted attempt of `rule` for `key` (a proven owner lifts their lock)."""
        identifiers = _identifiers(rule, key)

        def forget(strategy):
            for item in self.items(rule):
                strategy.clear(item, *identifiers)

        self._run(forget)


def _with_retry_after(response, seconds: int):
    if response.status_code == 429:
        response.headers["Retry-After"] = str(seconds)
    return response


def limiter(app: Flask | None = None) -> Limiter:
    return (app or current_app).extensions["peerline_limiter"]


def take(rule: str, key: object, *, field: str | None = None) -> Taken:
    """Count one attempt (see Limiter.take). Raises RateLimited."""
    return limiter().take(rule, key, field=field)


def take_all(*attempts: tuple[str, object]) -> list[Taken]:
    """Count several (rule, key) attempts, all or none. Raises RateLimited."""
    taken: list[Taken] = []
    try:
        for rule, key in attempts:
            taken.append(take(rule, key))
    except RateLimited:
        for counted in taken:
            counted.give_back()
        raise
    return taken


def clear(rule: str, key: object) -> None:
    limiter().clear(rule, key)


@contextmanager
def charge(rule: str, key: object, *, exempt: bool = False, field: str | None = None,
           give_back_on: type[BaseException] | tuple = BaseException) -> Iterator[None]:
    """Count one attempt for the work in the block, given back if the work raises `give_back_on`
    (a refused question saved nothing, so it does not count). Raises RateLimited before the block."""
    if exempt:
        yield
        return
    taken = take(rule, key, field=field)
    try:
        yield
    except give_back_on:
        taken.give_back()
        raise


def client_address() -> str:
    """The address a request came from (after the proxies PEERLINE_PROXY_COUNT trusts), as limits
    count it: an IPv6 address as its /64 network, which one subscriber usually holds whole and
    could otherwise walk through to get a fresh count with every request."""
    address = request.remote_addr or "unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 4:
        return str(parsed)
    if parsed.ipv4_mapped:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.ip_network(f"{parsed}/64", strict=False))


def init_app(app: Flask) -> None:
    """Give the app its counters; every rule's setting is checked now, so a typo fails at start."""
    app.extensions["peerline_limiter"] = found = Limiter(app)
    for rule in LIMIT_SETTINGS:
        found.items(rule)
