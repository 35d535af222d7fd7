// Remove build output given on the command line, so a build never ships
// files of sources that were since removed.
import { rmSync } from "node:fs";

for (const path of process.argv.slice(2)) {
  rmSync(path, { recursive: true, force: true });
}
