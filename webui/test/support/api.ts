/** The API as the tests use it to arrange and check what the page shows. */

export interface TimerData {
  namespace: string;
  id: string;
  fire_at: string;
  status: string;
  attempts: number;
  version: number;
  payload: unknown;
  callback: { url: string; timeout_seconds: number; headers: Record<string, string> };
  retry_policy: Record<string, number | null>;
  [field: string]: unknown;
}

export class Api {
  /** `token` is sent as the bearer token of every call, when given. */
  constructor(
    private readonly baseUrl: string,
    private readonly token?: string,
  ) {}

  async call(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) {
    const sent: Record<string, string> = {};
    if (this.token !== undefined) {
      sent.Authorization = `Bearer ${this.token}`;
    }

    if (body !== undefined) {
      sent["Content-Type"] = "application/json";
    }

    const response = await fetch(`${this.baseUrl}/api/v1${path}`, {
      method,
      headers: { ...sent, ...headers },
      body: body === undefined ? null : JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
    const text = await response.text();
    return {
      status: response.status,
      body: text ? (JSON.parse(text) as unknown) : undefined,
    };
  }

  /** Create a timer, failing the test on anything but 201. */
  async create(namespace: string, timer: Record<string, unknown>): Promise<TimerData> {
    const { status, body } = await this.call(
      "POST",
      `/namespaces/${namespace}/timers`,
      {
        callback: { url: "http://127.0.0.1:9/unused" },
        ...timer,
      },
    );
    if (status !== 201) {
      throw new Error(`create answered ${status}: ${JSON.stringify(body)}`);
    }

    return body as TimerData;
  }

  async get(namespace: string, id: string): Promise<TimerData | undefined> {
    const { status, body } = await this.call(
      "GET",
      `/namespaces/${namespace}/timers/${encodeURIComponent(id)}`,
    );
    return status === 200 ? (body as TimerData) : undefined;
  }

  async patch(namespace: string, id: string, body: unknown): Promise<TimerData> {
    const result = await this.call(
      "PATCH",
      `/namespaces/${namespace}/timers/${encodeURIComponent(id)}`,
      body,
    );
    if (result.status !== 200) {
      throw new Error(
        `patch answered ${result.status}: ${JSON.stringify(result.body)}`,
      );
    }

    return result.body as TimerData;
  }
}

/** A fire time this far from now, as the API writes times. */
export function inMinutes(minutes: number): string {
  return new Date(Date.now() + minutes * 60_000).toISOString();
}
