#!/usr/bin/env node
// `npx @convotic/block-sdk init|dev|deploy`: the seeds' commands. Each is forwarded to the
// Convotic supervisor binary (`CONVOTIC_SUPERVISOR`, or `convotic-supervisor` on PATH), which
// does the work: `init NAME` writes a TypeScript module package (unless `--lang` says
// otherwise), `dev [DIR]` runs it with hot reload, `deploy --workspace WS [DIR]` ships it.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const USAGE = `usage: npx @convotic/block-sdk <command> [options]

  init NAME [--dir D] [--lang typescript|rust|python]   write a new module package (default: TypeScript)
  dev [DIR] [--port P]                                  run it under a private supervisor, reloading on every save
  deploy --workspace WS [DIR] [--url URL]               build, pack, upload and switch to it

The supervisor binary is taken from CONVOTIC_SUPERVISOR, or convotic-supervisor on PATH.`;

/** The supervisor binary, or why it cannot be found. */
export function findSupervisor(env: NodeJS.ProcessEnv = process.env): string | Error {
  const given = env.CONVOTIC_SUPERVISOR;
  if (given) {
    return isExecutable(given) ? given : new Error(`CONVOTIC_SUPERVISOR=${given} is not an executable file`);
  }
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    const candidate = path.join(dir || ".", "convotic-supervisor");
    if (isExecutable(candidate)) return candidate;
  }
  return new Error(
    "the Convotic supervisor (convotic-supervisor) was not found: put it on PATH, or set CONVOTIC_SUPERVISOR=/path/to/convotic-supervisor " +
      "(build it from the Convotic checkout with `cargo build --release -p convotic-supervisor`)",
  );
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The supervisor's arguments for a seed command, or null when the command is unknown. */
export function supervisorArgs(argv: string[]): string[] | null {
  const [command, ...rest] = argv;
  switch (command) {
    case "init":
      return rest.includes("--lang") ? ["init", ...rest] : ["init", ...rest, "--lang", "typescript"];
    case "dev":
    case "deploy":
      return [command, ...rest];
    default:
      return null;
  }
}

function main(): number {
  const argv = process.argv.slice(2);
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h") {
    console.log(USAGE);
    return argv.length === 0 ? 2 : 0;
  }
  const args = supervisorArgs(argv);
  if (args === null) {
    console.error(`unknown command ${JSON.stringify(argv[0])}\n${USAGE}`);
    return 2;
  }
  const supervisor = findSupervisor();
  if (supervisor instanceof Error) {
    console.error(`error: ${supervisor.message}`);
    return 127;
  }
  // The terminal's Ctrl-C reaches both processes; this one just waits for the supervisor's.
  process.on("SIGINT", () => {});
  const result = spawnSync(supervisor, args, { stdio: "inherit" });
  if (result.error) {
    console.error(`error: cannot run ${supervisor}: ${result.error.message}`);
    return 1;
  }
  return result.status ?? 1;
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(new URL(import.meta.url).pathname)) {
  process.exit(main());
}
