"""Properties of the input the kernel reads: times, identifiers and page tokens.

Hypothesis generates the input. The examples are derandomized, so a run on
CI sees the same ones as a run here, and bounded, so the file takes seconds.
"""

from __future__ import annotations

import base64
import json
import re
import string
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kernel_harness import START, spec
from timerkernel import (
    InvalidArgument,
    Kernel,
    ManualClock,
    MemoryStore,
    TimerQuery,
    TimerSpec,
    TimerStatus,
    format_time,
    parse_time,
    parse_timer_spec,
)
from timerkernel._kernel import (
    _decode_page_token,
    _encode_page_token,
    _query_fingerprint,
)
from timerkernel._parsing import check_namespace, check_timer_id

PROPERTIES = settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
# The contract's output form, written out here rather than taken from the code.
CONTRACT_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z"
)
FIRST = datetime(1, 1, 2, tzinfo=UTC)
T = TypeVar("T")


def outcome(function: Callable[..., T], *args: Any, **kwargs: Any) -> T | Exception:
    """What *function* returns, or the exception it raises, to look at after."""
    try:
        return function(*args, **kwargs)
    except Exception as exc:
        return exc


LAST = datetime(9999, 12, 30, tzinfo=UTC)

# Whole-minute offsets: RFC 3339 has no seconds in an offset.
offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
instants = st.datetimes(
    min_value=FIRST.replace(tzinfo=None),
    max_value=LAST.replace(tzinfo=None),
    timezones=st.just(UTC),
)
millisecond_instants = instants.map(
    lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000)
)
# Text shaped like a time, with each part drawn from digits and look-alikes,
# so that most of it gets past the pattern and reaches the calendar checks.
digits = st.sampled_from("0123456789")
odd_digits = st.sampled_from("0123456789١٢３²")
near_times = st.tuples(
    st.text(odd_digits, min_size=4, max_size=5),
    st.just("-"),
    st.text(digits, min_size=2, max_size=2),
    st.just("-"),
    st.text(digits, min_size=2, max_size=2),
    st.sampled_from(["T", "t", " ", "_"]),
    st.text(digits, min_size=2, max_size=2),
    st.just(":"),
    st.text(digits, min_size=2, max_size=2),
    st.just(":"),
    st.text(digits, min_size=2, max_size=2),
    st.one_of(st.just(""), st.text(digits, max_size=12).map(lambda f: "." + f)),
    st.one_of(
        st.sampled_from(["Z", "z", "", "+", "UTC"]),
        st.tuples(st.sampled_from("+-"), st.text(digits, min_size=2, max_size=2)).map(
            lambda p: f"{p[0]}{p[1]}:{p[1]}"
        ),
    ),
).map("".join)


class TestTimes:
    @PROPERTIES
    @given(millisecond_instants)
    def test_formatted_time_parses_back_to_itself(self, moment: datetime) -> None:
        text = format_time(moment)

        assert CONTRACT_TIME.fullmatch(text), text
        assert parse_time(text) == moment

    @PROPERTIES
    @given(instants, offsets)
    def test_any_offset_parses_to_the_same_instant_rounded_up(
        self, moment: datetime, offset: timezone
    ) -> None:
        text = moment.astimezone(offset).isoformat()

        parsed = parse_time(text)

        assert parsed.tzinfo is UTC
        assert parsed.microsecond % 1000 == 0
        assert moment <= parsed < moment + timedelta(milliseconds=1)

    @PROPERTIES
    @given(st.one_of(near_times, st.text(max_size=40)))
    @example("2026-02-29T00:00:00Z")
    @example("9999-12-31T23:59:59.9999Z")
    @example("0001-01-01T00:00:00+00:01")
    @example("２０２６-12-03T10:00:00Z")
    def test_malformed_time_raises_only_value_error(self, text: str) -> None:
        parsed = outcome(parse_time, text)

        if isinstance(parsed, Exception):
            assert type(parsed) is ValueError, repr(parsed)
            assert str(parsed)
            return

        # Accepted: then it was a real RFC 3339 time, in ASCII digits.
        assert text.isascii()
        assert parsed.tzinfo is UTC
        assert parse_time(format_time(parsed)) == parsed

    def test_digits_of_other_scripts_are_refused_as_not_rfc_3339(self) -> None:
        with pytest.raises(ValueError, match="RFC 3339"):
            parse_time("２０２６-12-03T10:00:00Z")


NAMESPACE_FIRST = string.ascii_lowercase + string.digits
NAMESPACE_REST = NAMESPACE_FIRST + "_-"
ID_FIRST = string.ascii_letters + string.digits
ID_REST = ID_FIRST + "._:@-"


def is_namespace(text: str) -> bool:
    """The contract's namespace rule, written out without a regular expression."""
    return (
        1 <= len(text) <= 64
        and text[0] in NAMESPACE_FIRST
        and all(c in NAMESPACE_REST for c in text[1:])
    )


def is_timer_id(text: str) -> bool:
    """The contract's timer id rule, written out without a regular expression."""
    return (
        1 <= len(text) <= 255
        and text[0] in ID_FIRST
        and all(c in ID_REST for c in text[1:])
    )


def accepted(check: object, text: str) -> bool:
    assert callable(check)
    try:
        check(text)
    except InvalidArgument:
        return False

    return True


# Mostly the characters that matter, with a few others, a trailing newline
# (which a lax "$" would let through) and lengths around the limits.
def around_the_limit(first: str, rest: str, limit: int) -> st.SearchStrategy[str]:
    """Valid-looking text from one character short of *limit* to two past it."""
    return st.tuples(
        st.sampled_from(first),
        st.text(st.sampled_from(rest), min_size=limit - 2, max_size=limit + 1),
    ).map("".join)


namespace_texts = st.one_of(
    st.text(st.sampled_from(NAMESPACE_REST + "A.é\n "), max_size=10),
    st.text(max_size=10),
    around_the_limit(NAMESPACE_FIRST, NAMESPACE_REST, 64),
)
id_texts = st.one_of(
    st.text(st.sampled_from(ID_REST + "/ é\n\x00"), max_size=10),
    st.text(max_size=10),
    around_the_limit(ID_FIRST, ID_REST, 255),
)


class TestIdentifiers:
    @PROPERTIES
    @given(namespace_texts)
    @example("a\n")
    @example("ａ")
    def test_namespace_is_accepted_exactly_when_the_contract_allows_it(
        self, text: str
    ) -> None:
        assert accepted(check_namespace, text) == is_namespace(text)

    @PROPERTIES
    @given(id_texts)
    @example("a\n")
    @example("t\x00")
    def test_timer_id_is_accepted_exactly_when_the_contract_allows_it(
        self, text: str
    ) -> None:
        assert accepted(check_timer_id, text) == is_timer_id(text)

    @PROPERTIES
    @given(id_texts)
    def test_create_names_the_id_exactly_when_it_is_invalid(self, text: str) -> None:
        data = {
            "id": text,
            "fire_at": "2030-01-01T00:00:00Z",
            "callback": {"url": "https://target.example/hook"},
        }

        parsed = outcome(parse_timer_spec, data, max_payload_bytes=1024)

        if isinstance(parsed, InvalidArgument):
            assert [error.field for error in parsed.fields] == ["id"]

        assert isinstance(parsed, TimerSpec) == is_timer_id(text)


def token_of(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def is_representable(millis: int) -> bool:
    """Whether *millis* after the epoch is a time that datetime can hold."""
    try:
        datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)
    except OverflowError:
        return False

    return True


queries = st.builds(
    TimerQuery,
    statuses=st.frozensets(st.sampled_from(list(TimerStatus))),
    fire_after=st.none() | millisecond_instants,
    fire_before=st.none() | millisecond_instants,
    id_prefix=st.none() | st.text(st.sampled_from(ID_REST), min_size=1, max_size=5),
)
namespaces = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True)
timer_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,30}", fullmatch=True)
# What a client could put in a token: any JSON, or bytes that are none.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner),
    max_leaves=12,
)
forged_payloads = st.one_of(
    st.binary(max_size=64),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.tuples(st.integers(), st.text(max_size=20), st.text(max_size=14)).map(
        lambda parts: json.dumps(list(parts)).encode()
    ),
    st.sampled_from([1_000, 50_000]).map(lambda depth: b"[" * depth),
)


class TestPageTokens:
    @PROPERTIES
    @given(namespaces, queries, millisecond_instants, timer_ids)
    def test_token_decodes_to_the_position_it_was_made_for(
        self, namespace: str, query: TimerQuery, fire_at: datetime, timer_id: str
    ) -> None:
        fingerprint = _query_fingerprint(namespace, query)

        token = _encode_page_token(fire_at, timer_id, fingerprint)

        assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
        assert _decode_page_token(token, fingerprint) == (fire_at, timer_id)

    @PROPERTIES
    @given(namespaces, namespaces, queries, millisecond_instants, timer_ids)
    def test_token_of_one_namespace_is_refused_in_another(
        self,
        first: str,
        second: str,
        query: TimerQuery,
        fire_at: datetime,
        timer_id: str,
    ) -> None:
        token = _encode_page_token(fire_at, timer_id, _query_fingerprint(first, query))

        if first == second:
            assert _decode_page_token(token, _query_fingerprint(second, query))
        else:
            with pytest.raises(InvalidArgument):
                _decode_page_token(token, _query_fingerprint(second, query))

    @PROPERTIES
    @given(st.one_of(forged_payloads.map(token_of), st.text(max_size=60)))
    @example(token_of(json.dumps([0, "\ud800", "x"]).encode()))
    def test_corrupt_token_is_refused_with_invalid_argument(self, token: str) -> None:
        fingerprint = _query_fingerprint("ns", TimerQuery())

        decoded = outcome(_decode_page_token, token, fingerprint)

        if isinstance(decoded, Exception):
            assert isinstance(decoded, InvalidArgument), repr(decoded)
            assert [error.field for error in decoded.fields] == ["page_token"]
        else:
            # Only a token that names a real position of this query decodes.
            fire_at, timer_id = decoded
            assert is_timer_id(timer_id)
            assert fire_at.tzinfo is not None

    # Outside Hypothesis, which raises the recursion limit while it runs. The
    # server takes tokens of up to 2048 characters: 1536 bytes decoded.
    @pytest.mark.parametrize("depth", [1_536, 50_000])
    def test_deeply_nested_token_is_refused(self, depth: int) -> None:
        with pytest.raises(InvalidArgument):
            _decode_page_token(token_of(b"[" * depth), "fingerprint")

    @PROPERTIES
    @given(
        st.integers(min_value=-(10**16), max_value=10**16),
        st.text(min_size=1, max_size=20),
    )
    @example(0, "\ud800")
    @example(0, "a\x00b")
    def test_forged_position_with_the_right_fingerprint_keeps_to_valid_ids(
        self, fire_millis: int, timer_id: str
    ) -> None:
        fingerprint = _query_fingerprint("ns", TimerQuery())
        token = token_of(json.dumps([fire_millis, timer_id, fingerprint]).encode())

        try:
            _, decoded_id = _decode_page_token(token, fingerprint)
        except InvalidArgument:
            assert not is_timer_id(timer_id) or not is_representable(fire_millis)
            return

        assert decoded_id == timer_id
        assert is_timer_id(timer_id)


@pytest.fixture
async def two_namespaces() -> Kernel:
    """A kernel whose store holds timers in namespaces "alpha" and "beta"."""
    kernel = Kernel(MemoryStore(), clock=ManualClock(START))
    await kernel.initialize()
    for namespace, count in (("alpha", 7), ("beta", 5)):
        await kernel.create_timers(
            namespace,
            [spec(f"t{n}", fire_at=START + timedelta(seconds=n)) for n in range(count)],
        )

    return kernel


@pytest.mark.anyio
class TestPageTokensInTheKernel:
    async def test_token_from_another_namespace_is_refused(
        self, two_namespaces: Kernel
    ) -> None:
        page = await two_namespaces.list_timers("alpha", TimerQuery(limit=2))
        assert page.next_page_token is not None

        with pytest.raises(InvalidArgument):
            await two_namespaces.list_timers(
                "beta", TimerQuery(limit=2), page.next_page_token
            )

    @PROPERTIES
    @given(
        position=st.integers(min_value=-2, max_value=10),
        timer_id=timer_ids,
        limit=st.integers(min_value=1, max_value=10),
    )
    async def test_forged_token_yields_only_the_namespace_of_the_path(
        self, two_namespaces: Kernel, position: int, timer_id: str, limit: int
    ) -> None:
        # The fingerprint is public knowledge: anyone can forge a token for
        # any position. What it may never do is reach another namespace.
        fire_at = START + timedelta(seconds=position)
        token = _encode_page_token(
            fire_at, timer_id, _query_fingerprint("beta", TimerQuery())
        )

        page = await two_namespaces.list_timers("beta", TimerQuery(limit=limit), token)

        assert all(timer.namespace == "beta" for timer in page.timers)
        assert all((t.fire_at, t.id) > (fire_at, timer_id) for t in page.timers)
