#!/usr/bin/env node
// `npm run build` (and `prepare`, so `npm ci` does it): the TypeScript sources to dist/, and the
// AssemblyScript GGUF kernels (assembly/gguf-blocks.ts) to dist/wasm/gguf-blocks.wasm — WebAssembly
// with SIMD, no runtime, no bounds assertions (every pointer comes from the module's own buffers).
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(fileURLToPath(import.meta.url), "..", "..");
process.chdir(root);

const steps = [
  ["the TypeScript build", ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"]],
  ["the WebAssembly build", ["node_modules/assemblyscript/bin/asc.js", "assembly/gguf-blocks.ts",
    "-o", "dist/wasm/gguf-blocks.wasm", "-O3", "--runtime", "stub", "--noAssert", "--enable", "simd"]],
];
for (const [what, args] of steps) {
  const r = spawnSync(process.execPath, args, { stdio: "inherit" });
  if (r.status !== 0) {
    console.error(`build: ${what} failed (see above); fix the errors first.`);
    process.exit(r.status ?? 1);
  }
}
