// After `tsc`: makes the bins executable (`convotic-module`, the runner; `block-sdk`, the
// seeds' init/dev/deploy).
import * as fs from "node:fs";
import { fileURLToPath } from "node:url";

for (const bin of ["cli.js", "block-sdk.js"]) {
  fs.chmodSync(fileURLToPath(new URL(`../dist/${bin}`, import.meta.url)), 0o755);
}
