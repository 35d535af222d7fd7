/**
 * The API key the page sends, and the call for one when the server wants it.
 *
 * The key is kept in sessionStorage, or in localStorage when the user asks
 * to be remembered on this device; never in the URL, where the history and
 * the server's logs would keep it.
 */

const STORAGE_NAME = "timerui.apiKey";
const STORAGES = ["sessionStorage", "localStorage"] as const;
type StorageName = (typeof STORAGES)[number];

// Read once: storage may be blocked, and the key must still work then.
let current = readStored("sessionStorage") ?? readStored("localStorage");

/** Why the page asks for a key: `refusal` is the server's word on one sent. */
export interface KeyRequest {
  refusal?: string;
}

let listener: ((request: KeyRequest) => void) | undefined;

export function currentKey(): string | undefined {
  return current;
}

/** Whether the key is kept on this device rather than for this tab only. */
export function isRemembered(): boolean {
  return current !== undefined && readStored("localStorage") === current;
}

export function saveKey(key: string, remember: boolean): void {
  forgetKey();
  current = key;
  try {
    storage(remember ? "localStorage" : "sessionStorage")?.setItem(STORAGE_NAME, key);
  } catch {
    // Without storage the key lasts until the page is reloaded.
  }
}

export function forgetKey(): void {
  current = undefined;
  for (const name of STORAGES) {
    try {
      storage(name)?.removeItem(STORAGE_NAME);
    } catch {
      // Nothing was stored where storage is blocked.
    }
  }
}

/** Who shows the key form; returns the function that stops listening. */
export function onKeyNeeded(listen: (request: KeyRequest) => void): () => void {
  listener = listen;
  return () => {
    listener = undefined;
  };
}

/**
 * The server answered 401 to a request that carried `sent` (or no key).
 * An answer to a key that was replaced meanwhile says nothing of the
 * current one, and is ignored.
 */
export function keyNeeded(sent: string | undefined, message: string): void {
  if (sent === current) {
    listener?.(sent === undefined ? {} : { refusal: message });
  }
}

function readStored(name: StorageName): string | undefined {
  try {
    return storage(name)?.getItem(STORAGE_NAME) || undefined;
  } catch {
    return undefined;
  }
}

// Even reading `window.localStorage` throws where the browser blocks storage.
function storage(name: StorageName): Storage | undefined {
  try {
    return window[name];
  } catch {
    return undefined;
  }
}
