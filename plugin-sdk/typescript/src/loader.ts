// Loads a module file (TypeScript or JavaScript) for the runner: TypeScript is compiled in
// memory by tsx (no cache written anywhere, as the sandbox allows no writes outside /tmp and the
// data dir), `@convotic/block-sdk` resolves to the running SDK, and the default export is
// checked to be a module.
import Module, { register as registerHooks } from "node:module";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import { checkModule, ModuleDefinitionError } from "./server.js";
import type { ConvoticModule } from "./types.js";

/** The package name a module imports the SDK by. */
const SDK_PACKAGE = "@convotic/block-sdk";

let hooksInstalled = false;

/** The URL the SDK is imported from (dist/index.js when built, src/index.ts under tsx). */
function sdkIndexUrl(): string {
  const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
  return new URL(`./index${ext}`, import.meta.url).href;
}

async function installHooks(): Promise<void> {
  if (hooksInstalled) return;
  hooksInstalled = true;
  // tsx caches compiled files on disk unless told not to; keep the process free of writes.
  process.env.TSX_DISABLE_CACHE ??= "1";
  const cjs = await import("tsx/cjs/api");
  cjs.register();
  const esm = await import("tsx/esm/api");
  esm.register();
  const hookExt = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
  registerHooks(new URL(`./resolve-hook${hookExt}`, import.meta.url), { data: { sdkUrl: sdkIndexUrl() } });
  // The same for module files compiled to CommonJS (no "type": "module" in their package.json):
  // their `require("@convotic/block-sdk")` goes to the running SDK too.
  const cjsLoader = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const resolveFilename = cjsLoader._resolveFilename;
  const sdkPath = fileURLToPath(sdkIndexUrl());
  cjsLoader._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
    return resolveFilename.call(this, request === SDK_PACKAGE ? sdkPath : request, ...rest);
  };
}

/** Imports `file` and returns its default export, checked to be a ConvoticModule. */
export async function loadModuleFile(file: string): Promise<ConvoticModule> {
  const absolute = path.resolve(file);
  await installHooks();
  let imported: Record<string, unknown>;
  try {
    imported = (await import(pathToFileURL(absolute).href)) as Record<string, unknown>;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException)?.code;
    if (code === "ERR_MODULE_NOT_FOUND" && String((err as Error).message).includes(absolute)) {
      throw new ModuleDefinitionError(`cannot load ${absolute}: no such file`);
    }
    throw new ModuleDefinitionError(`cannot load ${absolute}: ${(err as Error)?.stack ?? String(err)}`);
  }
  let module = imported.default;
  // A file compiled to CommonJS arrives as { default: { default: module } }.
  if (module && typeof module === "object" && !("register" in module) && "default" in module) {
    module = (module as { default: unknown }).default;
  }
  const looksLikeModule = (value: unknown): boolean =>
    typeof value === "object" && value !== null && ["register", "name", "version"].some((key) => key in value);
  if (module === undefined || (typeof module === "object" && module !== null && !looksLikeModule(module))) {
    throw new ModuleDefinitionError(`${absolute} has no default export: export the module with \`export default module\``);
  }
  checkModule(module);
  return module;
}
