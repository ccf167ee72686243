/**
 * The few pieces of PostgreSQL's wire protocol (version 3.0, "Frontend/Backend Protocol" in the PostgreSQL
 * manual, chapter 55) that the embedded database's socket needs: cutting the client's byte stream into
 * messages, the handshake answers we write ourselves, and reading the transaction status out of PGlite's
 * answers. Pure: bytes in, bytes or values out.
 */

/** Protocol 3.0 in a StartupMessage. */
const PROTOCOL_3_0 = 196608;
/** Codes of the untyped requests a client may send before its StartupMessage. */
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
/** Larger frontend messages are refused: nothing kick-monitor or psql sends comes near it. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** A message of the startup phase (no type byte). */
export type StartupPacket =
  | { kind: "ssl" }
  | { kind: "gssenc" }
  | { kind: "cancel" }
  | { kind: "startup"; minorVersion: number; parameters: Record<string, string> }
  | { kind: "unsupported"; code: number };

/** What `takeMessage` found at the start of a buffer. */
export type Taken<T> =
  | { kind: "incomplete" }
  | { kind: "invalid"; reason: string }
  | { kind: "message"; message: T; size: number };

/** Reads one startup-phase packet (length, code, body) from the start of `buffer`. */
export function takeStartupPacket(buffer: Uint8Array): Taken<StartupPacket> {
  if (buffer.length < 8) return { kind: "incomplete" };
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const length = view.getInt32(0);
  if (length < 8 || length > 10_000) {
    return { kind: "invalid", reason: `startup packet of ${length} bytes` };
  }
  if (buffer.length < length) return { kind: "incomplete" };
  const code = view.getInt32(4);
  const size = length;
  if (code === SSL_REQUEST) return { kind: "message", message: { kind: "ssl" }, size };
  if (code === GSSENC_REQUEST) return { kind: "message", message: { kind: "gssenc" }, size };
  if (code === CANCEL_REQUEST) return { kind: "message", message: { kind: "cancel" }, size };
  if (code >>> 16 !== PROTOCOL_3_0 >>> 16) {
    return { kind: "message", message: { kind: "unsupported", code }, size };
  }
  // Zero-terminated name/value pairs, then one more zero.
  const parameters: Record<string, string> = {};
  const strings = cStrings(buffer.subarray(8, length));
  for (let i = 0; i + 1 < strings.length; i += 2) {
    if (strings[i] === "") break;
    parameters[strings[i]] = strings[i + 1];
  }
  return {
    kind: "message",
    message: { kind: "startup", minorVersion: code & 0xffff, parameters },
    size,
  };
}

/** A typed frontend message: its type byte (`Q`, `P`, `B`, `S`, `X`, …) and its bytes, type byte included. */
export interface FrontendMessage {
  /** The type byte, as a one-character string. */
  type: string;
  /** The whole message, type byte and length included. */
  bytes: Uint8Array;
}

/** Reads one typed message (type byte, length, body) from the start of `buffer`. */
export function takeMessage(buffer: Uint8Array): Taken<FrontendMessage> {
  if (buffer.length < 5) return { kind: "incomplete" };
  const length = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength).getInt32(1);
  if (length < 4 || length > MAX_MESSAGE_BYTES) {
    return { kind: "invalid", reason: `message of ${length} bytes` };
  }
  if (buffer.length < 1 + length) return { kind: "incomplete" };
  return {
    kind: "message",
    message: { type: String.fromCharCode(buffer[0]), bytes: buffer.subarray(0, 1 + length) },
    size: 1 + length,
  };
}

/** The statement name of a Parse message (`""` for the unnamed statement); null for other messages. */
export function parsedStatementName(message: FrontendMessage): string | null {
  if (message.type !== "P") return null;
  return cStrings(message.bytes.subarray(5))[0] ?? "";
}

/** A transaction status, as ReadyForQuery reports it: idle, in a transaction, in a failed transaction. */
export type TransactionStatus = "I" | "T" | "E";

/**
 * The status of the last ReadyForQuery in a run of complete backend messages, or null when there is none
 * (the client's Sync, or its simple Query, has not been answered yet).
 */
export function lastReadyStatus(output: Uint8Array): TransactionStatus | null {
  const view = new DataView(output.buffer, output.byteOffset, output.byteLength);
  let status: TransactionStatus | null = null;
  for (let at = 0; at + 5 <= output.length;) {
    const length = view.getInt32(at + 1);
    if (length < 4) break;
    if (output[at] === 0x5a && length === 5 && at + 5 < output.length) {
      status = String.fromCharCode(output[at + 5]) as TransactionStatus;
    }
    at += 1 + length;
  }
  return status;
}

/**
 * What the server says after a StartupMessage, as a trusting PostgreSQL would: AuthenticationOk, the
 * parameters, the key for cancel requests, ReadyForQuery (idle). The client's own parameters are not
 * applied: the session is shared (see embedded_server.ts).
 */
export function greeting(parameters: Record<string, string>, processId: number): Uint8Array {
  const parts = [backendMessage("R", int32(0))];
  for (const [name, value] of Object.entries(parameters)) {
    parts.push(backendMessage("S", concat([cString(name), cString(value)])));
  }
  parts.push(backendMessage("K", concat([int32(processId), int32(0)])));
  parts.push(readyForQuery("I"));
  return concat(parts);
}

/** ReadyForQuery with a transaction status. */
export function readyForQuery(status: TransactionStatus): Uint8Array {
  return backendMessage("Z", new TextEncoder().encode(status));
}

/** NegotiateProtocolVersion: the client asked for 3.`minor`; we speak 3.0 and know none of its options. */
export function negotiateProtocolVersion(): Uint8Array {
  return backendMessage("v", concat([int32(PROTOCOL_3_0), int32(0)]));
}

/** An ErrorResponse with a severity (`ERROR`, `FATAL`), an SQLSTATE and a message. */
export function errorResponse(severity: string, code: string, message: string): Uint8Array {
  return backendMessage(
    "E",
    concat([
      field("S", severity),
      field("V", severity),
      field("C", code),
      field("M", message),
      new Uint8Array([0]),
    ]),
  );
}

function field(tag: string, value: string): Uint8Array {
  return concat([new TextEncoder().encode(tag), cString(value)]);
}

function backendMessage(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + body.length);
  out[0] = type.charCodeAt(0);
  new DataView(out.buffer).setInt32(1, 4 + body.length);
  out.set(body, 5);
  return out;
}

function int32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setInt32(0, value);
  return out;
}

function cString(text: string): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

function cStrings(bytes: Uint8Array): string[] {
  const decoder = new TextDecoder();
  const strings: string[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0) continue;
    strings.push(decoder.decode(bytes.subarray(start, i)));
    start = i + 1;
  }
  return strings;
}

/** The byte arrays one after the other. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
