// Run the compiled tests under a directory of .test-build with Node's test
// runner. Node 20 takes no glob, and newer versions take no directory, so
// the files are listed here.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

const roots = process.argv.slice(2);
const files = roots.flatMap((root) =>
  readdirSync(join(".test-build", root), { recursive: true })
    .map(String)
    .filter((name) => name.endsWith(".test.js"))
    .map((name) => join(".test-build", root, name)),
);
if (files.length === 0) {
  console.error(
    `no compiled tests under ${roots.join(", ")}: run tsc -p tsconfig.test.json`,
  );
  process.exit(1);
}

files.sort();
const result = spawnSync(
  process.execPath,
  ["--test", "--enable-source-maps", "--test-timeout=60000", ...files],
  { stdio: "inherit" },
);
process.exit(result.status ?? 1);
