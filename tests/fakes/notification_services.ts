/**
 * Real-shaped fakes of the notification services, on loopback: Discord webhooks (execute with ?wait=true,
 * edit, 429 with retry_after and X-RateLimit-* headers, 404 Unknown Webhook), the Telegram Bot API, ntfy,
 * Slack incoming webhooks, a Standard Webhooks receiver that verifies signatures, and the Apprise API.
 * Each records what it received; the rate-limited ones count requests that arrived inside a wait they had
 * announced (`early`), which a well-behaved client never sends.
 */

/** A request as a fake saw it. */
export interface Received {
  method: string;
  path: string;
  search: string;
  headers: Headers;
  body: string;
  json: unknown;
  at: number;
}

/** A running fake. */
export interface Fake {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  port: number;
  received: Received[];
  close(): Promise<void>;
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function serve(handle: (request: Received) => Response | Promise<Response>): Promise<Fake> {
  const received: Received[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const url = new URL(request.url);
      const body = await request.text();
      let parsed: unknown = null;
      try {
        parsed = JSON.parse(body);
      } catch {
        parsed = null;
      }
      const entry: Received = {
        method: request.method,
        path: url.pathname,
        search: url.search,
        headers: request.headers,
        body,
        json: parsed,
        at: performance.now(),
      };
      received.push(entry);
      return await handle(entry);
    },
  );
  const port = server.addr.port;
  return Promise.resolve({
    origin: `http://127.0.0.1:${port}`,
    port,
    received,
    close: () => server.shutdown(),
  });
}

/** Options of {@link startFakeDiscord}. */
export interface FakeDiscordOptions {
  /** Requests allowed per window (X-RateLimit-Limit); default 5. */
  limit?: number;
  /** Window length in ms; default 2000 (Discord's webhook bucket is about 5 per 2 s). */
  windowMs?: number;
}

/** The fake Discord, with its webhook ids and tokens and its rate-limit bookkeeping. */
export interface FakeDiscord extends Fake {
  /** A webhook's execute URL on this fake. */
  webhookUrl(id: string, token: string): string;
  /** Registers a webhook. */
  addWebhook(id: string, token: string): void;
  /** Deletes a webhook: its URL answers 404 Unknown Webhook (code 10015). */
  deleteWebhook(id: string): void;
  /** Every request is refused with 429 for `ms` from now (another client used the bucket up). */
  storm(ms: number): void;
  /** The next `count` requests answer `status` (a 5xx outage). */
  failNext(status: number, count: number): void;
  /** Messages by id (the last content sent or edited). */
  messages: Map<string, Record<string, unknown>>;
  stats: {
    /** Requests that arrived inside a wait this fake had announced (429 retry_after or Remaining 0). */
    early: number;
    /** 429 answers sent. */
    rateLimited: number;
    /** Successful executes and edits, by arrival time (performance.now()). */
    accepted: number[];
    /** Successful executes (POST) and edits (PATCH), in order: which webhook, which message, what body. */
    succeeded: { method: "POST" | "PATCH"; webhookId: string; messageId: string; json: unknown }[];
  };
  /** Successful executes (POST) and edits (PATCH) in the order accepted, with the message as stored. */
  acceptedLog: { method: "POST" | "PATCH"; messageId: string; message: Record<string, unknown> }[];
}

/** Starts a fake Discord webhook API. */
export async function startFakeDiscord(options: FakeDiscordOptions = {}): Promise<FakeDiscord> {
  const limit = options.limit ?? 5;
  const windowMs = options.windowMs ?? 2000;
  const webhooks = new Map<string, string>();
  const messages = new Map<string, Record<string, unknown>>();
  let windowStart = -Infinity;
  let used = 0;
  let announcedUntil = -Infinity;
  let stormUntil = -Infinity;
  let failing = { status: 500, count: 0 };
  let nextId = 1_100_000_000_000_000_000n;
  const state = {
    early: 0,
    rateLimited: 0,
    accepted: [] as number[],
    succeeded: [] as FakeDiscord["stats"]["succeeded"],
  };
  const acceptedLog: FakeDiscord["acceptedLog"] = [];

  const rateHeaders = (now: number, remaining: number): Record<string, string> => {
    const resetAfter = Math.max(0, windowStart + windowMs - now) / 1000;
    return {
      "x-ratelimit-limit": String(limit),
      "x-ratelimit-remaining": String(remaining),
      "x-ratelimit-reset": ((Date.now() + resetAfter * 1000) / 1000).toFixed(3),
      "x-ratelimit-reset-after": (Math.ceil(resetAfter * 1000) / 1000).toFixed(3),
      "x-ratelimit-bucket": "fakebucket0001",
    };
  };

  const fake = await serve((request) => {
    const now = request.at;
    if (now < announcedUntil) state.early++;
    const match = /^\/api\/webhooks\/(\d+)\/([^/]+)(?:\/messages\/(\d+))?$/.exec(request.path);
    if (match === null) return json({ message: "404: Not Found", code: 0 }, 404);
    const [, id, token, messageId] = match;
    const known = webhooks.get(id);
    if (known === undefined) return json({ message: "Unknown Webhook", code: 10015 }, 404);
    if (known !== token) return json({ message: "Invalid Webhook Token", code: 50027 }, 401);
    if (failing.count > 0) {
      failing.count--;
      return json({ message: `${failing.status}: Bad Gateway`, code: 0 }, failing.status);
    }
    if (now < stormUntil) {
      const retryAfter = (stormUntil - now) / 1000;
      announcedUntil = Math.max(announcedUntil, stormUntil);
      state.rateLimited++;
      return json(
        { message: "You are being rate limited.", retry_after: retryAfter, global: false },
        429,
        { "retry-after": String(Math.ceil(retryAfter)), ...rateHeaders(now, 0) },
      );
    }
    if (now >= windowStart + windowMs) {
      windowStart = now;
      used = 0;
    }
    if (used >= limit) {
      const retryAfter = (windowStart + windowMs - now) / 1000;
      announcedUntil = Math.max(announcedUntil, windowStart + windowMs);
      state.rateLimited++;
      return json(
        { message: "You are being rate limited.", retry_after: retryAfter, global: false },
        429,
        { "retry-after": String(Math.ceil(retryAfter)), ...rateHeaders(now, 0) },
      );
    }
    used++;
    const remaining = limit - used;
    if (remaining === 0) announcedUntil = Math.max(announcedUntil, windowStart + windowMs);
    const headers = rateHeaders(now, remaining);
    const body = request.json as Record<string, unknown>;
    if (request.method === "PATCH" && messageId !== undefined) {
      if (!messages.has(messageId)) {
        return json({ message: "Unknown Message", code: 10008 }, 404, headers);
      }
      const message = { ...messages.get(messageId), ...body, id: messageId };
      messages.set(messageId, message);
      state.accepted.push(now);
      acceptedLog.push({ method: "PATCH", messageId, message });
      state.succeeded.push({ method: "PATCH", webhookId: id, messageId, json: body });
      return json(message, 200, headers);
    }
    if (request.method !== "POST") {
      return json({ message: "405: Method Not Allowed", code: 0 }, 405);
    }
    const message = { ...body, id: String(nextId++), channel_id: "900", webhook_id: id };
    messages.set(message.id, message);
    state.accepted.push(now);
    acceptedLog.push({ method: "POST", messageId: message.id, message });
    state.succeeded.push({ method: "POST", webhookId: id, messageId: message.id, json: body });
    if (request.search.includes("wait=true")) return json(message, 200, headers);
    return new Response(null, { status: 204, headers });
  });

  return Object.assign(fake, {
    webhookUrl: (id: string, token: string) => `${fake.origin}/api/webhooks/${id}/${token}`,
    addWebhook: (id: string, token: string) => void webhooks.set(id, token),
    deleteWebhook: (id: string) => void webhooks.delete(id),
    storm: (ms: number) => void (stormUntil = performance.now() + ms),
    failNext: (status: number, count: number) => void (failing = { status, count }),
    messages,
    stats: state,
    acceptedLog,
  });
}

/** The fake Telegram Bot API. */
export interface FakeTelegram extends Fake {
  /** Messages by `chat:message_id`, with their latest text. */
  messages: Map<string, string>;
  /** The next `count` calls answer 429 with `parameters.retry_after` = `seconds`. */
  throttle(count: number, seconds: number): void;
}

/** Starts a fake Telegram Bot API that knows one bot token and the given chats. */
export async function startFakeTelegram(token: string, chats: string[]): Promise<FakeTelegram> {
  const messages = new Map<string, string>();
  let nextId = 100;
  let throttled = { count: 0, seconds: 0 };
  const fail = (code: number, description: string, extra: Record<string, unknown> = {}) =>
    json({ ok: false, error_code: code, description, ...extra }, code);
  const fake = await serve((request) => {
    const match = /^\/bot([^/]+)\/(\w+)$/.exec(request.path);
    if (match === null) return fail(404, "Not Found");
    if (match[1] !== token) return fail(401, "Unauthorized");
    if (throttled.count > 0) {
      throttled.count--;
      return fail(429, `Too Many Requests: retry after ${throttled.seconds}`, {
        parameters: { retry_after: throttled.seconds },
      });
    }
    const body = (request.json ?? {}) as Record<string, unknown>;
    const chat = String(body.chat_id);
    if (!chats.includes(chat)) return fail(400, "Bad Request: chat not found");
    if (match[2] === "sendMessage") {
      const id = nextId++;
      messages.set(`${chat}:${id}`, String(body.text));
      return json({
        ok: true,
        result: { message_id: id, chat: { id: Number(chat) || chat }, date: 0, text: body.text },
      });
    }
    if (match[2] === "editMessageText") {
      const key = `${chat}:${body.message_id}`;
      if (!messages.has(key)) return fail(400, "Bad Request: message to edit not found");
      if (messages.get(key) === body.text) {
        return fail(
          400,
          "Bad Request: message is not modified: specified new message content is the same",
        );
      }
      messages.set(key, String(body.text));
      return json({ ok: true, result: { message_id: body.message_id, text: body.text } });
    }
    return fail(404, "Not Found");
  });
  return Object.assign(fake, {
    messages,
    throttle: (count: number, seconds: number) => void (throttled = { count, seconds }),
  });
}

/** The fake ntfy server. */
export interface FakeNtfy extends Fake {
  /** Published messages (the JSON bodies). */
  published: Record<string, unknown>[];
  /** The next `count` publishes answer 429. */
  throttle(count: number): void;
}

/** Starts a fake ntfy; with `auth`, publishing needs that user and password (401 otherwise). */
export async function startFakeNtfy(auth?: { user: string; password: string }): Promise<FakeNtfy> {
  const published: Record<string, unknown>[] = [];
  let throttled = 0;
  let nextId = 1;
  const fake = await serve((request) => {
    if (auth !== undefined) {
      const expected = `Basic ${btoa(`${auth.user}:${auth.password}`)}`;
      if (request.headers.get("authorization") !== expected) {
        return json({ code: 40101, http: 401, error: "unauthorized" }, 401);
      }
    }
    if (throttled > 0) {
      throttled--;
      return json({ code: 42901, http: 429, error: "limit reached: too many requests" }, 429);
    }
    const body = request.json as Record<string, unknown> | null;
    if (request.method !== "POST" || request.path !== "/" || typeof body?.topic !== "string") {
      return json({ code: 40001, http: 400, error: "invalid request" }, 400);
    }
    published.push(body);
    return json({
      id: `msg${nextId++}`,
      time: Math.floor(Date.now() / 1000),
      event: "message",
      topic: body.topic,
      message: body.message,
    });
  });
  return Object.assign(fake, { published, throttle: (n: number) => void (throttled = n) });
}

/** The fake Slack incoming webhook. */
export interface FakeSlack extends Fake {
  /** The webhook's path (`/services/T…/B…/…`). */
  path: string;
  posted: Record<string, unknown>[];
  /** The next `count` posts answer 429 with Retry-After `seconds`. */
  throttle(count: number, seconds: number): void;
}

/** Starts a fake Slack that accepts one webhook path; anything else is 404 `no_service`. */
export async function startFakeSlack(path: string): Promise<FakeSlack> {
  const posted: Record<string, unknown>[] = [];
  let throttled = { count: 0, seconds: 0 };
  const fake = await serve((request) => {
    if (request.path !== path) return new Response("no_service", { status: 404 });
    if (throttled.count > 0) {
      throttled.count--;
      return new Response("rate_limited", {
        status: 429,
        headers: { "retry-after": String(throttled.seconds) },
      });
    }
    const body = request.json as Record<string, unknown> | null;
    if (typeof body?.text !== "string") return new Response("invalid_payload", { status: 400 });
    posted.push(body);
    return new Response("ok", { status: 200, headers: { "content-type": "text/html" } });
  });
  return Object.assign(fake, {
    path,
    posted,
    throttle: (count: number, seconds: number) => void (throttled = { count, seconds }),
  });
}

/** A Standard Webhooks receiver that verifies every request's signature (401 when it does not verify). */
export interface FakeWebhookReceiver extends Fake {
  /** Verified deliveries: their webhook-id and JSON body. */
  verified: { id: string; body: Record<string, unknown> }[];
  /** Requests refused for a bad or missing signature or an old timestamp. */
  stats: { refused: number };
}

/** Starts a receiver for the secret `whsec_…`, verifying per the spec (tolerance 5 min). */
export async function startFakeWebhookReceiver(secret: string): Promise<FakeWebhookReceiver> {
  const keyBytes = Uint8Array.from(atob(secret.replace(/^whsec_/, "")), (c) => c.charCodeAt(0));
  const key = await crypto.subtle.importKey(
    "raw",
    keyBytes,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const verified: { id: string; body: Record<string, unknown> }[] = [];
  const state = { refused: 0 };
  const fake = await serve(async (request) => {
    const id = request.headers.get("webhook-id");
    const timestamp = request.headers.get("webhook-timestamp");
    const signatures = request.headers.get("webhook-signature");
    if (id === null || timestamp === null || signatures === null) {
      state.refused++;
      return new Response("missing headers", { status: 401 });
    }
    if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) {
      state.refused++;
      return new Response("timestamp too old", { status: 401 });
    }
    const mac = await crypto.subtle.sign(
      "HMAC",
      key,
      new TextEncoder().encode(`${id}.${timestamp}.${request.body}`),
    );
    const expected = btoa(String.fromCharCode(...new Uint8Array(mac)));
    // The header may carry several space-separated signatures ("v1,… v1,…").
    const ok = signatures.split(" ").some((s) => s === `v1,${expected}`);
    if (!ok) {
      state.refused++;
      return new Response("bad signature", { status: 401 });
    }
    verified.push({ id, body: request.json as Record<string, unknown> });
    return new Response(null, { status: 204 });
  });
  return Object.assign(fake, {
    verified,
    stats: state,
  });
}

/** The fake Apprise API. */
export interface FakeApprise extends Fake {
  notified: { key: string; body: Record<string, unknown> }[];
}

/** Starts a fake Apprise API knowing the given configuration keys (others: 204, no configuration). */
export async function startFakeApprise(keys: string[]): Promise<FakeApprise> {
  const notified: { key: string; body: Record<string, unknown> }[] = [];
  const fake = await serve((request) => {
    const match = /^\/notify\/([^/]+)$/.exec(request.path);
    if (match === null || request.method !== "POST") return new Response("", { status: 404 });
    const key = decodeURIComponent(match[1]);
    if (!keys.includes(key)) return new Response(null, { status: 204 });
    const body = request.json as Record<string, unknown> | null;
    if (typeof body?.body !== "string") {
      return json({ error: "Payload lacks minimum requirements" }, 400);
    }
    notified.push({ key, body });
    return json({ success: true });
  });
  return Object.assign(fake, { notified });
}
