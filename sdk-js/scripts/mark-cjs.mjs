// The package is "type": "module"; this marks dist/cjs as CommonJS, so that
// Node.js and type checkers read its .js and .d.ts files as such.
import { writeFileSync } from "node:fs";

writeFileSync(
  "dist/cjs/package.json",
  `${JSON.stringify({ type: "commonjs" }, null, 2)}\n`,
);
