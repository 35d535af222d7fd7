"""Turn a benchmark run (``bench/results/latest.json``) into docs/performance.md.

    .nox/bench/bin/python bench/report.py [bench/results/latest.json]

``bench/run.py`` calls :func:`write` at the end of a run; running this alone
writes the document again from a saved run. It replaces the blocks between
the ``<!-- name:start -->`` and ``<!-- name:end -->`` markers of the
document (the figures, the ratios, the growth with stored timers and the
top costs), appends a line to the history block, which keeps every run's
main figures, and draws ``docs/images/bench-lateness.png``.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "performance.md"
PLOT = ROOT / "docs" / "images" / "bench-lateness.png"

#: Rows of the main table: label, summary key, unit.
ROWS = [
    ("Single creates, 64 concurrent clients", "create_single_per_s", "timers/s"),
    ("Batch creates, 1,000 per request", "create_batch_per_s", "timers/s"),
    ("Sustained delivery", "delivery_sustained_per_s", "deliveries/s"),
    ("Lateness p99 in sustained delivery", "sustained_p99_ms", "ms"),
    ("Lateness p50 at 1,000/s", "rate_1000_p50_ms", "ms"),
    ("Lateness p99 at 1,000/s", "rate_1000_p99_ms", "ms"),
    ("Lateness p99.9 at 1,000/s", "rate_1000_p999_ms", "ms"),
    ("Lateness max at 1,000/s", "rate_1000_max_ms", "ms"),
    ("Offered at 50% of sustained", "rate_50pct_offered_per_s", "timers/s"),
    ("Lateness p50 at 50%", "rate_50pct_p50_ms", "ms"),
    ("Lateness p99 at 50%", "rate_50pct_p99_ms", "ms"),
    ("Lateness p99.9 at 50%", "rate_50pct_p999_ms", "ms"),
    ("Lateness max at 50%", "rate_50pct_max_ms", "ms"),
    ("Offered at 90% of sustained", "rate_90pct_offered_per_s", "timers/s"),
    ("Lateness p50 at 90%", "rate_90pct_p50_ms", "ms"),
    ("Lateness p99 at 90%", "rate_90pct_p99_ms", "ms"),
    ("Lateness p99.9 at 90%", "rate_90pct_p999_ms", "ms"),
    ("Lateness max at 90%", "rate_90pct_max_ms", "ms"),
    ("Killed while delivering: lost", "kill_lost", "timers"),
    ("Killed while delivering: duplicates", "kill_duplicates", "deliveries"),
]

#: What the growth table shows: label, growth measure, unit.
GROWTH_ROWS = [
    ("fetch_due (look-ahead poll), median", "fetch_due_median_ms", "ms"),
    ("fetch_due, p99", "fetch_due_p99_ms", "ms"),
    ("claim of 500 due timers, median", "claim_median_ms", "ms"),
    ("claim, p99", "claim_p99_ms", "ms"),
    ("runner memory, steady RSS", "runner_steady_rss_mib", "MiB"),
    ("runner memory, peak RSS", "runner_peak_rss_mib", "MiB"),
]


def cell(figures: dict[str, float] | None) -> str:
    if figures is None:
        return "–"

    median, low, high = figures["median"], figures["min"], figures["max"]
    if median == float("inf"):
        return "never"

    if low == high:
        return f"{median:,.0f}"

    return f"{median:,.0f} ({low:,.0f}–{high:,.0f})"


def main_table(output: dict[str, Any]) -> str:
    columns = {
        **output["summary"],
        **output.get("embedded", {}),
        **output.get("peers", {}),
    }
    header = "| measure | unit | " + " | ".join(columns) + " |"
    rule = "| --- | --- |" + " ---: |" * len(columns)
    rows = [
        f"| {label} | {unit} | "
        + " | ".join(cell(summary.get(key)) for summary in columns.values())
        + " |"
        for label, key, unit in ROWS
    ]
    meta = output["meta"]
    sizes = meta["sizes"]
    peer_sizes = meta.get("peer_sizes")
    embedded = bool(output.get("embedded"))
    lines = [
        f"Measured {meta['date']} at commit `{meta['commit']}` on {meta['machine']}:"
        f" median of {meta['runs']} runs, min–max in brackets. Columns: `sqlite`"
        " is one `serve` on SQLite; `postgres-N` is one API process and N runner"
        " processes on PostgreSQL; `cassandra-N` and `mongodb-N` the same on a"
        " one-node Cassandra and on FerretDB (the MongoDB protocol, on PostgreSQL);"
        + (
            " `timerkernel` is the kernel embedded in one process on SQLite,"
            " measured by the peers' steps and sizes;"
            if embedded
            else ""
        )
        + " `apscheduler` is APScheduler 3 on SQLite, `procrastinate` is"
        " procrastinate on PostgreSQL; all on the same two"
        f" cores. Sizes: {sizes['single']:,} single creates, {sizes['batch']:,}"
        f" batch creates, {sizes['sustained']:,} timers of sustained delivery,"
        f" {sizes['steady_seconds']} s at each fixed rate, a kill during"
        f" {sizes['kill_seconds']} s of deliveries.",
    ]
    if peer_sizes:
        lines.append(
            "The peers, slower by far,"
            + (" and `timerkernel` with them" if embedded else "")
            + f" ran smaller sizes: {peer_sizes['single']:,} single creates,"
            f" {peer_sizes['batch']:,} batch creates (not APScheduler, which has no"
            f" batch API), {peer_sizes['burst']:,} timers of sustained delivery,"
            f" {peer_sizes['steady_seconds']} s at each fixed rate, a kill during"
            f" {peer_sizes['kill_seconds']} s."
        )

    return "\n".join([*lines, "", header, rule, *rows, ""])


def _median(summary: dict[str, Any], key: str) -> float | None:
    figures = summary.get(key)
    return None if figures is None else float(figures["median"])


def ratio_table(output: dict[str, Any]) -> str:
    """Our figures over the peers' and the ceilings', each measured in the run."""
    summary = output["summary"]
    lines = ["| ratio | measured | target |", "| --- | ---: | ---: |"]

    def add(label: str, ours: float | None, theirs: float | None, target: str) -> None:
        if ours is None or not theirs:
            return

        lines.append(f"| {label} | {ours / theirs:,.1f}× | {target} |")

    ceilings = output.get("ceilings", {}).get("summary", {})
    sqlite = summary.get("sqlite", {})
    add(
        "single creates (sqlite) / bare Starlette echo",
        _median(sqlite, "create_single_per_s"),
        _median(ceilings, "echo_single_per_s"),
        "≥ 0.7×",
    )
    add(
        "batch creates (sqlite) / bare executemany into SQLite",
        _median(sqlite, "create_batch_per_s"),
        _median(ceilings, "sqlite_executemany_rows_per_s"),
        "",
    )
    postgres = summary.get("postgres-1", {})
    add(
        "batch creates (postgres-1) / bare COPY into PostgreSQL",
        _median(postgres, "create_batch_per_s"),
        _median(ceilings, "postgres_copy_rows_per_s"),
        "",
    )

    peers = output.get("peers", {})
    for key, label, target in (
        ("create_single_per_s", "single creates", "≥ 15×"),
        ("delivery_sustained_per_s", "sustained delivery", "≥ 25×"),
    ):
        rates = {name: _median(found, key) for name, found in peers.items()}
        known = {name: rate for name, rate in rates.items() if rate}
        if not known:
            continue

        fastest = max(known, key=lambda name: known[name])
        ours_shapes = {**summary, **output.get("embedded", {})}
        ours = max(
            (rate for found in ours_shapes.values() if (rate := _median(found, key))),
            default=None,
        )
        add(
            f"{label}, our best shape / {fastest} (the faster peer)",
            ours,
            known[fastest],
            target,
        )

    return "\n".join([*lines, ""])


def growth_table(output: dict[str, Any]) -> str:
    growth = output.get("growth")
    if not growth:
        return "Not measured in this run (`--growth none`).\n"

    meta = growth.get("meta", {})
    dates = {
        name: measured.get("date", "?")[:10]
        for name, measured in meta.get("measured", {}).items()
    }
    when = (
        ", ".join(f"{name} on {date}" for name, date in dates.items())
        if len(set(dates.values())) > 1
        else meta.get("date", "?")[:10]
    )
    lines: list[str] = [
        f"Measured {when} by `bench/growth.py`: the store's"
        " hot-path reads with the number of timers stored, most due within the"
        " next 30 days and a small set due now, and a real `timerserver runner`"
        " process firing that set. The last column is the ratio of the largest"
        " size to the smallest.",
        "",
    ]
    for backend, by_size in growth["backends"].items():
        sizes = sorted(by_size, key=int)
        due = meta.get("measured", {}).get(backend, {}).get("due") or meta.get("due")
        header = (
            f"| {backend}{f' ({due:,} due)' if due else ''} | unit | "
            + " | ".join(f"{int(size):,} stored" for size in sizes)
            + f" | {int(sizes[-1]):,} / {int(sizes[0]):,} |"
        )
        lines += [header, "| --- | --- |" + " ---: |" * (len(sizes) + 1)]
        ratios = growth.get("ratios", {}).get(backend, {})
        for label, key, unit in GROWTH_ROWS:
            values = [by_size[size]["summary"].get(key) for size in sizes]
            if not any(values):
                continue

            shown = [
                "–" if value is None else f"{value['median']:,.2f}" for value in values
            ]
            ratio = ratios.get(key)
            lines.append(
                f"| {label} | {unit} | "
                + " | ".join(shown)
                + f" | {'–' if ratio is None else f'{ratio:.2f}×'} |"
            )

        lines.append("")

    return "\n".join(lines)


def top_costs(folder: Path, count: int = 12) -> dict[str, list[tuple[str, float]]]:
    """The functions with the most samples of their own, per saved profile."""
    costs: dict[str, list[tuple[str, float]]] = {}
    for path in sorted(folder.glob("*.txt")) if folder.exists() else []:
        own: Counter[str] = Counter()
        total = 0
        for line in path.read_text().splitlines():
            stack, _, samples = line.rpartition(" ")
            if not samples.isdigit():
                continue

            total += int(samples)
            own[stack.split(";")[-1].strip()] += int(samples)

        if total:
            costs[path.stem] = [
                (frame, round(100 * samples / total, 1))
                for frame, samples in own.most_common(count)
            ]

    return costs


def costs_text(output: dict[str, Any]) -> str:
    profiles = output.get("profiles") or {}
    if not profiles:
        return "No profiles in this run (`--no-profiles`).\n"

    parts = []
    for name, frames in profiles.items():
        rows = "\n".join(f"| {share:.1f}% | `{frame}` |" for frame, share in frames)
        head = f"**{name}** (share of samples, own time)"
        parts.append(f"{head}\n\n| share | frame |\n| ---: | --- |\n{rows}\n")

    return "\n".join(parts)


def history_line(output: dict[str, Any]) -> str:
    meta = output["meta"]
    sqlite = output["summary"].get("sqlite", {})

    def figure(key: str) -> str:
        value = _median(sqlite, key)
        return "–" if value is None else f"{value:,.0f}"

    return (
        f"| {meta['date']} | `{meta['commit']}` | {meta['size']} |"
        f" {figure('create_single_per_s')} | {figure('create_batch_per_s')} |"
        f" {figure('delivery_sustained_per_s')} | {figure('rate_1000_p99_ms')} |"
        f" {figure('rate_90pct_p99_ms')} |"
    )


def replace_block(text: str, name: str, make: Callable[[str], str]) -> str:
    start_marker, end_marker = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    start = text.index(start_marker) + len(start_marker)
    end = text.index(end_marker)
    return text[:start] + "\n" + make(text[start:end].strip("\n")) + "\n" + text[end:]


def write(output: dict[str, Any]) -> None:
    text = DOCUMENT.read_text()
    text = replace_block(text, "bench", lambda _: main_table(output))
    text = replace_block(text, "ratios", lambda _: ratio_table(output))
    text = replace_block(text, "growth", lambda _: growth_table(output))
    text = replace_block(text, "costs", lambda _: costs_text(output))
    text = replace_block(text, "history", lambda old: old + "\n" + history_line(output))
    DOCUMENT.write_text(text)
    plot(output, PLOT)


def write_section(output: dict[str, Any], name: str) -> None:
    """Write the table of a run of some shapes alone to the block *name*."""
    text = DOCUMENT.read_text()
    if f"<!-- {name}:start -->" not in text:
        raise ValueError(f"docs/performance.md has no block named {name!r}")

    DOCUMENT.write_text(replace_block(text, name, lambda _: main_table(output)))


def plot(output: dict[str, Any], path: Path) -> None:
    """Lateness over time at 90% of each shape's rate, and deliveries per second."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (lateness, rate) = plt.subplots(2, 1, figsize=(10, 8))
    for shape, runs in output["runs"].items():
        series = runs[0]["rate_90pct"]["series"]
        if series:
            seconds, late = zip(*series, strict=True)
            offered = runs[0]["rate_90pct"]["offered_per_s"]
            lateness.plot(seconds, late, ",", label=f"{shape} at {offered:,}/s")

        sustained = runs[0]["sustained"]["series"]
        if sustained:
            buckets: Counter[int] = Counter(int(second * 10) for second, _ in sustained)
            first = min(buckets)
            xs = [(bucket - first) / 10 for bucket in sorted(buckets)]
            rate.plot(xs, [buckets[b] * 10 for b in sorted(buckets)], label=shape)

    lateness.set_yscale("log")
    lateness.set_xlabel("seconds since the first timer was due")
    lateness.set_ylabel("lateness, ms (log)")
    lateness.set_title("Lateness of each delivery at 90% of the sustained rate")
    lateness.legend(markerscale=20)
    rate.set_xlabel("seconds since the first delivery")
    rate.set_ylabel("deliveries per second (100 ms buckets)")
    rate.set_title("Sustained delivery")
    rate.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    source = (
        Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench/results/latest.json"
    )
    write(json.loads(source.read_text()))
