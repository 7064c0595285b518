"""Leases with owner tokens, on every store: only the holder renews or releases its lease.

The delivery pipeline's run claims (and flow control's slots and locks) are leases: a
holder that outlived its lease must never free or extend the lease a second holder took
meanwhile, and a live holder keeps its lease by renewing it before it runs out.
Kept beside test_contract.py (same `store`/`backend` fixtures, every backend).
"""

from __future__ import annotations

import asyncio

import pytest
from _state_backends import Backend

from motia.runner.state.base import StateStore


async def test_only_the_owner_releases_a_lease(store: StateStore) -> None:
    # Given a lease held by replica a
    assert await store.acquire_lease("run:ev1", 5, owner="a") is True
    # When replica b tries to release it, then replica a does
    assert await store.release_lease("run:ev1", "b") is False
    assert await store.acquire_lease("run:ev1", 5, owner="b") is False
    assert await store.release_lease("run:ev1", "a") is True
    # Then it is free for the next owner, and a second release by a changes nothing
    assert await store.release_lease("run:ev1", "a") is False
    assert await store.acquire_lease("run:ev1", 5, owner="b") is True


async def test_a_holder_whose_lease_expired_cannot_free_the_next_holders(
    store: StateStore,
) -> None:
    # Given a's lease ran out and b took it
    assert await store.acquire_lease("run:ev1", 0.2, owner="a") is True
    await asyncio.sleep(0.3)
    assert await store.acquire_lease("run:ev1", 5, owner="b") is True
    # When the slow first holder finishes and releases or renews "its" lease
    released = await store.release_lease("run:ev1", "a")
    renewed = await store.renew_lease("run:ev1", "a", 5)
    # Then neither touched b's lease
    assert (released, renewed) == (False, False)
    assert await store.acquire_lease("run:ev1", 5, owner="c") is False
    assert await store.release_lease("run:ev1", "b") is True


async def test_renewing_keeps_a_lease_past_its_first_ttl(store: StateStore) -> None:
    # Given a 0.3 s lease renewed every 0.1 s for 0.6 s
    assert await store.acquire_lease("slot", 0.3, owner="a") is True
    for _ in range(6):
        await asyncio.sleep(0.1)
        assert await store.renew_lease("slot", "a", 0.3) is True
    # Then nobody else could take it meanwhile
    assert await store.acquire_lease("slot", 0.3, owner="b") is False
    # And once renewals stop it expires within its TTL
    await asyncio.sleep(0.4)
    assert await store.renew_lease("slot", "a", 0.3) is False
    assert await store.acquire_lease("slot", 0.3, owner="b") is True


async def test_a_missing_lease_is_neither_renewed_nor_released(store: StateStore) -> None:
    assert await store.renew_lease("nobody", "a", 5) is False
    assert await store.release_lease("nobody", "a") is False
    assert await store.acquire_lease("nobody", 5, owner="a") is True


async def test_replicas_see_each_others_owner_tokens(backend: Backend) -> None:
    if not backend.shared:
        pytest.skip(f"{backend.kind} stores do not share data between instances")
    one, two = await backend.open(), await backend.open()
    assert await one.acquire_lease("run:x", 5, owner="one") is True
    assert await two.renew_lease("run:x", "two", 5) is False
    assert await two.release_lease("run:x", "two") is False
    assert await one.renew_lease("run:x", "one", 5) is True
    assert await one.release_lease("run:x", "one") is True
    assert await two.acquire_lease("run:x", 5, owner="two") is True


async def test_an_api_answer_is_kept_once_until_its_ttl(store: StateStore) -> None:
    # Given no answer for a key, then a first one saved
    assert await store.answer("charge:inv-1") is None
    first = {"status": 201, "body": {"id": "inv-1"}, "headers": {"x-a": "1"}}
    assert await store.save_answer("charge:inv-1", first, 0.3) is True
    # When a second answer is saved for the same key
    assert await store.save_answer("charge:inv-1", {"status": 500}, 0.3) is False
    # Then the first stays, until its TTL passes
    assert await store.answer("charge:inv-1") == first
    await asyncio.sleep(0.4)
    assert await store.answer("charge:inv-1") is None
