/** DATABASE_URL parsing (src/store/database_url.ts) and the endpoint probe's verdicts (endpoint_probe.ts). */
import assert from "node:assert/strict";
import { parseDatabaseUrl } from "../../src/store/database_url.ts";
import { classify, describeVerdict } from "../../src/store/endpoint_probe.ts";

Deno.test("parseDatabaseUrl: a TCP URL keeps its text for the driver and names host, port and database", () => {
  const url = "postgres://kick:p%40ss@db.example:6432/kick_monitor?sslmode=require";
  const target = parseDatabaseUrl(url);
  assert.equal(target.driverUrl, url);
  assert.deepEqual(target.driverOptions, {});
  assert.deepEqual(target.endpoint, { transport: "tcp", hostname: "db.example", port: 6432 });
  assert.equal(target.address, "db.example:6432");
  assert.equal(target.database, "kick_monitor");
  assert.equal(target.password, "p@ss");
  const defaults = parseDatabaseUrl("postgresql://kick@[::1]/kick");
  assert.deepEqual(defaults.endpoint, { transport: "tcp", hostname: "::1", port: 5432 });
  assert.equal(defaults.address, "[::1]:5432");
  assert.equal(defaults.password, null);
});

Deno.test("parseDatabaseUrl: libpq's Unix-socket forms become postgres.js's host option", () => {
  for (
    const url of [
      "postgres:///kick?host=/var/run/postgresql",
      "postgres://kick:pw@/kick?host=/var/run/postgresql/",
      "postgres://kick@:5432/kick?host=/var/run/postgresql",
    ]
  ) {
    const target = parseDatabaseUrl(url);
    assert.equal(target.driverOptions.host?.replace(/\/$/, ""), "/var/run/postgresql", url);
    assert.deepEqual(target.endpoint, {
      transport: "unix",
      path: "/var/run/postgresql/.s.PGSQL.5432",
    }, url);
    assert.equal(target.database, "kick");
    // The driver never sees "host" as a server setting, and gets a URL it can parse.
    assert.ok(!target.driverUrl.includes("host="), target.driverUrl);
    new URL(target.driverUrl);
  }
  const named = parseDatabaseUrl("postgres://kick@/kick?host=db.internal");
  assert.deepEqual(named.endpoint, { transport: "tcp", hostname: "db.internal", port: 5432 });
});

Deno.test("parseDatabaseUrl: several hosts are left to the driver; garbage is refused without echoing it", () => {
  const multi = parseDatabaseUrl("postgres://kick:pw@h1:5432,h2:5433/kick");
  assert.equal(multi.endpoint, null);
  assert.equal(multi.address, "h1:5432,h2:5433");
  for (
    const bad of [
      "mysql://u:sekrit@h/db",
      "postgres//u:sekrit@h/db",
      "postgres://u:sekrit@h:port/db",
    ]
  ) {
    assert.throws(() => parseDatabaseUrl(bad), (error: Error) => {
      assert.ok(!error.message.includes("sekrit"), error.message);
      return true;
    }, bad);
  }
});

Deno.test("probe verdicts: PostgreSQL's one-byte answers, and what else answers", () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  assert.deepEqual(classify(bytes("N")), { kind: "postgres" });
  assert.deepEqual(classify(bytes("S")), { kind: "postgres" });
  assert.deepEqual(classify(bytes("HTTP/1.1 400 Bad Request\r\n")), {
    kind: "other",
    protocol: "HTTP",
  });
  assert.deepEqual(classify(bytes('INFO {"server_id":"x"}\r\n')), {
    kind: "other",
    protocol: "NATS",
  });
  assert.deepEqual(classify(bytes("SSH-2.0-OpenSSH_9.2\r\n")), { kind: "other", protocol: "SSH" });
  assert.deepEqual(classify(new Uint8Array([0x15, 0x03, 0x01, 0, 2, 2, 70])), {
    kind: "other",
    protocol: "TLS",
  });
  const unknown = classify(new Uint8Array([1, 2, 0x22, 0x41]));
  assert.equal(unknown.kind, "other");
  assert.match(
    describeVerdict(unknown, "h:1")!,
    /answered in an unknown protocol \(it sent "\\x01\\x02\\x22A"\)/,
  );
  assert.deepEqual(classify(new Uint8Array()), { kind: "closed" });
});

Deno.test("probe verdicts: every failure names DATABASE_URL and the address; PostgreSQL is no failure", () => {
  const address = "127.0.0.1:5433";
  assert.equal(describeVerdict({ kind: "postgres" }, address), null);
  assert.equal(
    describeVerdict({ kind: "other", protocol: "HTTP" }, address),
    "DATABASE_URL (127.0.0.1:5433) is not a PostgreSQL server (it answered like HTTP)",
  );
  for (
    const verdict of [
      { kind: "refused" },
      { kind: "not_found" },
      { kind: "unreachable", reason: "no route" },
      { kind: "silent", waitedMs: 5_000 },
      { kind: "closed" },
    ] as const
  ) {
    assert.match(describeVerdict(verdict, address)!, /^DATABASE_URL \(127\.0\.0\.1:5433\)/);
  }
  assert.match(
    describeVerdict({ kind: "refused" }, "/run/pg/.s.PGSQL.5432")!,
    /no server listens on this socket/,
  );
});
