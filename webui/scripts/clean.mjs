// Remove the folders named on the command line, as `rm -rf` would on any OS.
import { rmSync } from "node:fs";

for (const path of process.argv.slice(2)) {
  rmSync(path, { recursive: true, force: true });
}
