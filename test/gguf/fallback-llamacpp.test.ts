/**
 * The one fallback rule (traits `fallback`, then F16) against llama_model_quantize itself: stories260K's
 * rows of 64 do not split into 256-blocks and ffn_down's 172 not even into 32-blocks, so every base type
 * below falls back; the type llama.cpp picks and its bytes must be what QuantLab's rule and encoders give.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readGguf, tensorBytes, tensorF32 } from "../../src/gguf/file.js";
import { fallbackType } from "../../src/gguf/mix.js";
import { quantize } from "../../src/gguf/quants.js";
import type { GgufTypeName } from "../../src/gguf/types.js";
import { LIBLLAMA, sharedFile, skipUnless } from "../helpers/shared.js";
import { llamaQuantize, writeV3 } from "./llama-quantize.js";

const STORIES = sharedFile("stories260K-f32.gguf").path;
const skip = skipUnless([
  [existsSync(STORIES), `${STORIES} is missing (set QUANTLAB_SHARED_DATA)`],
  [existsSync(LIBLLAMA), `llama.cpp's ${LIBLLAMA} is missing (devDependency @node-llama-cpp/linux-x64@3.21.1)`],
]);

/** llama_ftype values (llama.h) whose base type is a 256-block type. */
const FTYPES: [ftype: number, base: GgufTypeName][] = [[10, "Q2_K"], [11, "Q3_K"], [30, "IQ4_XS"], [36, "TQ1_0"], [37, "TQ2_0"]];

test("rows the block does not divide fall back exactly as llama_model_quantize does, type and bytes", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "quantlab-fallback-"));
  try {
    const src = await readGguf(STORIES);
    const input = join(dir, "in.gguf");
    await writeV3(src, input);
    const jobs = FTYPES.map(([ftype, base]) => [join(dir, `${base}.gguf`), ftype] as [string, number]);
    llamaQuantize(input, jobs);
    const bad: string[] = [];
    let checked = 0;
    for (const [i, [, base]] of FTYPES.entries()) {
      const theirs = await readGguf(jobs[i]![0]);
      // the layer linears get the base type by every rule of these mixes; only the row length decides
      for (const t of theirs.tensors.filter((t) => /^blk\.\d+\.(attn_q|attn_k|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/.test(t.name))) {
        const want = fallbackType(base, t.dims[0]!);
        if (t.type.name !== want) { bad.push(`${base} ${t.name}: llama.cpp ${t.type.name}, rule ${want}`); continue; }
        const ours = quantize(want, tensorF32(src, t.name), t.dims[0]!);
        if (Buffer.compare(Buffer.from(ours), Buffer.from(tensorBytes(theirs, t.name))) !== 0) bad.push(`${base} ${t.name} (${want}): bytes differ`);
        checked++;
      }
    }
    assert.deepEqual(bad, []);
    assert.ok(checked >= FTYPES.length * 25, `${checked} tensors checked`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
