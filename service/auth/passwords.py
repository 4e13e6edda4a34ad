"""Argon2id password hashing, run off the event loop in a bounded thread pool."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from service.config import Settings
from service.errors import ApiError


class PasswordHasher:
    """Hash and verify passwords without blocking the loop.

    At most `hash_workers` hashes run at once and at most `hash_queue` wait; past
    that a login is refused with 503 rather than queueing without bound, so a
    flood of password guesses cannot starve API-key traffic or exhaust memory.
    """

    def __init__(self, settings: Settings) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost,
            parallelism=settings.argon2_parallelism,
            type=argon2.Type.ID,
        )
        self._executor = ThreadPoolExecutor(
            max_workers=settings.hash_workers, thread_name_prefix="argon2"
        )
        self._slots = asyncio.BoundedSemaphore(settings.hash_workers + settings.hash_queue)
        # Verified against when a username is unknown, so both cases cost the same.
        self._dummy_hash = self._hasher.hash("not a real password, only for timing")

    async def _run(self, func, *args):
        if self._slots.locked():
            raise ApiError(503, "service_unavailable", "Too many logins at once; try again.",
                           headers={"Retry-After": "1"})
        async with self._slots:
            return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when `password` matches; with no hash, spend the same time and say False."""
        return await self._run(self._verify, password_hash, password)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            self._hasher.verify(password_hash or self._dummy_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
