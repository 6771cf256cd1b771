/**
 * What the kernel checks before a message reaches a handler: a complete header (messaging spec 5.3:
 * msg_id, session, username, date, msg_type, version, all strings) and, per request type, the content's
 * required fields with their types. Each check returns the problem in words, or null when the message
 * is well formed; the kernel answers a request with an error reply naming it, and drops (with a log
 * line) what has no reply to carry it.
 */

const HEADER_FIELDS = ["msg_id", "session", "username", "date", "msg_type", "version"] as const;

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function headerProblem(header: unknown): string | null {
  if (!isPlainObject(header)) return `the header is ${describe(header)}, not an object`;
  for (const f of HEADER_FIELDS) {
    if (typeof header[f] !== "string") return `the header's ${f} is ${describe(header[f])}: a header needs string ${HEADER_FIELDS.join(", ")}`;
  }
  if (!header.msg_id) return "the header's msg_id is empty";
  if (!header.msg_type) return "the header's msg_type is empty";
  return null;
}

type Kind = "string" | "boolean" | "integer" | "object";
interface Field {
  kind: Kind;
  required?: boolean;
}

// The fields each request must or may carry, as the messaging spec defines them.
const CONTENT: Record<string, Record<string, Field>> = {
  execute_request: {
    code: { kind: "string", required: true },
    silent: { kind: "boolean" },
    store_history: { kind: "boolean" },
    user_expressions: { kind: "object" },
    allow_stdin: { kind: "boolean" },
    stop_on_error: { kind: "boolean" },
  },
  complete_request: { code: { kind: "string", required: true }, cursor_pos: { kind: "integer" } },
  inspect_request: { code: { kind: "string", required: true }, cursor_pos: { kind: "integer" }, detail_level: { kind: "integer" } },
  is_complete_request: { code: { kind: "string", required: true } },
  history_request: { hist_access_type: { kind: "string" }, output: { kind: "boolean" }, raw: { kind: "boolean" } },
  comm_info_request: { target_name: { kind: "string" } },
  comm_open: { comm_id: { kind: "string", required: true }, target_name: { kind: "string", required: true } },
  comm_msg: { comm_id: { kind: "string", required: true } },
  comm_close: { comm_id: { kind: "string", required: true } },
  shutdown_request: { restart: { kind: "boolean" } },
  kernel_info_request: {},
  interrupt_request: {},
  input_reply: { value: { kind: "string", required: true } },
};

const KIND_WORDS: Record<Kind, string> = { string: "a string", boolean: "a boolean", integer: "a non-negative integer", object: "an object" };

function fits(v: unknown, kind: Kind): boolean {
  if (kind === "integer") return Number.isInteger(v) && (v as number) >= 0;
  if (kind === "object") return isPlainObject(v);
  return typeof v === kind;
}

export function contentProblem(msgType: string, content: unknown): string | null {
  if (!isPlainObject(content)) return `${msgType} content is ${describe(content)}: it must be a JSON object`;
  const fields = Object.hasOwn(CONTENT, msgType) ? CONTENT[msgType] : {};
  for (const [name, f] of Object.entries(fields)) {
    if (!Object.hasOwn(content, name) || content[name] === undefined) {
      if (f.required) return `${msgType} content needs '${name}' (${KIND_WORDS[f.kind]})`;
      continue;
    }
    const v = content[name];
    // null for an optional field means "the default", as jupyter_client's own messages sometimes send
    if (v === null && !f.required) continue;
    if (!fits(v, f.kind)) return `${msgType} content field '${name}' must be ${KIND_WORDS[f.kind]}, got ${describe(v)}`;
  }
  return null;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (v === undefined) return "missing";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v)}`;
  if (typeof v === "object") return "an object";
  return `the ${typeof v} ${String(v)}`;
}
