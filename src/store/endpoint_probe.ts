/**
 * Is there a PostgreSQL server at this address? One raw connection and the protocol's cheapest question, the
 * SSLRequest (8 bytes), which every PostgreSQL server and pooler answers with a single byte, `S` or `N`,
 * before any authentication (PostgreSQL protocol, "SSL Session Encryption"). Anything else tells us what is
 * there instead: postgres.js, given an HTTP server, reads "HTTP/1.1 …" as a message of absurd length, waits
 * for the rest, and reconnects at once when the server hangs up, forever (the hang of issue 11, item 1).
 *
 * Only used when a connection is slow or fails (db.ts), so a healthy server never sees the probe.
 */
import type { DatabaseEndpoint } from "./database_url.ts";

/** What answered. */
export type ProbeVerdict =
  | { kind: "postgres" }
  | { kind: "refused" }
  | { kind: "not_found" }
  | { kind: "unreachable"; reason: string }
  | { kind: "silent"; waitedMs: number }
  | { kind: "closed" }
  | { kind: "other"; protocol: string };

// Int32 length 8, Int32 80877103 (1234 << 16 | 5679).
const SSL_REQUEST = new Uint8Array([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/** Asks the endpoint the SSLRequest question, within `timeoutMs` for connecting and answering. */
export async function probeEndpoint(
  endpoint: DatabaseEndpoint,
  options: { timeoutMs: number },
): Promise<ProbeVerdict> {
  const started = performance.now();
  let connection: Deno.Conn | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), options.timeoutMs);
  });
  try {
    const connecting = endpoint.transport === "unix"
      ? Deno.connect({ transport: "unix", path: endpoint.path })
      : Deno.connect({ hostname: endpoint.hostname, port: endpoint.port });
    const connected = await Promise.race([connecting, expired]);
    if (connected === "timeout") {
      connecting.then((late) => late.close(), () => {});
      return { kind: "unreachable", reason: `no connection within ${seconds(options.timeoutMs)}` };
    }
    connection = connected;
    // A server that greets first (NATS, SSH, MySQL, SMTP) has its answer in already; writing anyway is fine.
    await Promise.race([connection.write(SSL_REQUEST).catch(() => 0), expired]);
    const buffer = new Uint8Array(64);
    const read = await Promise.race([connection.read(buffer).catch(() => null), expired]);
    if (read === "timeout") {
      return { kind: "silent", waitedMs: Math.round(performance.now() - started) };
    }
    if (read === null) return { kind: "closed" };
    return classify(buffer.subarray(0, read));
  } catch (error) {
    if (error instanceof Deno.errors.ConnectionRefused) return { kind: "refused" };
    if (error instanceof Deno.errors.NotFound) {
      return endpoint.transport === "unix" ? { kind: "refused" } : { kind: "not_found" };
    }
    if (error instanceof Deno.errors.ConnectionReset) return { kind: "closed" };
    return { kind: "unreachable", reason: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
    try {
      connection?.close();
    } catch {
      // Already closed by the other side.
    }
  }
}

/** Names the protocol of a first answer to the SSLRequest. */
export function classify(bytes: Uint8Array): ProbeVerdict {
  if (bytes.length === 0) return { kind: "closed" };
  const first = bytes[0];
  // "S" or "N" alone; "E" (an error message, from servers too old for SSLRequest) is PostgreSQL too.
  if ((first === 0x53 || first === 0x4e) && bytes.length === 1) return { kind: "postgres" };
  if (first === 0x45 && bytes.length >= 5) return { kind: "postgres" };
  const text = new TextDecoder().decode(bytes.subarray(0, 32));
  const known: [RegExp, string][] = [
    [/^HTTP\/\d/, "HTTP"],
    [/^INFO \{/, "NATS"],
    [/^SSH-/, "SSH"],
    [/^[+-](OK|ERR)/, "Redis or POP3"],
    [/^\* OK/, "IMAP"],
    [/^220[ -]/, "SMTP or FTP"],
    [/^AMQP/, "AMQP"],
  ];
  for (const [pattern, protocol] of known) {
    if (pattern.test(text)) return { kind: "other", protocol };
  }
  // A TLS alert record (content type 21, version 3.x): a TLS-only service.
  if (first === 0x15 && bytes[1] === 0x03) return { kind: "other", protocol: "TLS" };
  // MySQL's greeting: 3-byte length, sequence 0, protocol version 10.
  if (bytes.length > 4 && bytes[3] === 0 && bytes[4] === 0x0a) {
    return { kind: "other", protocol: "MySQL" };
  }
  return { kind: "other", protocol: `an unknown protocol (it sent ${preview(bytes)})` };
}

/**
 * The user-facing reason for a verdict, naming DATABASE_URL and the address, or null for PostgreSQL. The
 * address never holds the user or password (database_url.ts).
 */
export function describeVerdict(verdict: ProbeVerdict, address: string): string | null {
  const where = `DATABASE_URL (${address})`;
  switch (verdict.kind) {
    case "postgres":
      return null;
    case "refused":
      return address.startsWith("/")
        ? `${where}: no server listens on this socket; check that PostgreSQL runs, the "host=" ` +
          "directory and the port"
        : `${where}: connection refused, nothing listens there; check that PostgreSQL runs and the ` +
          "host and port are right";
    case "not_found":
      return `${where}: host not found; check the host name`;
    case "unreachable":
      return `${where} cannot be reached: ${verdict.reason}`;
    case "silent":
      return `${where} accepted the connection but did not answer the PostgreSQL handshake within ` +
        `${seconds(verdict.waitedMs)}; is it a PostgreSQL server?`;
    case "closed":
      return `${where} closed the connection without answering the PostgreSQL handshake; is it a ` +
        "PostgreSQL server (or a proxy with no server behind it)?";
    case "other":
      return verdict.protocol.startsWith("an unknown")
        ? `${where} is not a PostgreSQL server (it answered in ${verdict.protocol})`
        : `${where} is not a PostgreSQL server (it answered like ${verdict.protocol})`;
  }
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/** The first bytes, printable ASCII kept and the rest as \xNN: a server's answer is untrusted. */
function preview(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes.subarray(0, 16)) {
    out += byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c
      ? String.fromCharCode(byte)
      : `\\x${byte.toString(16).padStart(2, "0")}`;
  }
  return `"${out}"`;
}
