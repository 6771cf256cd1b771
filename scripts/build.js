#!/usr/bin/env node
// `npm run build` (and `prepare`, so `npm ci` does it): the TypeScript sources to dist/, and the
// AssemblyScript GGUF kernels (assembly/gguf-blocks.ts) to dist/wasm/gguf-blocks.wasm — WebAssembly
// with SIMD, no runtime, no bounds assertions (every pointer comes from the module's own buffers) — and
// the GEMM kernel (assembly/gemm.ts) to dist/wasm/gemm.wasm, on an imported shared memory (threads) so
// every worker of the matmul pool runs it on the same operands, and GPTQ's column sweep and AWQ's grid
// points (assembly/gptq.ts, assembly/awq.ts) to dist/wasm/gptq.wasm and awq.wasm on that same memory.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(fileURLToPath(import.meta.url), "..", "..");
process.chdir(root);

const steps = [
  ["the TypeScript build", ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"]],
  ["the WebAssembly build", ["node_modules/assemblyscript/bin/asc.js", "assembly/gguf-blocks.ts",
    "-o", "dist/wasm/gguf-blocks.wasm", "-O3", "--runtime", "stub", "--noAssert", "--enable", "simd"]],
  ["the WebAssembly GEMM build", ["node_modules/assemblyscript/bin/asc.js", "assembly/gemm.ts",
    "-o", "dist/wasm/gemm.wasm", "-O3", "--runtime", "stub", "--noAssert", "--enable", "simd,threads",
    "--importMemory", "--sharedMemory", "--initialMemory", "1", "--maximumMemory", "65536"]],
  ...["gptq", "awq"].map((name) => [`the WebAssembly ${name} kernel build`, ["node_modules/assemblyscript/bin/asc.js",
    `assembly/${name}.ts`, "-o", `dist/wasm/${name}.wasm`, "-O3", "--runtime", "stub", "--noAssert", "--enable", "simd,threads",
    "--importMemory", "--sharedMemory", "--initialMemory", "1", "--maximumMemory", "65536"]]),
];
for (const [what, args] of steps) {
  const r = spawnSync(process.execPath, args, { stdio: "inherit" });
  if (r.status !== 0) {
    console.error(`build: ${what} failed (see above); fix the errors first.`);
    process.exit(r.status ?? 1);
  }
}
