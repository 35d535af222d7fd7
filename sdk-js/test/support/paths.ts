/** Where the package and the repository are, from a compiled test. */

import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The directory of this package (sdk-js). */
export function packageRoot(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 10; depth++) {
    const manifest = join(directory, "package.json");
    if (existsSync(manifest)) {
      const { name } = JSON.parse(readFileSync(manifest, "utf8")) as { name?: string };
      if (name === "@timerkernel/client") {
        return directory;
      }
    }

    directory = dirname(directory);
  }

  throw new Error("the tests run outside the @timerkernel/client package");
}

/** A file of the repository that holds this package. */
export function repositoryFile(...parts: string[]): string {
  return join(packageRoot(), "..", ...parts);
}
