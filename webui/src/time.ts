/**
 * Times: the API speaks UTC RFC 3339; people read and type the browser's
 * local time, so the page always says which zone that is.
 */

function pad(value: number, width = 2): string {
  return String(value).padStart(width, "0");
}

/** The browser's zone as "Europe/Berlin (UTC+01:00)". */
export function localZone(at: Date = new Date()): string {
  const name = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  return `${name} (${utcOffset(at)})`;
}

function utcOffset(at: Date): string {
  // getTimezoneOffset is minutes *behind* UTC, so its sign is flipped.
  const minutes = -at.getTimezoneOffset();
  const sign = minutes < 0 ? "-" : "+";
  const absolute = Math.abs(minutes);
  return `UTC${sign}${pad(Math.floor(absolute / 60))}:${pad(absolute % 60)}`;
}

/** An API time as local "2026-12-03 10:00:05", or "" for none. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) {
    return "";
  }

  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) {
    return iso;
  }

  const date = `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}`;
  const time = `${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}`;
  const millis = at.getMilliseconds();
  return `${date} ${time}${millis ? `.${pad(millis, 3)}` : ""}`;
}

/** "in 5 min", "3 s ago": how far a time is from now. */
export function relativeTime(iso: string, now: number = Date.now()): string {
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const absolute = Math.abs(seconds);
  let amount: string;
  if (absolute < 60) {
    amount = `${absolute} s`;
  } else if (absolute < 3600) {
    amount = `${Math.round(absolute / 60)} min`;
  } else if (absolute < 86_400 * 2) {
    amount = `${Math.round(absolute / 3600)} h`;
  } else {
    amount = `${Math.round(absolute / 86_400)} days`;
  }

  return seconds >= 0 ? `in ${amount}` : `${amount} ago`;
}

/** The value of a `datetime-local` input for an API time, to the second. */
export function toLocalInput(iso: string | undefined): string {
  if (!iso) {
    return "";
  }

  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) {
    return "";
  }

  return localInputOf(at);
}

export function localInputOf(at: Date): string {
  const date = `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}`;
  return `${date}T${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}`;
}

/**
 * A `datetime-local` value as a UTC API time. Without an offset, the
 * language reads "2026-12-03T10:00" as local time, which is what was typed.
 */
export function fromLocalInput(value: string): string | undefined {
  if (!value) {
    return undefined;
  }

  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? undefined : at.toISOString();
}
