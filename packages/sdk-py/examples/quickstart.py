"""Create a timer, read it back, list the namespace, delete the timer."""

from __future__ import annotations

import asyncio

from timerclient import AsyncTimerClient, NotFound, TimerClient


def main(base_url: str = "http://127.0.0.1:8080") -> None:
    with TimerClient(base_url) as client:
        timer = client.create_timer(
            "shop",
            "cart-77-expiry",
            delay_seconds=3600,
            callback="https://shop.example/hooks/cart-expiry",
            payload={"cart": 77},
        )
        print(timer.status, timer.fire_at.isoformat())

        for pending in client.iter_timers("shop", status="scheduled"):
            print(pending.id, pending.fire_at)

        client.delete_timer("shop", "cart-77-expiry", expected_version=timer.version)
        try:
            client.get_timer("shop", "cart-77-expiry")
        except NotFound as error:
            print(error.code, error.details)


async def main_async(base_url: str = "http://127.0.0.1:8080") -> None:
    async with AsyncTimerClient(base_url) as client:
        timer = await client.create_timer(
            "shop",
            "cart-78-expiry",
            delay_seconds=3600,
            callback="https://shop.example/hooks/cart-expiry",
        )
        async for pending in client.iter_timers("shop", id_prefix="cart-"):
            print(pending.id, pending.version)

        await client.delete_timer("shop", timer.id)


if __name__ == "__main__":
    main()
    asyncio.run(main_async())
