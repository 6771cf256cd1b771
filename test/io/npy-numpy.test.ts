/**
 * .npy interoperability with NumPy itself (Debian's python3-numpy): NumPy writes header versions 1.0,
 * 2.0 and 3.0 and every dtype QuantLab reads, QuantLab reads them exactly; QuantLab writes, NumPy reads
 * back the same values, dtype and shape. Fortran-ordered and big-endian arrays are refused with the fix.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QuantLabError } from "../../src/errors.js";
import { encodeNpy, parseNpy, readNpy, writeNpy } from "../../src/io/npy.js";
import type { Tensor } from "../../src/io/tensor.js";
import { NPY_HEADER_VARIANTS, npyWithHeader } from "../helpers/mutate.js";

function numpyPython(): string | null {
  for (const py of [process.env.QUANTLAB_PYTHON, "/usr/bin/python3", "python3"]) {
    if (!py) continue;
    if (spawnSync(py, ["-c", "import numpy"], { stdio: "ignore" }).status === 0) return py;
  }
  return null;
}
const PY = numpyPython();
const skip = PY ? false : "a python3 with numpy is needed (Debian's python3-numpy, or set QUANTLAB_PYTHON)";

function py(code: string, ...args: string[]): string {
  const r = spawnSync(PY!, ["-c", code, ...args], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

// one array per dtype, values chosen to be exact in the dtype (halves for float16, extremes for ints)
const MAKE = `
import numpy as np, sys, os
d = sys.argv[1]
arrays = {
  "f4": np.array([[0.1, -2.5, 3e38], [1e-45, -0.0, 7.0]], dtype="<f4"),
  "f2": np.array([0.5, -65504, 2**-14, 2**-24], dtype="<f2"),
  "f8": np.array([[1.0, 0.2], [3.5, -4.0]], dtype="<f8"),
  "i1": np.array([-128, 0, 127], dtype="i1"),
  "u1": np.array([0, 200, 255], dtype="u1"),
  "i2": np.array([[-32768, 32767]], dtype="<i2"),
  "u2": np.array([0, 65535], dtype="<u2"),
  "i4": np.array([-2**31, 2**31 - 1, 5], dtype="<i4"),
  "u4": np.array([0, 2**32 - 1], dtype="<u4"),
  "i8": np.array([-2**63, 2**63 - 1], dtype="<i8"),
  "scalar": np.float32(1.5).reshape(()),
  "empty": np.zeros((0, 3), dtype="<f4"),
  "cube": np.arange(24, dtype="<f4").reshape(2, 3, 4),
}
for name, a in arrays.items():
  for v in [(1, 0), (2, 0), (3, 0)]:
    with open(os.path.join(d, f"{name}-v{v[0]}.npy"), "wb") as f:
      np.lib.format.write_array(f, a, version=v)
np.save(os.path.join(d, "fortran.npy"), np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
np.save(os.path.join(d, "bigendian.npy"), np.arange(4, dtype=">f4"))
`;

const EXPECT: Record<string, { dtype: string; shape: number[]; values: (number | bigint)[] }> = {
  f4: { dtype: "F32", shape: [2, 3], values: [0.1, -2.5, 3e38, 1e-45, -0, 7].map((v) => Math.fround(v)) },
  f2: { dtype: "F16", shape: [4], values: [0.5, -65504, 2 ** -14, 2 ** -24] },
  f8: { dtype: "F64", shape: [2, 2], values: [1, 0.2, 3.5, -4].map((v) => Math.fround(v)) },
  i1: { dtype: "I8", shape: [3], values: [-128, 0, 127] },
  u1: { dtype: "U8", shape: [3], values: [0, 200, 255] },
  i2: { dtype: "I16", shape: [1, 2], values: [-32768, 32767] },
  u2: { dtype: "U16", shape: [2], values: [0, 65535] },
  i4: { dtype: "I32", shape: [3], values: [-(2 ** 31), 2 ** 31 - 1, 5] },
  u4: { dtype: "U32", shape: [2], values: [0, 2 ** 32 - 1] },
  i8: { dtype: "I64", shape: [2], values: [-(2n ** 63n), 2n ** 63n - 1n] },
  scalar: { dtype: "F32", shape: [], values: [1.5] },
  empty: { dtype: "F32", shape: [0, 3], values: [] },
  cube: { dtype: "F32", shape: [2, 3, 4], values: Array.from({ length: 24 }, (_, i) => i) },
};

test("QuantLab reads what NumPy writes: header versions 1, 2, 3 and every supported dtype, exactly", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "quantlab-npy-"));
  try {
    py(MAKE, dir);
    for (const [name, want] of Object.entries(EXPECT)) {
      for (const v of [1, 2, 3]) {
        const t = await readNpy(join(dir, `${name}-v${v}.npy`));
        assert.equal(t.dtype, want.dtype, `${name} v${v}`);
        assert.deepEqual(t.shape, want.shape, `${name} v${v}`);
        assert.deepEqual(Array.from(t.data as ArrayLike<number | bigint>), want.values, `${name} v${v}`);
      }
    }
    for (const [file, re] of [["fortran.npy", /fortran_order.*ascontiguousarray/], ["bigendian.npy", /'>f4'.*not supported/]] as const) {
      await assert.rejects(readNpy(join(dir, file)), (e: unknown) => e instanceof QuantLabError && e.code === "BAD_FILE" && re.test(e.message), file);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("NumPy reads what QuantLab writes: same dtype, shape and values", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "quantlab-npy-"));
  try {
    const tensors: Record<string, Tensor> = {
      f32: { dtype: "F32", shape: [2, 3], data: Float32Array.from([0.1, -2.5, 3, 4, 5, 6]) },
      f16: { dtype: "F16", shape: [3], data: Float32Array.from([0.5, 0.1, 65504]) },
      i8: { dtype: "I8", shape: [2], data: Int8Array.from([-128, 127]) },
      u16: { dtype: "U16", shape: [1, 1, 2], data: Uint16Array.from([1, 65535]) },
      i64: { dtype: "I64", shape: [1], data: BigInt64Array.from([-(2n ** 62n)]) },
      f64: { dtype: "F64", shape: [2], data: Float64Array.from([Math.PI, -1]) },
    };
    for (const [name, t] of Object.entries(tensors)) await writeNpy(join(dir, `${name}.npy`), t);
    const out = JSON.parse(py(`
import numpy as np, sys, os, json
d = sys.argv[1]
r = {}
for f in sorted(os.listdir(d)):
  a = np.load(os.path.join(d, f))
  r[f[:-4]] = {"dtype": a.dtype.str, "shape": list(a.shape), "values": [str(x) for x in a.ravel().tolist()], "c": bool(a.flags.c_contiguous)}
print(json.dumps(r))`, dir)) as Record<string, { dtype: string; shape: number[]; values: string[]; c: boolean }>;
    const want: Record<string, [string, string[]]> = {
      f32: ["<f4", ["0.10000000149011612", "-2.5", "3.0", "4.0", "5.0", "6.0"]],
      f16: ["<f2", ["0.5", "0.0999755859375", "65504.0"]],
      i8: ["|i1", ["-128", "127"]],
      u16: ["<u2", ["1", "65535"]],
      i64: ["<i8", ["-4611686018427387904"]],
      f64: ["<f8", ["3.141592653589793", "-1.0"]],
    };
    for (const [name, [dtype, values]] of Object.entries(want)) {
      assert.equal(out[name]!.dtype, dtype, name);
      assert.deepEqual(out[name]!.shape, tensors[name]!.shape, name);
      assert.deepEqual(out[name]!.values, values, name);
      assert.ok(out[name]!.c, name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a written .npy header is 64-byte aligned, ends in a newline and parses back", () => {
  const t: Tensor = { dtype: "F32", shape: [3, 1], data: Float32Array.from([1, 2, 3]) };
  const b = encodeNpy(t);
  const hl = b[8]! | (b[9]! << 8);
  assert.equal((10 + hl) % 64, 0);
  assert.equal(b[10 + hl - 1], 0x0a);
  assert.deepEqual(parseNpy(b), t);
  // a header whose shape needs more data than follows is refused, naming the shape
  const cut = b.subarray(0, b.length - 4);
  assert.throws(() => parseNpy(cut), (e: unknown) => e instanceof QuantLabError && /\(3, 1\).*truncated/.test(e.message));
});

test("the .npy header grammar is NumPy's: every variant QuantLab accepts, NumPy accepts with the same shape", { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), "quantlab-npy-grammar-"));
  try {
    const files = NPY_HEADER_VARIANTS.map(([, header], i) => {
      const f = join(dir, `${i}.npy`);
      writeFileSync(f, npyWithHeader(header));
      return f;
    });
    const verdicts = JSON.parse(py(`
import json, sys, numpy as np
out = []
for f in sys.argv[1:]:
    try:
        out.append(list(np.load(f, allow_pickle=False).shape))
    except Exception as e:
        out.append(None)
print(json.dumps(out))`, ...files)) as (number[] | null)[];
    for (const [i, [label, header]] of NPY_HEADER_VARIANTS.entries()) {
      let ours: number[] | null = null;
      try {
        ours = parseNpy(npyWithHeader(header)).shape;
      } catch (e) {
        assert.ok(e instanceof QuantLabError && e.code === "BAD_FILE", `${label}: ${(e as Error).message}`);
      }
      if (ours !== null) assert.deepEqual(verdicts[i], ours, `${label}: QuantLab reads shape [${ours}], NumPy ${verdicts[i] ? `[${verdicts[i]}]` : "refuses it"}`);
    }
    // the shapes the outside harness found accepted: NumPy refuses them, and so does QuantLab now
    for (const s of ["(,)", "(1e3,)"]) assert.equal(verdicts[NPY_HEADER_VARIANTS.findIndex(([l]) => l === `shape ${s}`)], null, s);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
