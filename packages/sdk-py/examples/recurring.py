"""A recurring job: each callback runs the job and answers when to run it next.

One timer drives the whole series. Its callback's answer, built with
``reschedule``, fires it again after the interval with the next run's
payload; answering nothing ends the series.
"""

from __future__ import annotations

from collections.abc import Callable

from timerclient import Delivery, Reschedule, Timer, TimerClient, reschedule


def start_series(
    client: TimerClient, name: str, hook_url: str, interval_seconds: float
) -> Timer:
    return client.create_timer(
        "reports",
        f"series-{name}",
        delay_seconds=interval_seconds,
        callback=hook_url,
        payload={"run": 1},
    )


def make_on_delivery(
    run_job: Callable[[int], None], interval_seconds: float, last_run: int | None = None
) -> Callable[[Delivery], Reschedule | None]:
    """The receiver's function: run the job, then ask for the next firing."""

    def on_delivery(delivery: Delivery) -> Reschedule | None:
        run = int(delivery.payload["run"])
        run_job(run)
        if last_run is not None and run >= last_run:
            return None

        return reschedule(next_delay_seconds=interval_seconds, payload={"run": run + 1})

    return on_delivery


if __name__ == "__main__":
    import os

    from receiver import make_server
    from timerclient import WebhookReceiver

    def send_report(run: int) -> None:
        print(f"report number {run} sent")

    with TimerClient("http://127.0.0.1:8080") as client:
        start_series(client, "daily-sales", "http://127.0.0.1:8000/", 24 * 3600)

    on_delivery = make_on_delivery(send_report, interval_seconds=24 * 3600)
    receiver = WebhookReceiver(os.environ["TIMER_SIGNING_SECRET"])
    make_server(receiver, on_delivery).serve_forever()
