/**
 * Making untrusted text safe to print on a terminal. Stream titles and categories are written by streamers: an
 * ESC byte in one would reach the operator's terminal as an escape sequence (change the title bar, rewrite what
 * was printed, in old terminals even answer back), and bidi controls can make text read differently from what it
 * is. Human-readable output passes every user-controlled string through {@link escapeForTerminal}; `--json`
 * output is JSON (which escapes the C0 controls); the logger escapes the rest of its lines with these too.
 */

/**
 * C0 controls (U+0000–U+001F), DEL (U+007F), C1 controls (U+0080–U+009F) and the bidi controls: LRM/RLM
 * (U+200E/F), the embeddings and overrides (U+202A–U+202E), the isolates (U+2066–U+2069) and the Arabic letter
 * mark (U+061C).
 */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Returns `text` with every control and bidi character replaced by a visible escape: `\x1b` for a byte-sized
 * code point, `\u202e` above. Everything else (any other Unicode text, emoji, backslashes) is left as it is.
 *
 * @example
 * ```ts
 * escapeForTerminal("live\x1b[2J now"); // "live\\x1b[2J now"
 * escapeForTerminal("abc\u202edef"); // "abc\\u202edef"
 * ```
 */
export function escapeForTerminal(text: string): string {
  return text.replace(UNSAFE, (char) => {
    const code = char.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/**
 * Returns a JSON text with every control and bidi character that JSON.stringify leaves as it is (DEL, the C1
 * controls, the bidi controls; it escapes C0 itself) written as a `\uXXXX` escape: the same JSON value, safe
 * to print on a terminal (a JSON log line read with `journalctl` or on the console).
 */
export function escapeJsonForTerminal(json: string): string {
  return json.replace(UNSAFE, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
