// Run the compiled browser tests with Node's test runner. Node 20 takes no
// glob, so the files are listed here; names on the command line (such as
// "list") pick the files whose names contain them.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

const root = join(".test-build", "test");
const wanted = process.argv.slice(2);
const files = readdirSync(root)
  .filter((name) => name.endsWith(".test.js"))
  .filter((name) => wanted.length === 0 || wanted.some((part) => name.includes(part)))
  .sort()
  .map((name) => join(root, name));
if (files.length === 0) {
  console.error(`no compiled tests in ${root} match: npm test compiles them first`);
  process.exit(1);
}

const result = spawnSync(
  process.execPath,
  ["--test", "--enable-source-maps", "--test-timeout=60000", ...files],
  { stdio: "inherit" },
);
process.exit(result.status ?? 1);
