#!/usr/bin/env node
// The `quantlab` command. Runs the compiled CLI from dist/ (built by `npm ci` through `prepare`);
// in a checkout without dist/ it falls back to the TypeScript sources through tsx.
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const compiled = join(root, "dist", "cli", "main.js");
let entry;
if (existsSync(compiled) && !process.env.QUANTLAB_FROM_SOURCE) {
  entry = pathToFileURL(compiled).href;
} else {
  const { register } = await import("tsx/esm/api");
  register();
  entry = pathToFileURL(join(root, "src", "cli", "main.ts")).href;
}
const { main } = await import(entry);
process.exitCode = await main(process.argv.slice(2));
