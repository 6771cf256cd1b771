/**
 * The Jupyter wire protocol (messaging spec 5.3), shared by the kernel and the headless runner:
 * connection files, message framing around the `<IDS|MSG>` delimiter, and HMAC signing. Verification
 * compares in constant time so a forged signature cannot be found byte by byte from reply timings.
 */
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { QuantLabError, check } from "../errors.js";
import { headerProblem } from "./validate.js";

export const PROTOCOL_VERSION = "5.3";
export const DELIMITER = "<IDS|MSG>";

export interface ConnectionInfo {
  transport: "tcp" | "ipc";
  ip: string;
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
  key: string;
  signature_scheme: string;
  kernel_name?: string;
}

export type Channel = "shell" | "iopub" | "stdin" | "control" | "hb";

export interface Header {
  msg_id: string;
  session: string;
  username: string;
  date: string;
  msg_type: string;
  version: string;
}

export interface Message<C = Record<string, any>> {
  identities: Buffer[];
  header: Header;
  parent_header: Partial<Header>;
  metadata: Record<string, unknown>;
  content: C;
  buffers: Buffer[];
  /** The HMAC as received (empty without a key): the kernel's replay guard records it. */
  signature?: string;
}

/**
 * How deeply a message's JSON may nest. Real messages (widget state included) stay far below it; a
 * value nested 200,000 deep is refused before it is parsed, so it can cost neither a deep recursion in
 * a handler nor the time to walk it.
 */
export const MAX_JSON_DEPTH = 100;

/** True when the JSON text in `bytes` opens more than `max` arrays or objects inside each other. */
export function nestsDeeperThan(bytes: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (inString) {
      if (b === 0x5c) i++; // backslash: skip the escaped byte
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x7b || b === 0x5b) {
      if (++depth > max) return true;
    } else if (b === 0x7d || b === 0x5d) depth--;
  }
  return false;
}

export function readConnectionFile(path: string): ConnectionInfo {
  let info: ConnectionInfo;
  try {
    info = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new QuantLabError("BAD_FILE", `cannot read the connection file ${path}: ${(e as Error).message}`);
  }
  for (const p of ["shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"] as const) {
    check(Number.isInteger(info[p]), "BAD_FILE", `connection file ${path} has no integer ${p}`);
  }
  info.transport ??= "tcp";
  info.ip ??= "127.0.0.1";
  info.key ??= "";
  info.signature_scheme ??= "hmac-sha256";
  check(
    info.key === "" || info.signature_scheme === "hmac-sha256",
    "UNSUPPORTED",
    `signature scheme '${info.signature_scheme}' in ${path} is not supported: use hmac-sha256`,
  );
  return info;
}

/** The zeromq address of one channel, e.g. `tcp://127.0.0.1:5555` or `ipc://kernel-ipc-5555`. */
export function address(info: ConnectionInfo, channel: Channel): string {
  const port = info[`${channel === "hb" ? "hb" : channel}_port` as keyof ConnectionInfo];
  return info.transport === "ipc" ? `ipc://${info.ip}-${port}` : `tcp://${info.ip}:${port}`;
}

/** Signs and verifies messages with one connection's key; an empty key disables both. */
export class Signer {
  private readonly key: Buffer;
  constructor(key: string) {
    this.key = Buffer.from(key, "utf8");
  }
  get enabled(): boolean {
    return this.key.length > 0;
  }
  sign(parts: Buffer[]): string {
    if (!this.enabled) return "";
    const h = createHmac("sha256", this.key);
    for (const p of parts) h.update(p);
    return h.digest("hex");
  }
  verify(signature: string, parts: Buffer[]): boolean {
    if (!this.enabled) return true;
    const expected = Buffer.from(this.sign(parts), "latin1");
    const got = Buffer.from(signature, "latin1");
    return got.length === expected.length && timingSafeEqual(got, expected);
  }
}

export function newHeader(msgType: string, session: string, username = "quantlab"): Header {
  return { msg_id: randomUUID(), session, username, date: new Date().toISOString(), msg_type: msgType, version: PROTOCOL_VERSION };
}

/** Frames a message for the wire: identities, delimiter, signature, four JSON parts, buffers. */
export function encode(signer: Signer, msg: Omit<Message, "buffers"> & { buffers?: Buffer[] }): Buffer[] {
  const parts = [msg.header, msg.parent_header, msg.metadata, msg.content].map((p) => Buffer.from(JSON.stringify(p), "utf8"));
  return [...msg.identities, Buffer.from(DELIMITER), Buffer.from(signer.sign(parts)), ...parts, ...(msg.buffers ?? [])];
}

/**
 * Parses wire frames. Throws QuantLabError("PROTOCOL") for a message without the delimiter, with a bad
 * signature, with invalid or too deeply nested JSON, or with an incomplete header; the caller logs and
 * drops it. `strict` (the kernel's side) checks every header field and leaves the content as sent,
 * so that a request whose content is not an object can be answered with an error; otherwise such
 * content reads as `{}`.
 */
export function decode(signer: Signer, frames: Buffer[], opts: { strict?: boolean } = {}): Message {
  const at = frames.findIndex((f) => f.length === DELIMITER.length && f.toString() === DELIMITER);
  check(at >= 0 && frames.length >= at + 6, "PROTOCOL", "message without the <IDS|MSG> delimiter or with missing parts");
  const signature = frames[at + 1].toString("latin1");
  const parts = frames.slice(at + 2, at + 6);
  check(signer.verify(signature, parts), "PROTOCOL", "message signature does not verify");
  check(!parts.some((p) => nestsDeeperThan(p, MAX_JSON_DEPTH)), "PROTOCOL", `message JSON nests deeper than ${MAX_JSON_DEPTH} levels`);
  let json: any[];
  try {
    json = parts.map((p) => JSON.parse(p.toString("utf8")));
  } catch {
    throw new QuantLabError("PROTOCOL", "message part is not valid JSON");
  }
  const [header, parent_header, metadata, content] = json;
  if (opts.strict) {
    const problem = headerProblem(header);
    check(problem === null, "PROTOCOL", () => `malformed header: ${problem}`);
  } else check(header && typeof header.msg_type === "string", "PROTOCOL", "message header has no msg_type");
  const object = (v: unknown): Record<string, unknown> => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
  return {
    identities: frames.slice(0, at),
    header,
    parent_header: object(parent_header),
    metadata: object(metadata),
    content: opts.strict ? content : object(content),
    buffers: frames.slice(at + 6),
    signature,
  };
}

/**
 * zeromq 6 refuses a second send while one is in flight ("socket is busy writing"), and replies,
 * streams and status messages are produced concurrently; this queue serializes sends per socket.
 */
export class SendQueue {
  private tail: Promise<void> = Promise.resolve();
  constructor(private readonly socket: { send(frames: Buffer[]): Promise<void> }, private readonly onError: (e: unknown) => void) {}
  send(frames: Buffer[]): Promise<void> {
    const next = this.tail.then(() => this.socket.send(frames)).catch(this.onError);
    this.tail = next;
    return next;
  }
}
