from __future__ import annotations

import re
from datetime import datetime, timedelta

from ._model import UTC, ceil_to_millis

# ASCII digits only: ``\d`` alone would also take other scripts' digits.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})",
    re.ASCII,
)


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 time with its offset into UTC, to the millisecond.

    :raises ValueError: if *text* is not an RFC 3339 date-time with an offset.
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError("must be an RFC 3339 time with an offset")

    fraction = match.group(1)
    finer = False
    if fraction and len(fraction) > 7:
        # datetime takes at most microseconds. Finer digits matter only to
        # round up: if any is not zero, the time is past the microsecond kept.
        finer = fraction[7:].strip("0") != ""
        text = text[: match.start(1) + 7] + text[match.end(1) :]

    try:
        moment = datetime.fromisoformat(text.upper().replace(" ", "T"))
        if finer:
            moment += timedelta(microseconds=1)

        return ceil_to_millis(moment.astimezone(UTC))
    except ValueError:
        raise ValueError("is not a valid calendar date and time") from None
    except OverflowError:
        raise ValueError("is out of the supported range of years") from None


def format_time(moment: datetime) -> str:
    """Format *moment* as UTC RFC 3339 with milliseconds and ``Z``."""
    text = _formatted.get(moment)
    if text is None:
        utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
        text = "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031 - fastest
            utc.year,
            utc.month,
            utc.day,
            utc.hour,
            utc.minute,
            utc.second,
            utc.microsecond // 1000,
        )
        if len(_formatted) >= _FORMATTED_KEPT:
            _formatted.clear()

        _formatted[moment] = text

    return text


# A timer's answer formats four times, and a batch's timers share most of
# them (created and updated at one instant, often one fire time): formatted
# once, looked up after. Equal datetimes are the same instant, so the key
# may be in any zone.
_formatted: dict[datetime, str] = {}
_FORMATTED_KEPT = 4096
