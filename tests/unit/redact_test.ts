/** The one redaction function (src/lib/redact.ts): structural for URLs, exact for registered secrets. */
import assert from "node:assert/strict";
import { addSecret, clearSecretsForTests, MASK, redact } from "../../src/lib/redact.ts";

Deno.test("redact: a URL's password is masked whatever its length, the rest of the URL kept", () => {
  clearSecretsForTests();
  const cases: [string, string][] = [
    ["postgres://app:hunter2@db.example:5432/kick", "postgres://app:***@db.example:5432/kick"],
    ["postgres://app:x@db/kick", "postgres://app:***@db/kick"],
    ["postgres://postgres:postgres@127.0.0.1/test", "postgres://postgres:***@127.0.0.1/test"],
    // Raw "@" and "/" in a password (not valid URL syntax, but people write it).
    ["postgres://app:p@ss@db/kick", "postgres://app:***@db/kick"],
    ["postgres://app:pa/ss@db/kick", "postgres://app:***@db/kick"],
    // The Unix-socket form, which WHATWG URL cannot parse.
    [
      "postgres://app:sekrit@/kick?host=/var/run/postgresql",
      "postgres://app:***@/kick?host=/var/run/postgresql",
    ],
    // No password: nothing to hide, the user stays.
    ["postgres://app@db/kick", "postgres://app@db/kick"],
    ["https://example.com:8080/a/b?c=d", "https://example.com:8080/a/b?c=d"],
  ];
  for (const [input, expected] of cases) assert.equal(redact(input), expected, input);
});

Deno.test("redact: secret query parameters are masked, others kept", () => {
  clearSecretsForTests();
  assert.equal(
    redact("GET http://127.0.0.1:9/x?token=abc&limit=5&client_secret=zz&Access-Token=q#frag"),
    "GET http://127.0.0.1:9/x?token=***&limit=5&client_secret=***&Access-Token=***#frag",
  );
  assert.equal(
    redact("postgres://u@h/db?sslmode=require&password=p1&sslkey=/k&application_name=a"),
    "postgres://u@h/db?sslmode=require&password=***&sslkey=***&application_name=a",
  );
  assert.equal(
    redact("https://h/p?key=1&secret=2&api_key=3"),
    "https://h/p?key=***&secret=***&api_key=***",
  );
});

Deno.test("redact: URLs inside messages and JSON are found", () => {
  clearSecretsForTests();
  assert.equal(
    redact('{"msg":"Cannot connect to postgres://a:b@h/d: refused","url":"postgres://a:bb@h/d"}'),
    '{"msg":"Cannot connect to postgres://a:***@h/d: refused","url":"postgres://a:***@h/d"}',
  );
  assert.equal(
    redact('DATABASE_URL="postgres://a:sekrit@h/d" is wrong'),
    'DATABASE_URL="postgres://a:***@h/d" is wrong',
  );
});

Deno.test("redact: registered secrets are masked exactly, also URL-encoded, form-encoded and JSON-escaped", () => {
  clearSecretsForTests();
  const secret = 'kms/SECRET "9f8e"+7d6c';
  addSecret(secret);
  assert.equal(redact(`a ${secret} b`), `a ${MASK} b`);
  assert.equal(redact(`echo ${encodeURIComponent(secret)}`), `echo ${MASK}`);
  assert.equal(redact(JSON.stringify({ v: secret })), `{"v":"${MASK}"}`);
  assert.equal(
    redact(`body client_secret=${new URLSearchParams({ s: secret }).toString().slice(2)}`),
    `body client_secret=${MASK}`,
  );
  // A password given percent-encoded in DATABASE_URL is also hidden decoded.
  addSecret("p%40ss%2Fw0rd");
  assert.equal(redact("server said: p@ss/w0rd"), `server said: ${MASK}`);
  assert.equal(redact("server said: p%40ss%2Fw0rd"), `server said: ${MASK}`);
});

Deno.test("redact: a short or common secret does not mangle every message", () => {
  clearSecretsForTests();
  addSecret("x");
  addSecret("pw");
  addSecret("postgres");
  addSecret("Password");
  const message =
    "Cannot connect to PostgreSQL at postgres://postgres:***@127.0.0.1:5432/x (expired)";
  assert.equal(redact(message), message);
  // …yet as a URL's password it is still masked.
  assert.equal(
    redact("postgres://postgres:postgres@h/x"),
    "postgres://postgres:***@h/x",
  );
  assert.equal(redact("postgres://u:x@h/x"), "postgres://u:***@h/x");
});

Deno.test("redact: text without secrets is returned unchanged", () => {
  clearSecretsForTests();
  addSecret("kms-SECRET-9f8e7d6c5b4a3210");
  for (
    const text of [
      "",
      "plain text",
      "ws://127.0.0.1:1234/app/key?protocol=7&client=js",
      "time=2026-11-25T18:00:00.000Z level=info",
    ]
  ) {
    assert.equal(redact(text), text);
  }
});

Deno.test("redact: user:password@host outside a well-formed URL is masked too", () => {
  clearSecretsForTests();
  assert.equal(
    redact('DATABASE_URL="postgres:/kick:sekrit@db/kick": expected a URL'),
    'DATABASE_URL="postgres:/kick:***@db/kick": expected a URL',
  );
  assert.equal(redact("connect kick:p@ss@db:5432"), "connect kick:***@db:5432");
  // Already masked, or no password: unchanged.
  for (
    const text of [
      "postgres://kick:***@db/kick",
      "git@github.com:org/repo.git",
      "user@example.com",
      "at 12:30 @ noon",
    ]
  ) {
    assert.equal(redact(text), text);
  }
});
