// After `tsc`: makes the runner executable (the `convotic-module` bin).
import * as fs from "node:fs";
import { fileURLToPath } from "node:url";

fs.chmodSync(fileURLToPath(new URL("../dist/cli.js", import.meta.url)), 0o755);
