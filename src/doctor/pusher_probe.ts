/**
 * A one-shot probe of a Pusher server over a raw WebSocket, step by step, each step under its own timeout:
 * connect, receive `pusher:connection_established`, subscribe to one public channel and wait for
 * `pusher_internal:subscription_succeeded`, send `pusher:ping` and wait for `pusher:pong`, close. It says which step
 * failed and why, which the monitor's self-healing client (src/pusher/connection.ts) deliberately does not.
 *
 * Frames are encoded and decoded by src/pusher/protocol.ts (protocol 7, kick-api.md §3.1–§3.3). The probe also
 * returns every frame the server sent, so the live contract tests can compare their shape with the fake's.
 */
import {
  encodePing,
  encodePong,
  encodeSubscribe,
  parseServerFrame,
  type ServerFrame,
} from "../pusher/protocol.ts";
import type { FailureKind } from "./checklist.ts";

/** The steps of a probe, in order. */
export type PusherProbeStep = "connect" | "handshake" | "subscribe" | "ping";

/** Options of {@link probePusher}. */
export interface PusherProbeOptions {
  /** The Pusher URL (KICK_PUSHER_URL). */
  url: string;
  /** A public channel to subscribe to, e.g. `channel.668`. */
  channel: string;
  /** Limit of each step (default 10,000 ms). */
  stepTimeoutMs?: number;
}

/** What a successful probe saw. */
export interface PusherProbeSuccess {
  ok: true;
  socketId: string;
  /** The server's `activity_timeout`, or null when it announced none. */
  activityTimeoutSeconds: number | null;
  channel: string;
  /** Milliseconds from our `pusher:ping` to the server's `pusher:pong`. */
  pingMs: number;
  /** Every text frame the server sent, in order. */
  frames: string[];
}

/** Where and why a probe failed. */
export interface PusherProbeFailure {
  ok: false;
  step: PusherProbeStep;
  /** `config` when the server refused the URL itself (close codes 4000–4099), else `unavailable` or `failure`. */
  kind: FailureKind;
  problem: string;
  frames: string[];
}

export type PusherProbeResult = PusherProbeSuccess | PusherProbeFailure;

const DEFAULT_STEP_TIMEOUT_MS = 10_000;
/** How long to wait for the close handshake at the end before giving up on it. */
const CLOSE_WAIT_MS = 2_000;

type SocketEvent =
  | { kind: "open" }
  | { kind: "frame"; text: string; frame: ServerFrame }
  | { kind: "error"; message: string }
  | { kind: "close"; code: number; reason: string }
  | { kind: "timeout" };

/** The socket's events as a queue, read one at a time with a timeout. */
class SocketEvents {
  readonly frames: string[] = [];
  readonly #queue: SocketEvent[] = [];
  #wake: (() => void) | null = null;
  #closed = false;

  constructor(socket: WebSocket) {
    socket.onopen = () => this.#push({ kind: "open" });
    socket.onmessage = (message) => {
      const text = typeof message.data === "string" ? message.data : "";
      this.frames.push(text);
      this.#push({ kind: "frame", text, frame: parseServerFrame(text) });
    };
    socket.onerror = (event) => {
      const message = event instanceof ErrorEvent && event.message ? event.message : "socket error";
      this.#push({ kind: "error", message });
    };
    socket.onclose = (event) => {
      this.#closed = true;
      this.#push({ kind: "close", code: event.code, reason: event.reason });
    };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The next event, or `timeout` when none comes within `timeoutMs`. */
  async next(timeoutMs: number): Promise<SocketEvent> {
    if (this.#queue.length === 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, timeoutMs);
      });
      clearTimeout(timer);
      this.#wake = null;
    }
    return this.#queue.shift() ?? { kind: "timeout" };
  }

  #push(event: SocketEvent): void {
    this.#queue.push(event);
    this.#wake?.();
  }
}

/** Runs the probe; never throws. See the module documentation. */
export async function probePusher(options: PusherProbeOptions): Promise<PusherProbeResult> {
  const stepTimeoutMs = options.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
  const where = describeUrl(options.url);
  let socket: WebSocket;
  try {
    socket = new WebSocket(options.url);
  } catch (error) {
    return {
      ok: false,
      step: "connect",
      kind: "config",
      problem: `Cannot open a WebSocket to ${where}: ${errorText(error)}`,
      frames: [],
    };
  }
  const events = new SocketEvents(socket);
  try {
    return await runSteps(socket, events, options.channel, stepTimeoutMs, where);
  } finally {
    await closeSocket(socket, events);
  }
}

async function runSteps(
  socket: WebSocket,
  events: SocketEvents,
  channel: string,
  stepTimeoutMs: number,
  where: string,
): Promise<PusherProbeResult> {
  const fail = (step: PusherProbeStep, kind: FailureKind, problem: string): PusherProbeFailure => ({
    ok: false,
    step,
    kind,
    problem,
    frames: events.frames,
  });

  // 1. The WebSocket connects.
  let lastError: string | null = null;
  for (;;) {
    const event = await events.next(stepTimeoutMs);
    if (event.kind === "open") break;
    if (event.kind === "error") {
      lastError = event.message;
      continue; // the close event follows
    }
    if (event.kind === "close") {
      return fail(
        "connect",
        "unavailable",
        `Cannot connect to ${where}: ${lastError ?? closeText(event)}`,
      );
    }
    if (event.kind === "timeout") {
      return fail(
        "connect",
        "unavailable",
        `Cannot connect to ${where}: no WebSocket connection within ${stepTimeoutMs} ms` +
          (lastError ? ` (${lastError})` : ""),
      );
    }
  }

  // 2. The Pusher handshake (kick-api.md §3.1).
  let socketId = "";
  let activityTimeoutSeconds: number | null = null;
  for (;;) {
    const event = await events.next(stepTimeoutMs);
    const problem = unexpected(event, socket, "pusher:connection_established", stepTimeoutMs);
    if (problem !== null) return fail("handshake", problem.kind, `${where}: ${problem.text}`);
    if (event.kind === "frame" && event.frame.kind === "connection_established") {
      socketId = event.frame.socketId;
      activityTimeoutSeconds = event.frame.activityTimeoutSeconds;
      break;
    }
  }

  // 3. A public channel subscription (kick-api.md §3.2).
  socket.send(encodeSubscribe(channel));
  for (;;) {
    const event = await events.next(stepTimeoutMs);
    if (event.kind === "frame" && event.frame.kind === "subscription_error") {
      return fail(
        "subscribe",
        "failure",
        `${where} refused the subscription to ${channel}: ${event.frame.message}`,
      );
    }
    const problem = unexpected(
      event,
      socket,
      `pusher_internal:subscription_succeeded for ${channel}`,
      stepTimeoutMs,
    );
    if (problem !== null) return fail("subscribe", problem.kind, `${where}: ${problem.text}`);
    if (
      event.kind === "frame" && event.frame.kind === "subscription_succeeded" &&
      event.frame.channel === channel
    ) break;
  }

  // 4. Keepalive: our ping gets a pong (kick-api.md §3.1).
  const pingSentAt = performance.now();
  socket.send(encodePing());
  for (;;) {
    const event = await events.next(stepTimeoutMs);
    const problem = unexpected(event, socket, "pusher:pong", stepTimeoutMs);
    if (problem !== null) return fail("ping", problem.kind, `${where}: ${problem.text}`);
    if (event.kind === "frame" && event.frame.kind === "pong") break;
  }
  const pingMs = Math.round(performance.now() - pingSentAt);

  return { ok: true, socketId, activityTimeoutSeconds, channel, pingMs, frames: events.frames };
}

/**
 * What ends a step early, or null to keep reading: a timeout, a close, or a `pusher:error`. A server
 * `pusher:ping` is answered on the way; other frames (channel events, malformed frames) are passed over.
 */
function unexpected(
  event: SocketEvent,
  socket: WebSocket,
  waitingFor: string,
  stepTimeoutMs: number,
): { kind: FailureKind; text: string } | null {
  switch (event.kind) {
    case "timeout":
      return { kind: "unavailable", text: `no ${waitingFor} within ${stepTimeoutMs} ms` };
    case "close":
      return {
        kind: closeKind(event.code),
        text: `the server closed the socket while we waited for ${waitingFor} (${
          closeText(event)
        })`,
      };
    case "error":
      return {
        kind: "unavailable",
        text: `socket error while waiting for ${waitingFor}: ${event.message}`,
      };
    case "open":
      return null;
    case "frame":
      if (event.frame.kind === "ping") socket.send(encodePong());
      if (event.frame.kind === "error") {
        return {
          kind: "failure",
          text: `pusher:error ${event.frame.code ?? ""} ${JSON.stringify(event.frame.message)} ` +
            `while waiting for ${waitingFor}`,
        };
      }
      return null;
  }
}

/**
 * 4000–4099 mean "do not reconnect unchanged": the URL itself is wrong (4001 unknown app key, 4005 bad path,
 * 4006–4008 protocol or version), so it is a configuration problem. Anything else is the service.
 */
function closeKind(code: number): FailureKind {
  return code >= 4000 && code <= 4099 ? "config" : "unavailable";
}

function closeText(event: { code: number; reason: string }): string {
  return `close code ${event.code}${event.reason ? ` ${JSON.stringify(event.reason)}` : ""}`;
}

/** Closes the socket and waits (briefly) for it to be closed, so nothing is left running. */
async function closeSocket(socket: WebSocket, events: SocketEvents): Promise<void> {
  if (events.closed) return;
  try {
    socket.close(1000, "doctor done");
  } catch {
    // already closing
  }
  const deadline = Date.now() + CLOSE_WAIT_MS;
  while (!events.closed && Date.now() < deadline) {
    await events.next(deadline - Date.now());
  }
}

/** `ws-us2.pusher.com` (scheme, host and port; the app key in the path is not secret, but long). */
function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}`;
  } catch {
    return JSON.stringify(url);
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
