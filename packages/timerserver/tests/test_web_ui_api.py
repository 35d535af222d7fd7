"""The routes beyond the contract that the web UI reads: events, export, activity."""

from __future__ import annotations

import csv
import io
import json
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from blackbox import (
    Api,
    Receiver,
    ServerFactory,
    ServerProcess,
    error_of,
    in_seconds,
    iso,
    namespace_for,
    timer_body,
    timers_path,
)

EVENT_TIMEOUT = 10.0


class EventStream:
    """Reads a namespace's server-sent events in a thread of its own."""

    def __init__(self, server: ServerProcess, namespace: str) -> None:
        self.url = f"{server.base_url}/api/v1/namespaces/{namespace}/events"
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.headers: httpx.Headers | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> EventStream:
        self._thread.start()
        kind, _ = self.next()
        assert kind == "ready"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=EVENT_TIMEOUT)

    def _read(self) -> None:
        # The read timeout wakes the loop to see whether the test is done.
        timeout = httpx.Timeout(10.0, read=0.5)
        with (
            httpx.Client(timeout=timeout) as client,
            client.stream("GET", self.url) as response,
        ):
            self.headers = response.headers
            kind, data = "message", ""
            lines = response.iter_lines()
            while not self._stop.is_set():
                try:
                    line = next(lines)
                except httpx.ReadTimeout:
                    lines = response.iter_lines()
                    continue
                except (StopIteration, httpx.HTTPError):
                    self.events.put(("closed", None))
                    return

                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    data = line.removeprefix("data: ")
                elif not line and data:
                    self.events.put((kind, json.loads(data)))
                    kind, data = "message", ""

    def next(self) -> tuple[str, Any]:
        return self.events.get(timeout=EVENT_TIMEOUT)

    def until(self, kind: str, timer_id: str) -> dict[str, Any]:
        """The next event of *kind* for *timer_id*, skipping others."""
        deadline = time.monotonic() + EVENT_TIMEOUT
        while time.monotonic() < deadline:
            seen, data = self.events.get(timeout=max(deadline - time.monotonic(), 0))
            if seen == kind and data["timer"]["id"] == timer_id:
                return dict(data)

        raise AssertionError(f"no {kind} event for {timer_id}")


@pytest.fixture
def events(server: ServerProcess, ns: str) -> Iterator[EventStream]:
    with EventStream(server, ns) as stream:
        yield stream


class TestEvents:
    def test_changes_through_the_api_are_streamed_in_order(
        self, api: Api, events: EventStream, receiver: Receiver
    ) -> None:
        api.created(timer_body("watched", receiver.url()))
        assert api.patch("watched", {"payload": {"step": 2}}).status_code == 200
        assert api.delete("watched").status_code == 204

        kinds = [events.next() for _ in range(3)]

        assert [kind for kind, _ in kinds] == ["created", "updated", "deleted"]
        assert [data["kind"] for _, data in kinds] == ["created", "updated", "deleted"]
        assert kinds[1][1]["timer"]["payload"] == {"step": 2}
        assert kinds[1][1]["timer"]["version"] == 2
        assert events.headers is not None
        assert events.headers["content-type"].startswith("text/event-stream")

    def test_a_delivery_is_streamed_with_the_timer_after_it(
        self, api: Api, events: EventStream, receiver: Receiver
    ) -> None:
        api.created(timer_body("due", receiver.url("/due"), delay_seconds=0))

        delivered = events.until("delivered", "due")

        assert delivered["timer"]["status"] == "succeeded"
        assert delivered["timer"]["attempts"] == 1

    def test_other_namespaces_are_not_streamed(
        self, client: httpx.Client, api: Api, events: EventStream, receiver: Receiver
    ) -> None:
        other = namespace_for("another namespace of the events test")
        body = timer_body("elsewhere", receiver.url())
        assert client.post(timers_path(other), json=body).status_code == 201
        api.created(timer_body("here", receiver.url()))

        kind, data = events.next()

        assert (kind, data["timer"]["id"]) == ("created", "here")

    def test_the_stream_ends_when_the_server_stops(
        self, server_factory: ServerFactory
    ) -> None:
        own = server_factory()
        with EventStream(own, "stopping") as stream:
            started = time.monotonic()
            own.stop()

            kind, _ = stream.next()

        assert kind == "closed"
        assert time.monotonic() - started < EVENT_TIMEOUT

    @pytest.mark.parametrize(
        ("path", "field"),
        [
            pytest.param("/api/v1/namespaces/Bad%20Name/events", "namespace", id="ns"),
            pytest.param("/api/v1/namespaces/fine/events?since=1", "since", id="param"),
        ],
    )
    def test_bad_requests_are_refused_before_streaming(
        self, client: httpx.Client, path: str, field: str
    ) -> None:
        error = error_of(client.get(path), 400, "invalid_argument")

        assert [item["field"] for item in error["details"]["fields"]] == [field]


def export(api: Api, **params: Any) -> httpx.Response:
    return api.client.get(f"{timers_path(api.ns)}:export", params=params)


class TestExport:
    def test_csv_has_a_header_and_a_row_per_timer_in_fire_order(
        self, api: Api, receiver: Receiver
    ) -> None:
        payload = {"note": 'a "quoted", comma\nand a new line'}
        api.created(timer_body("b", receiver.url(), fire_at=in_seconds(7200)))
        api.created(
            timer_body("a", receiver.url(), fire_at=in_seconds(3600), payload=payload)
        )

        response = export(api, format="csv")

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert response.headers["content-disposition"] == (
            f'attachment; filename="{api.ns}-timers.csv"'
        )
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert [row["id"] for row in rows] == ["a", "b"]
        first = api.timer("a")
        assert rows[0] == {
            "namespace": api.ns,
            "id": "a",
            "status": "scheduled",
            "fire_at": first["fire_at"],
            "callback_url": receiver.url(),
            "attempts": "0",
            "next_attempt_at": first["next_attempt_at"] or "",
            "executed_at": "",
            "version": "1",
            "created_at": first["created_at"],
            "updated_at": first["updated_at"],
            "payload": json.dumps(payload, separators=(",", ":")),
        }

    def test_json_is_the_timers_as_the_api_returns_them(
        self, api: Api, receiver: Receiver
    ) -> None:
        for index in range(3):
            api.created(timer_body(f"t{index}", receiver.url()))

        response = export(api)

        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == api.all_timers()

    def test_filters_are_those_of_the_list(self, api: Api, receiver: Receiver) -> None:
        api.created(timer_body("keep-1", receiver.url(), fire_at=in_seconds(3600)))
        api.created(timer_body("keep-2", receiver.url(), fire_at=in_seconds(9000)))
        api.created(timer_body("drop-1", receiver.url(), fire_at=in_seconds(3600)))

        response = export(
            api,
            id_prefix="keep-",
            fire_before=iso(in_seconds(7200)),
            status="scheduled",
        )

        assert [timer["id"] for timer in response.json()] == ["keep-1"]

    def test_an_export_with_nothing_to_show_is_empty(self, api: Api) -> None:
        assert export(api).json() == []
        assert export(api, format="csv").text.splitlines() == [
            "namespace,id,status,fire_at,callback_url,attempts,next_attempt_at,"
            "executed_at,version,created_at,updated_at,payload"
        ]

    def test_an_export_of_several_pages_holds_every_timer(
        self, api: Api, receiver: Receiver
    ) -> None:
        for batch in range(3):
            items = [
                timer_body(f"bulk-{batch}-{index:04d}", receiver.url())
                for index in range(1000)
            ]
            assert api.batch(items).status_code == 200

        ids = [timer["id"] for timer in export(api).json()]
        rows = list(csv.DictReader(io.StringIO(export(api, format="csv").text)))

        assert len(ids) == len(set(ids)) == 3000
        assert sorted(row["id"] for row in rows) == sorted(ids)

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            pytest.param({"format": "xml"}, "format", id="format"),
            pytest.param({"limit": "5"}, "limit", id="limit"),
            pytest.param({"status": "late"}, "status", id="status"),
        ],
    )
    def test_bad_parameters_are_refused(
        self, api: Api, params: dict[str, str], field: str
    ) -> None:
        error = error_of(export(api, **params), 400, "invalid_argument")

        assert [item["field"] for item in error["details"]["fields"]] == [field]


def activity(client: httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/activity", params=params)
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def wait_for_activity(
    client: httpx.Client, ns: str, kind: str, expected: int
) -> dict[str, Any]:
    # The second under way is reported once it is over.
    deadline = time.monotonic() + EVENT_TIMEOUT
    while True:
        report = activity(client, namespace=ns, seconds=60)
        if sum(report[kind]) >= expected or time.monotonic() > deadline:
            return report

        time.sleep(0.2)


class TestActivity:
    def test_creations_and_deliveries_are_counted_per_second(
        self, client: httpx.Client, api: Api, receiver: Receiver
    ) -> None:
        for index in range(3):
            api.created(timer_body(f"later-{index}", receiver.url()))
        api.created(timer_body("now", receiver.url("/now"), delay_seconds=0))
        receiver.wait_for(1, "/now")

        report = wait_for_activity(client, api.ns, "delivered", 1)
        report = wait_for_activity(client, api.ns, "created", 4)

        assert report["step_seconds"] == 1
        assert len(report["created"]) == len(report["delivered"]) == 60
        assert sum(report["created"]) == 4
        assert sum(report["delivered"]) == 1
        assert sum(report["failed"]) == 0

    def test_a_namespace_without_activity_reads_as_zeros(
        self, client: httpx.Client
    ) -> None:
        report = activity(client, namespace="quiet-namespace", seconds=5)

        assert report["created"] == report["delivered"] == report["failed"] == [0] * 5

    def test_all_namespaces_count_at_least_one_namespace(
        self, client: httpx.Client, api: Api, receiver: Receiver
    ) -> None:
        api.created(timer_body("counted", receiver.url()))
        own = wait_for_activity(client, api.ns, "created", 1)

        total = activity(client, seconds=60)

        assert sum(total["created"]) >= sum(own["created"]) == 1

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            pytest.param({"seconds": "0"}, "seconds", id="too-few"),
            pytest.param({"seconds": "901"}, "seconds", id="too-many"),
            pytest.param({"seconds": "1.5"}, "seconds", id="fraction"),
            pytest.param({"namespace": "Not Valid"}, "namespace", id="namespace"),
            pytest.param({"window": "5"}, "window", id="unknown"),
        ],
    )
    def test_bad_parameters_are_refused(
        self, client: httpx.Client, params: dict[str, str], field: str
    ) -> None:
        response = client.get("/api/v1/activity", params=params)

        error = error_of(response, 400, "invalid_argument")
        assert [item["field"] for item in error["details"]["fields"]] == [field]


class TestPages:
    def test_home_page_is_html(self, client: httpx.Client) -> None:
        response = client.get("/")

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")

    def test_a_missing_asset_is_a_404_in_the_error_model(
        self, client: httpx.Client
    ) -> None:
        error_of(client.get("/ui/no-such-asset.js"), 404, "not_found")
