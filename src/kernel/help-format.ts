/**
 * A Help (src/kernel/help.ts) as the text/plain and text/markdown of an inspect reply or a `name?`
 * page: the signature, the doc, each options list as `name: type = default — meaning`, then the
 * examples (fenced ```ts in markdown, indented in plain text).
 */
import { optionHead, type Help } from "./help.js";

/** Marks the option under the cursor (it is also listed first). */
const CURRENT = "▸ ";

export function formatHelp(h: Help): { plain: string; markdown: string } {
  const plain: string[] = [h.signature];
  const markdown: string[] = [fence(h.signature)];
  if (h.doc) {
    plain.push(h.doc);
    markdown.push(h.doc);
  }
  for (const s of h.sections) {
    plain.push([`${s.title}${s.code ? ` (${s.code})` : ""}:${s.note ? ` ${s.note}` : ""}`, ...s.options.map((o) => `  ${mark(h, o.name)}${optionHead(o)}${o.meaning ? ` — ${o.meaning}` : ""}`)].join("\n"));
    markdown.push(`**${s.title}**${s.code ? ` (${codeSpan(s.code)})` : ""}${s.note ? ` — ${s.note}` : ""}\n\n` + s.options.map((o) => `- ${mark(h, o.name)}${codeSpan(optionHead(o))}${o.meaning ? ` — ${o.meaning}` : ""}`).join("\n"));
  }
  h.examples.forEach((code, i) => {
    const title = h.examples.length > 1 ? `Example ${i + 1}` : "Example";
    plain.push(`${title}:\n` + code.split("\n").map((l) => (l ? `    ${l}` : "")).join("\n"));
    markdown.push(`**${title}**\n\n${fence(code)}`);
  });
  return { plain: plain.join("\n\n"), markdown: markdown.join("\n\n") };
}

function mark(h: Help, name: string): string {
  return h.current === name ? CURRENT : "";
}

/** Inline code whose backtick run outlasts any inside it (a default written as `bits`). */
function codeSpan(code: string): string {
  const longest = Math.max(0, ...[...code.matchAll(/`+/g)].map((m) => m[0].length));
  const f = "`".repeat(longest + 1);
  const pad = longest > 0 ? " " : "";
  return `${f}${pad}${code}${pad}${f}`;
}

/** A ```ts block whose fence outlasts any backtick run in the code. */
function fence(code: string): string {
  const longest = Math.max(2, ...[...code.matchAll(/`+/g)].map((m) => m[0].length));
  const f = "`".repeat(longest + 1);
  return `${f}ts\n${code}\n${f}`;
}
