import assert from "node:assert/strict";
import { escapeForTerminal } from "../../src/lib/terminal.ts";

Deno.test("escapeForTerminal: C0, DEL and C1 controls become visible escapes", () => {
  assert.equal(escapeForTerminal("a\x1b[2Jb"), "a\\x1b[2Jb");
  assert.equal(escapeForTerminal("\x00\x07\t\n\r"), "\\x00\\x07\\x09\\x0a\\x0d");
  assert.equal(escapeForTerminal("x\x7fy"), "x\\x7fy");
  assert.equal(escapeForTerminal("\x9b31m\x85"), "\\x9b31m\\x85");
});

Deno.test("escapeForTerminal: bidi controls become visible escapes", () => {
  const bidi = [0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2069];
  for (const code of bidi) {
    const escaped = escapeForTerminal(`a${String.fromCharCode(code)}b`);
    assert.equal(escaped, `a\\u${code.toString(16).padStart(4, "0")}b`);
  }
});

Deno.test("escapeForTerminal: ordinary text, accents, emoji and other scripts are untouched", () => {
  for (
    const text of ["react andy", "Café ☕ 🎰", "مرحبا", "日本語", "back\\slash", "a\u00a0b", ""]
  ) {
    assert.equal(escapeForTerminal(text), text);
  }
});

Deno.test("escapeForTerminal: the result never holds a control or bidi character", () => {
  let all = "";
  for (let code = 0; code < 0x2100; code++) all += String.fromCharCode(code);
  const escaped = escapeForTerminal(all);
  assert.doesNotMatch(
    escaped,
    // deno-lint-ignore no-control-regex -- looking for control characters is the point
    /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/,
  );
});
