"""`peek`, on both backends: answers what `take` would, and takes nothing."""

from __future__ import annotations

import asyncio

import pytest

from tests.gateway.ratelimit_backends import KINDS, Clock, backend_of, check


@pytest.mark.parametrize("kind", KINDS)
def test_peek_answers_like_take_and_takes_nothing(kind: str) -> None:
    async def main() -> None:
        clock = Clock()
        async with backend_of(kind, clock) as backend:
            rpm = check(backend, "requests", 2)
            slots = check(backend, "concurrent", 1)
            for _ in range(5):
                allowed, _ = await backend.peek([rpm, slots])
                assert allowed
            assert (await backend.take([rpm, slots], "a"))[0]
            allowed, (requests, running) = await backend.peek([rpm, slots])
            assert not allowed  # the one slot is taken
            assert requests.used == pytest.approx(1) and running.used == 1
            backend.give_back([rpm, slots], "a", 0)
            await backend.flush()
            assert (await backend.peek([rpm]))[0]
            assert (await backend.take([rpm], "b"))[0]
            allowed, (state,) = await backend.peek([rpm])
            assert not allowed and state.wait_seconds == pytest.approx(30.0)

    asyncio.run(main())
