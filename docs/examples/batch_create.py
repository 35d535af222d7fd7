"""Many timers in one request, with the Python SDK: the end of each trial.

One ``batch_create_timers`` call takes up to 1,000 timers. The batch is not
atomic: each item is judged as a single create would be, so the caller
reads each result. Sending the same batch again is safe, since the ids
deduplicate the creates.
"""

from __future__ import annotations

from timerclient import BatchResult, TimerClient, TimerSpec

TRIAL_SECONDS = 14 * 24 * 3600


def schedule_trial_ends(
    client: TimerClient, accounts: list[int], hook_url: str
) -> list[BatchResult]:
    specs = [
        TimerSpec(
            f"trial-{account}-ends",
            callback=hook_url,
            delay_seconds=TRIAL_SECONDS,
            payload={"account": account},
        )
        for account in accounts
    ]
    results = client.batch_create_timers("trials", specs)

    for spec, result in zip(specs, results, strict=True):
        if result.ok:
            # 201: created now; 200: the same timer was created before.
            print(spec.id, result.status)
        else:
            # 409 already_exists, 400 invalid_argument, ...: this item only.
            print(spec.id, result.status, result.error)

    return results


if __name__ == "__main__":
    with TimerClient("http://127.0.0.1:8080") as client:
        schedule_trial_ends(client, [1, 2, 3], "https://crm.example/hooks/trial-ends")
