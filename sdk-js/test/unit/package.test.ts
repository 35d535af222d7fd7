/** The package as it is published: its exports, both builds, its types and its docs. */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, test } from "node:test";

import * as esm from "@timerkernel/client";

import { packageRoot } from "../support/paths.js";

const root = packageRoot();
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  version: string;
  exports: Record<string, unknown>;
};

const EXPORTS = [
  "AlreadyExistsError",
  "ApiError",
  "ConnectionError",
  "DEFAULT_BASE_URL",
  "DEFAULT_MAX_BODY_BYTES",
  "DEFAULT_MAX_RETRIES",
  "DEFAULT_RETRY_INITIAL_DELAY_MS",
  "DEFAULT_RETRY_MAX_DELAY_MS",
  "DEFAULT_TIMEOUT_MS",
  "DEFAULT_TOLERANCE_SECONDS",
  "InternalError",
  "InvalidArgumentError",
  "InvalidResponseError",
  "NotFoundError",
  "PayloadTooLargeError",
  "PermissionDeniedError",
  "PreconditionFailedError",
  "RequestAbortedError",
  "RescheduleAnswer",
  "SDK_NAME",
  "SIGNATURE_HEADER",
  "TimeoutError",
  "TimerClient",
  "TimerClientError",
  "UnauthenticatedError",
  "UnavailableError",
  "VERSION",
  "WebhookError",
  "createCallbackHandler",
  "parseCallback",
  "reschedule",
  "signCallback",
  "toNodeHandler",
  "verifySignature",
];

describe("exports", () => {
  test("the ES module exports exactly the public names", () => {
    assert.deepEqual(Object.keys(esm).sort(), [...EXPORTS].sort());
  });

  test("the CommonJS build exports the same names", () => {
    const cjs = createRequire(import.meta.url)("@timerkernel/client") as Record<
      string,
      unknown
    >;

    assert.deepEqual(
      Object.keys(cjs)
        .filter((name) => name !== "__esModule")
        .sort(),
      [...EXPORTS].sort(),
    );
    assert.notEqual(
      cjs.TimerClient,
      esm.TimerClient,
      "require loads the CommonJS build",
    );
    assert.equal(cjs.VERSION, esm.VERSION);
  });

  test("the version in code is the package's", () => {
    assert.equal(esm.VERSION, "0.1.0");
    assert.equal(esm.VERSION, manifest.version);
    assert.equal(esm.SDK_NAME, "timerkernel-js");
  });

  test("the root error is the root of every error class", () => {
    for (const name of EXPORTS.filter((name) => name.endsWith("Error"))) {
      const value = (esm as Record<string, unknown>)[name];
      assert.equal(typeof value, "function");
      assert.ok(
        (value as { prototype: unknown }).prototype instanceof Error &&
          ((value as { prototype: unknown }).prototype instanceof
            esm.TimerClientError ||
            value === esm.TimerClientError),
        `${name} is a TimerClientError`,
      );
    }
  });
});

describe("types of both builds", () => {
  test("a CommonJS and an ES module consumer type-check against dist", () => {
    const tsc = join(root, "node_modules", "typescript", "bin", "tsc");

    // Throws with the compiler's output if either consumer does not compile.
    execFileSync(
      process.execPath,
      [tsc, "-p", join(root, "test", "fixtures", "consumers")],
      {
        cwd: root,
        stdio: "pipe",
        timeout: 60_000,
      },
    );
  });
});

describe("the README", () => {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const examples = join(root, "examples");

  for (const name of readdirSync(examples).filter((file) => file.endsWith(".ts"))) {
    test(`shows examples/${name} as it is`, () => {
      const source = readFileSync(join(examples, name), "utf8").trim();

      assert.ok(
        readme.includes(source),
        `README.md does not hold examples/${name} verbatim`,
      );
    });
  }
});
