/** `.env.example`, the file the README's "Testing against the real Kick.com" starts from, stays complete. */
import assert from "node:assert/strict";
import { parse as parseDotenv } from "dotenv";
import { DEFAULT_PUSHER_URL, validateSettings, VARIABLE_NAMES } from "../../src/config.ts";

const text = Deno.readTextFileSync(new URL("../../.env.example", import.meta.url));

Deno.test(".env.example names every variable of src/config.ts, each with a comment", () => {
  const lines = text.split("\n");
  for (const name of VARIABLE_NAMES) {
    const index = lines.findIndex((line) => new RegExp(`^(# )?${name}=`).test(line));
    assert.ok(index >= 0, `.env.example does not mention ${name}`);
    // A comment somewhere in the block above it (blank lines end a block).
    let above = index - 1;
    while (above >= 0 && /^(# )?[A-Z_]+=/.test(lines[above])) above--;
    assert.ok(above >= 0 && lines[above].startsWith("#"), `${name} has no comment above it`);
  }
  assert.ok(text.includes(DEFAULT_PUSHER_URL));
});

Deno.test(".env.example sets nothing but empty credentials, and is valid as it is", () => {
  const values = parseDotenv(text);
  assert.deepEqual(values, { KICK_CLIENT_ID: "", KICK_CLIENT_SECRET: "" });
  // Uncommenting the documented defaults gives a valid configuration.
  const uncommented = parseDotenv(text.replace(/^# ([A-Z_]+=)/gm, "$1"));
  delete uncommented.DATABASE_URL; // an example server, not a default
  const result = validateSettings(
    Object.fromEntries(Object.entries(uncommented).filter(([, value]) => value !== "")),
  );
  assert.deepEqual(result.problems, []);
});
