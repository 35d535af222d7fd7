/** A callback target on 127.0.0.1 that records each delivery and answers 200. */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

export interface Delivery {
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
}

export class Receiver {
  readonly deliveries: Delivery[] = [];
  private readonly server = createServer((request, response) =>
    this.record(request, response),
  );
  private port = 0;

  static async start(): Promise<Receiver> {
    const receiver = new Receiver();
    await new Promise<void>((resolve) =>
      receiver.server.listen(0, "127.0.0.1", resolve),
    );
    const address = receiver.server.address();
    receiver.port = typeof address === "object" && address !== null ? address.port : 0;
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private record(request: IncomingMessage, response: ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      this.deliveries.push({
        path: request.url ?? "",
        headers: request.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      });
      response.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
    });
  }
}
