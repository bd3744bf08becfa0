// Keeps the SDK's protocol definitions in step with the repository's `proto/` directory.
//
//   node scripts/generate.mjs               regenerate src/generated/ (TypeScript types of every
//                                           message and service) and copy the .proto files
//   node scripts/generate.mjs --copy-proto  only copy the .proto files into ./proto (the build)
//   node scripts/generate.mjs --check       fail if src/generated/ or ./proto is stale
//
// The runtime loads ./proto with @grpc/proto-loader; src/generated/ holds the matching types
// made by proto-loader-gen-types with the same options (see src/proto.ts).
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const repoProto = path.resolve(pkgDir, "../../proto");
const copyDir = path.join(pkgDir, "proto");
const generatedDir = path.join(pkgDir, "src", "generated");
/** The files that define the protocol, relative to `proto/`. */
const ROOTS = ["convotic/plugin/v1/plugin.proto", "convotic/host/v1/host.proto"];
/** Options shared with src/proto.ts (LOADER_OPTIONS): keep both in step. */
const GEN_OPTIONS = [
  "--keepCase",
  "--longs=String",
  "--enums=String",
  "--defaults",
  "--oneofs",
  "--includeComments",
  "--grpcLib=@grpc/grpc-js",
  "--importFileExtension=.js",
];

function fail(message) {
  console.error(`check-generated: ${message}`);
  process.exit(1);
}

/** Every .proto file under `dir`, as sorted paths relative to it. */
function protoFiles(dir) {
  const out = [];
  const walk = (sub) => {
    for (const entry of fs.readdirSync(path.join(dir, sub), { withFileTypes: true })) {
      const rel = path.join(sub, entry.name);
      if (entry.isDirectory()) walk(rel);
      else if (entry.name.endsWith(".proto")) out.push(rel);
    }
  };
  if (fs.existsSync(dir)) walk("");
  return out.sort();
}

/** Every file under `dir`, relative, sorted. */
function allFiles(dir) {
  const out = [];
  const walk = (sub) => {
    for (const entry of fs.readdirSync(path.join(dir, sub), { withFileTypes: true })) {
      const rel = path.join(sub, entry.name);
      if (entry.isDirectory()) walk(rel);
      else out.push(rel);
    }
  };
  if (fs.existsSync(dir)) walk("");
  return out.sort();
}

function requireRepoProto() {
  if (!fs.existsSync(path.join(repoProto, ROOTS[0]))) {
    fail(`the repository's proto directory was not found at ${repoProto}`);
  }
}

function copyProto() {
  if (!fs.existsSync(path.join(repoProto, ROOTS[0]))) {
    // An installed copy of the package (no repository around it) ships its proto/ already.
    if (fs.existsSync(path.join(copyDir, ROOTS[0]))) return;
    fail(`neither ${repoProto} nor ${copyDir} holds ${ROOTS[0]}`);
  }
  fs.rmSync(copyDir, { recursive: true, force: true });
  for (const rel of protoFiles(path.join(repoProto, "convotic"))) {
    const from = path.join(repoProto, "convotic", rel);
    const to = path.join(copyDir, "convotic", rel);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(from, to);
  }
}

function generateInto(outDir) {
  const require = createRequire(import.meta.url);
  const loaderPkg = require.resolve("@grpc/proto-loader/package.json");
  const bin = path.join(path.dirname(loaderPkg), "build", "bin", "proto-loader-gen-types.js");
  fs.rmSync(outDir, { recursive: true, force: true });
  // Relative include path: it appears in the generated comments, which must not depend on
  // where the output goes.
  execFileSync(
    process.execPath,
    [bin, "--includeDirs", path.relative(pkgDir, repoProto), "--outDir", outDir, ...GEN_OPTIONS, ...ROOTS],
    { cwd: pkgDir, stdio: ["ignore", "inherit", "inherit"] },
  );
}

/** Compares two trees; returns the problem report, or undefined when they match. */
function compareTrees(expectedDir, actualDir, what, fix) {
  const expected = allFiles(expectedDir);
  const actual = allFiles(actualDir);
  const problems = [];
  for (const f of expected) {
    if (!actual.includes(f)) problems.push(`missing ${f}`);
    else if (!fs.readFileSync(path.join(expectedDir, f)).equals(fs.readFileSync(path.join(actualDir, f)))) {
      problems.push(`stale ${f}`);
    }
  }
  for (const f of actual) if (!expected.includes(f)) problems.push(`unexpected ${f}`);
  if (problems.length > 0) {
    const shown = problems.slice(0, 20).map((p) => `  ${p}`).join("\n");
    const more = problems.length > 20 ? `\n  ... and ${problems.length - 20} more` : "";
    return `${what} differ from the repository's proto/ files:\n${shown}${more}\nRun \`${fix}\` in plugin-sdk/typescript.`;
  }
  return undefined;
}

const mode = process.argv[2] ?? "";
if (mode === "--copy-proto") {
  copyProto();
} else if (mode === "--check") {
  requireRepoProto();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "convotic-sdk-gen-"));
  let typesProblem;
  try {
    generateInto(tmp);
    typesProblem = compareTrees(tmp, generatedDir, "the committed types in src/generated/", "npm run generate");
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  if (typesProblem) fail(typesProblem);
  const repoFiles = protoFiles(path.join(repoProto, "convotic"));
  if (!fs.existsSync(copyDir)) fail(`${copyDir} does not exist: run \`npm run build\``);
  const copyProblem = compareTrees(path.join(repoProto, "convotic"), path.join(copyDir, "convotic"), "the .proto copies in proto/", "npm run build");
  if (copyProblem) fail(copyProblem);
  console.log(`check-generated: src/generated/ and proto/ match the repository (${repoFiles.length} .proto files)`);
} else if (mode === "") {
  requireRepoProto();
  generateInto(generatedDir);
  copyProto();
  console.log(`generated ${allFiles(generatedDir).length} files in src/generated/ and copied the .proto files into proto/`);
} else {
  console.error(`usage: node scripts/generate.mjs [--check | --copy-proto]`);
  process.exit(2);
}
