/**
 * The HTTP receiver of Kick's webhooks (interface.md "Kick's official webhooks"): its own listener
 * (KICK_WEBHOOK_LISTEN, apart from the health listener), one path (KICK_WEBHOOK_PATH), and the decisions of
 * src/kick/webhook_events.ts around a bounded body read.
 *
 * - Answers quickly (§1.9.5): the body is read within {@link BODY_READ_TIMEOUT_MS} and at most
 *   {@link MAX_WEBHOOK_BODY_BYTES}; nothing waits on the database. A key re-fetch after a failing signature
 *   waits at most 700 ms (src/kick/webhook_key.ts).
 * - `200` only once `onEvent` has returned (the caller journals the event durably first); if it throws, `500`,
 *   so Kick may deliver it again.
 * - Delivery is at least once (§1.9.5): a `Kick-Event-Message-Id` already accepted by this process is answered
 *   `200` and passed on with `duplicate: true` (the caller dedupes durably, across restarts).
 * - Everything else is counted and passed to `onCounted`: unknown types and versions (`200`), refusals (`400`,
 *   `401`, `404`, `405`, `408`, `413`).
 */
import { log } from "../lib/log.ts";
import {
  checkWebhookRequest,
  MAX_WEBHOOK_BODY_BYTES,
  type WebhookDelivery,
  type WebhookEvent,
} from "./webhook_events.ts";
import type { WebhookVerifier } from "./webhook_signature.ts";

/** A body not complete after this long is refused (408): Kick sends a few KB at once. */
export const BODY_READ_TIMEOUT_MS = 1_000;
/** Message ids remembered for the in-process duplicate flag (the durable dedupe is the caller's). */
export const REMEMBERED_MESSAGE_IDS = 10_000;

/** An accepted delivery, as passed to `onEvent`. */
export interface ReceivedDelivery extends WebhookDelivery {
  /** When the request arrived. */
  receivedAt: Date;
  /** This message id was already accepted by this process (a redelivery). */
  duplicate: boolean;
  /** The raw body, as received (for the event log). */
  body: string;
}

/** A request that was not an accepted event: ignored (unknown type or version) or refused. */
export interface CountedRequest {
  outcome: "ignored" | "refused";
  status: number;
  reason: string;
  /** `Kick-Event-Type`, when the request had a readable one. */
  type: string | null;
}

/** Options of {@link startWebhookReceiver}. */
export interface WebhookReceiverOptions {
  /** KICK_WEBHOOK_LISTEN; port 0 picks a free one. */
  listen: { hostname: string; port: number };
  /** KICK_WEBHOOK_PATH, e.g. `/kick/webhook`. */
  path: string;
  /** KICK_WEBHOOK_MAX_AGE. */
  maxAgeSeconds: number;
  /** The signature check (src/kick/webhook_key.ts's WebhookKeys). */
  keys: WebhookVerifier;
  /**
   * Called for every accepted delivery, duplicates included (flagged); the answer waits for it. Throwing (or
   * rejecting) answers 500.
   */
  onEvent: (event: WebhookEvent, delivery: ReceivedDelivery) => void | Promise<void>;
  /** Called for every request that is not an accepted event. */
  onCounted?: (request: CountedRequest) => void;
  /** Clock; `() => new Date()` by default. */
  now?: () => Date;
}

/** Counters since the receiver started. */
export interface WebhookReceiverStats {
  accepted: number;
  duplicates: number;
  ignored: number;
  /** Refusals by status. */
  refused: Record<number, number>;
  /** `onEvent` threw. */
  failed: number;
  /** When the last event was accepted, or null. */
  lastAcceptedAt: Date | null;
}

/** A running receiver. */
export interface WebhookReceiver {
  /** `http://host:port/path`, with the port actually bound. */
  readonly url: string;
  readonly port: number;
  readonly stats: WebhookReceiverStats;
  /** Stops listening; requests in flight are answered first. */
  close(): Promise<void>;
}

/**
 * Starts the receiver on its own listener. Throws when the address cannot be bound (Deno's AddrInUse and
 * friends, for the caller to report as a configuration problem).
 *
 * @example
 * ```ts
 * const receiver = startWebhookReceiver({
 *   listen: config.webhook.listen!, path: config.webhook.path, maxAgeSeconds: config.webhook.maxAgeSeconds,
 *   keys, onEvent: (event, delivery) => journal(event, delivery),
 * });
 * ```
 */
export function startWebhookReceiver(options: WebhookReceiverOptions): WebhookReceiver {
  const stats: WebhookReceiverStats = {
    accepted: 0,
    duplicates: 0,
    ignored: 0,
    refused: {},
    failed: 0,
    lastAcceptedAt: null,
  };
  const seen = new RememberedIds(REMEMBERED_MESSAGE_IDS);
  const now = options.now ?? (() => new Date());

  const count = (request: CountedRequest): Response => {
    if (request.outcome === "ignored") stats.ignored++;
    else stats.refused[request.status] = (stats.refused[request.status] ?? 0) + 1;
    const fields = { status: request.status, reason: request.reason, type: request.type };
    if (request.outcome === "ignored") log.debug("Webhook delivery of a type not read", fields);
    else log.warn("Refused a webhook request", fields);
    try {
      options.onCounted?.(request);
    } catch (error) {
      log.error("onCounted failed", { error: String(error) });
    }
    return answer(
      request.status,
      request.outcome === "ignored" ? { ok: true } : {
        error: request.reason,
      },
    );
  };

  const handle = async (request: Request): Promise<Response> => {
    const receivedAt = now();
    const url = new URL(request.url);
    const type = request.headers.get("Kick-Event-Type");
    if (url.pathname !== options.path) {
      return count({ outcome: "refused", status: 404, reason: "not the webhook path", type });
    }
    const body = await readBody(request);
    if (typeof body === "number") {
      const reason = body === 413
        ? `body over ${MAX_WEBHOOK_BODY_BYTES} bytes`
        : `body not received within ${BODY_READ_TIMEOUT_MS} ms`;
      return count({ outcome: "refused", status: body, reason, type });
    }
    const verdict = await checkWebhookRequest(
      { method: request.method, headers: request.headers, body },
      { now: receivedAt, maxAgeSeconds: options.maxAgeSeconds, verifier: options.keys },
    );
    if (verdict.outcome === "refused") {
      return count({ outcome: "refused", status: verdict.status, reason: verdict.reason, type });
    }
    if (verdict.outcome === "ignored") {
      return count({ outcome: "ignored", status: 200, reason: verdict.reason, type });
    }
    const duplicate = seen.has(verdict.delivery.messageId);
    seen.add(verdict.delivery.messageId);
    const delivery: ReceivedDelivery = {
      ...verdict.delivery,
      receivedAt,
      duplicate,
      body: new TextDecoder().decode(body),
    };
    try {
      await options.onEvent(verdict.event, delivery);
    } catch (error) {
      stats.failed++;
      // Not taken: a redelivery must not be flagged as a duplicate of what was never kept.
      if (!duplicate) seen.delete(verdict.delivery.messageId);
      log.error("Could not keep a webhook event; answering 500 so Kick may deliver it again", {
        messageId: delivery.messageId,
        error: error instanceof Error ? error.message : String(error),
      });
      return answer(500, { error: "not stored" });
    }
    stats.accepted++;
    if (duplicate) stats.duplicates++;
    stats.lastAcceptedAt = receivedAt;
    return answer(200, { ok: true });
  };

  const server = Deno.serve(
    { hostname: options.listen.hostname, port: options.listen.port, onListen() {} },
    (request) =>
      handle(request).catch((error) => {
        log.error("Webhook receiver failed on a request", { error: String(error) });
        return answer(500, { error: "internal error" });
      }),
  );
  const port = server.addr.port;
  const host = server.addr.hostname.includes(":")
    ? `[${server.addr.hostname}]`
    : server.addr.hostname;
  let closed: Promise<void> | null = null;
  return {
    url: `http://${host}:${port}${options.path}`,
    port,
    stats,
    close(): Promise<void> {
      closed ??= server.shutdown();
      return closed;
    },
  };
}

function answer(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** The body's bytes, or 413 (too long) / 408 (too slow). Never reads more than the limit plus one chunk. */
async function readBody(request: Request): Promise<Uint8Array | 408 | 413> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (declared > MAX_WEBHOOK_BODY_BYTES) {
    await request.body?.cancel().catch(() => {});
    return 413;
  }
  if (request.body === null) return new Uint8Array();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), BODY_READ_TIMEOUT_MS);
  });
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), timeout]);
      if (next === "timeout") {
        await reader.cancel().catch(() => {});
        return 408;
      }
      if (next.done) break;
      length += next.value.byteLength;
      if (length > MAX_WEBHOOK_BODY_BYTES) {
        await reader.cancel().catch(() => {});
        return 413;
      }
      chunks.push(next.value);
    }
  } finally {
    clearTimeout(timer);
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** A set of the last `capacity` ids added (oldest forgotten first). */
class RememberedIds {
  readonly #ids = new Set<string>();
  constructor(readonly capacity: number) {}
  has(id: string): boolean {
    return this.#ids.has(id);
  }
  add(id: string): void {
    this.#ids.delete(id);
    this.#ids.add(id);
    if (this.#ids.size > this.capacity) {
      this.#ids.delete(this.#ids.values().next().value!);
    }
  }
  delete(id: string): void {
    this.#ids.delete(id);
  }
}
