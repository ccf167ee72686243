/**
 * The logger's lines never carry a control or bidi character raw (src/lib/log.ts): its fields hold text Kick's
 * streamers wrote, such as a title change's new title.
 */
import assert from "node:assert/strict";
import { configureLogging, log } from "../../src/lib/log.ts";

const HOSTILE = "live\x1b]0;owned\x07\x9b2J\u202eevil";

function captured(format: "json" | "pretty", fn: () => void): string[] {
  const lines: string[] = [];
  configureLogging({ format, level: "info", write: (line) => lines.push(line) });
  try {
    fn();
  } finally {
    configureLogging({
      format: Deno.stderr.isTerminal() ? "pretty" : "json",
      write: (line) => Deno.stderr.writeSync(new TextEncoder().encode(line + "\n")),
    });
  }
  return lines;
}

// deno-lint-ignore no-control-regex -- looking for control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

Deno.test("log: a pretty line shows a hostile field escaped, never raw", () => {
  const [line] = captured("pretty", () => log.info("transition", { title: HOSTILE }));
  assert.doesNotMatch(line, UNSAFE);
  assert.match(line, /title=.*live\\x1b\]0;owned\\x07\\x9b2J\\u202eevil/);
});

Deno.test("log: a JSON line escapes what JSON.stringify leaves raw, and still parses to the same value", () => {
  const [line] = captured("json", () => log.info("transition", { title: HOSTILE }));
  assert.doesNotMatch(line, UNSAFE);
  assert.equal(JSON.parse(line).title, HOSTILE);
});
