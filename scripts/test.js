#!/usr/bin/env node
// `npm test`: build (scripts/build.js; the kernel and CLI tests run the compiled dist/) and type-check, then every
// test file under test/ with Node's built-in runner over the TypeScript sources (tsx loader).
// Extra arguments are passed to `node --test`, e.g. `npm test -- --test-name-pattern=gguf`; file
// paths given as arguments replace the full list.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(fileURLToPath(import.meta.url), "..", "..");
process.chdir(root);

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith(".test.ts") ? [p] : [];
  });
}

const build = spawnSync(process.execPath, ["scripts/build.js"], { stdio: "inherit" });
if (build.status !== 0) process.exit(build.status ?? 1);
const typecheck = spawnSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.json"], { stdio: "inherit" });
if (typecheck.status !== 0) {
  console.error("npm test: type errors in tests or benchmarks (see above).");
  process.exit(typecheck.status ?? 1);
}

const args = process.argv.slice(2);
const files = args.filter((a) => a.endsWith(".ts"));
const flags = args.filter((a) => !a.endsWith(".ts"));
const list = files.length ? files : walk("test").map((p) => relative(root, p)).sort();
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=2", ...flags, ...list], { stdio: "inherit" });
process.exit(r.status ?? 1);
