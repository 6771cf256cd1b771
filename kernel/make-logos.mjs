#!/usr/bin/env node
// Draws the kernelspec logos (kernel/logo-32x32.png, kernel/logo-64x64.png) with no image library:
// a blue tile with a white "ruler" (ticks of quantization levels), written as PNG through node:zlib.
// Run it again only to change the design: `node kernel/make-logos.mjs`.
import { writeFileSync } from "node:fs";
import { deflateSync } from "node:zlib";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

function logo(size) {
  const s = size / 32;
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0; // filter: none
    for (let x = 0; x < size; x++) {
      const u = x / s, v = y / s;
      const corner = Math.min(u, 31.99 - u) < 4 && Math.min(v, 31.99 - v) < 4 && Math.hypot(Math.min(u, 31.99 - u) - 4, Math.min(v, 31.99 - v) - 4) > 4;
      let rgba = corner ? [0, 0, 0, 0] : [37, 99, 235, 255];
      const baseline = v >= 21 && v < 23 && u >= 5 && u < 27;
      const tick = u >= 5 && u < 27 && Math.floor(u - 5) % 3 === 0 && v >= (Math.floor((u - 5) / 3) % 2 ? 13 : 8) && v < 21;
      if (!corner && (baseline || tick)) rgba = [255, 255, 255, 255];
      raw.set(rgba, y * (size * 4 + 1) + 1 + x * 4);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}

const here = dirname(fileURLToPath(import.meta.url));
for (const size of [32, 64]) writeFileSync(join(here, `logo-${size}x${size}.png`), logo(size));
