/**
 * A message for the next view to show once, such as "Timer deleted" after
 * the details view sent the page back to the list.
 */

let pending: string | undefined;

export function setFlash(message: string): void {
  pending = message;
}

export function takeFlash(): string | undefined {
  const message = pending;
  pending = undefined;
  return message;
}
