/**
 * Counts per second as lines in an SVG drawn here. The labels are HTML beside
 * the drawing, so that they keep their size when the drawing stretches.
 */

import type { Activity } from "../api";

export const SERIES = [
  { key: "created", label: "Created", className: "series-created" },
  { key: "delivered", label: "Delivered", className: "series-delivered" },
  { key: "failed", label: "Failed", className: "series-failed" },
] as const;

const WIDTH = 600;
const HEIGHT = 200;

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

function points(values: number[], top: number): string {
  const step = values.length > 1 ? WIDTH / (values.length - 1) : WIDTH;
  return values
    .map((value, index) => {
      const x = index * step;
      const y = HEIGHT - (value / top) * HEIGHT;
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(" ");
}

/** A round top for the y axis, so that its label reads well. */
function niceTop(peak: number): number {
  if (peak <= 1) {
    return 1;
  }

  const magnitude = 10 ** Math.floor(Math.log10(peak));
  const steps = [1, 2, 5, 10];
  const factor = steps.find((candidate) => candidate * magnitude >= peak) ?? 10;
  return factor * magnitude;
}

function describeSpan(seconds: number): string {
  return seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`;
}

export function ActivityChart({ activity }: { activity: Activity }) {
  const span = activity.created.length * activity.step_seconds;
  const peak = Math.max(
    0,
    ...activity.created,
    ...activity.delivered,
    ...activity.failed,
  );
  const top = niceTop(peak);
  const totals = SERIES.map((series) => ({
    ...series,
    total: sum(activity[series.key]),
  }));
  const summary = totals
    .map((series) => `${series.total} ${series.label.toLowerCase()}`)
    .join(", ");

  return (
    <figure class="chart">
      <figcaption>
        Per second over the last {describeSpan(span)}:{" "}
        <span data-summary>{summary}</span>.
      </figcaption>
      <ul class="legend">
        {totals.map((series) => (
          <li key={series.key} class={series.className} data-series={series.key}>
            <span class="swatch" aria-hidden="true" />
            {series.label} <span class="total">{series.total}</span>
          </li>
        ))}
      </ul>
      <div class="plot">
        <div class="y-axis" aria-hidden="true">
          <span>{top}/s</span>
          <span>0</span>
        </div>
        <svg
          viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
          preserveAspectRatio="none"
          role="img"
          aria-label={`Line chart of timers ${summary}, per second`}
        >
          <line class="grid" x1="0" y1={HEIGHT / 2} x2={WIDTH} y2={HEIGHT / 2} />
          <line class="axis" x1="0" y1={HEIGHT} x2={WIDTH} y2={HEIGHT} />
          {SERIES.map((series) => (
            <polyline
              key={series.key}
              class={series.className}
              data-series={series.key}
              points={points(activity[series.key], top)}
              fill="none"
              vector-effect="non-scaling-stroke"
            />
          ))}
        </svg>
      </div>
      <div class="x-axis" aria-hidden="true">
        <span>−{describeSpan(span)}</span>
        <span>now</span>
      </div>
    </figure>
  );
}
