#!/usr/bin/env node
// The runner (`convotic-module`, i.e. `node <sdk>/dist/cli.js`): runs a module file the way the
// Convotic supervisor expects (`run`), or prints the manifest its registrations make
// (`manifest`), for checking a module without the supervisor.
import * as path from "node:path";
import { fileURLToPath } from "node:url";

import { loadModuleFile } from "./loader.js";
import { emit } from "./logging.js";
import { describeModule, EXIT_DO_NOT_RESTART, ModuleDefinitionError, run, startedByHandMessage, startedBySupervisor } from "./server.js";

const CLI = fileURLToPath(import.meta.url);

const USAGE = `usage: convotic-module <command> <module file>

commands:
  run <module file>       serve the module (the Convotic supervisor starts this; see below)
  manifest <module file>  print the manifest the module's registrations make, as JSON

A module file (TypeScript or JavaScript) exports a ConvoticModule as its default export.
Under the supervisor, a [[modules]] entry runs it:
  command = "${process.execPath}"
  args = ["${CLI}", "run", "<module file>"]
  working_dir = "<module directory>"
  read_only_paths = ["${path.resolve(path.dirname(CLI), "..")}"]
`;

/** How to run `file` under the supervisor, on one line. */
function howToRun(file: string): string {
  const absolute = path.resolve(file);
  return (
    `run it under the supervisor with a [[modules]] entry: command = "${process.execPath}", ` +
    `args = ["${CLI}", "run", "${absolute}"], working_dir = "${path.dirname(absolute)}", ` +
    `read_only_paths = ["${path.resolve(path.dirname(CLI), "..")}"]; then: convotic-supervisor run --config <config file>`
  );
}

function usage(problem?: string): never {
  if (problem) process.stderr.write(`convotic-module: ${problem}\n`);
  process.stderr.write(USAGE);
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  const [command, file, ...rest] = argv;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    if (command === undefined) usage("no command given");
    process.stdout.write(USAGE);
    return;
  }
  if (command !== "run" && command !== "manifest") usage(`unknown command ${JSON.stringify(command)}`);
  if (file === undefined) usage(`${command}: no module file given`);
  if (rest.length > 0) usage(`${command}: unexpected arguments ${rest.join(" ")}`);

  if (command === "manifest") {
    try {
      const { manifest } = await describeModule(await loadModuleFile(file));
      process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
      process.exit(0);
    } catch (err) {
      process.stderr.write(`convotic-module: ${(err as Error)?.message ?? String(err)}\n`);
      process.exit(1);
    }
  }

  if (!startedBySupervisor()) {
    // Started by hand (§3.2): one line on stderr, exit 2. The module's name, when it loads.
    let name = path.basename(file);
    try {
      name = (await loadModuleFile(file)).name;
    } catch {
      // Keep the file name.
    }
    process.stderr.write(`${startedByHandMessage(name, howToRun(file))}\n`);
    process.exit(2);
  }

  process.on("uncaughtExceptionMonitor", (err, origin) => {
    emit("error", `${origin}: the module exits`, { error: (err as Error)?.stack ?? String(err) });
  });
  let module;
  try {
    module = await loadModuleFile(file);
  } catch (err) {
    emit("error", (err as Error)?.message ?? String(err));
    process.exit(err instanceof ModuleDefinitionError ? EXIT_DO_NOT_RESTART : 1);
  }
  await run(module, howToRun(file));
}

main(process.argv.slice(2)).catch((err: unknown) => {
  emit("error", (err as Error)?.stack ?? String(err));
  process.exit(1);
});
