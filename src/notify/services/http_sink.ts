/**
 * The one generic HTTP sink every vendor service is a thin mapping over: it sends through the project's
 * HTTP client (src/lib/http.ts, with `acceptAnyStatus`, since delivery retries are scheduled in the database),
 * reads the rate-limit answers (429 + Retry-After, Discord's X-RateLimit-* headers) and turns a failed answer
 * into a SendResult with a reason that never contains the target's secrets.
 */
import type { HttpClient, HttpRequest, HttpResponse } from "../../lib/http.ts";
import { parseRetryAfter } from "../../lib/http.ts";
import { MASK } from "../../lib/redact.ts";
import { describeError } from "../../lib/errors.ts";
import type { ParsedTarget } from "../target_url.ts";
import type { Notification, NotificationTarget, SendResult } from "../types.ts";

/** What a service needs besides the target and the message. */
export interface ServiceContext {
  http: HttpClient;
  signal?: AbortSignal;
  /** Where the console service prints; stdout by default. */
  write?: (line: string) => void;
}

/** A notification service: one file per service in this folder, one line in mod.ts. */
export interface NotificationService {
  /** Sustained requests per second to one target when the service says nothing else. */
  readonly ratePerSecond: number;
  send(
    target: NotificationTarget,
    parsed: ParsedTarget,
    notification: Notification,
    context: ServiceContext,
  ): Promise<SendResult>;
}

/** `text` with every secret of the target replaced by `***`. */
export function maskSecrets(text: string, parsed: ParsedTarget): string {
  let out = text;
  for (const secret of [...parsed.secrets].sort((a, b) => b.length - a.length)) {
    if (secret !== "") out = out.split(secret).join(MASK);
  }
  return out;
}

/** The answer of one request, or the SendResult of a request that got none. */
export type Exchange = { response: HttpResponse } | { failed: Extract<SendResult, { ok: false }> };

/** Sends one request; a failure without an answer (refused, timeout) becomes a retryable SendResult. */
export async function exchange(
  context: ServiceContext,
  parsed: ParsedTarget,
  url: string,
  request: HttpRequest & { json?: unknown },
): Promise<Exchange> {
  const { json, ...rest } = request;
  const init: HttpRequest = {
    method: "POST",
    ...rest,
    signal: context.signal,
    acceptAnyStatus: true,
  };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers = { "content-type": "application/json", ...rest.headers };
  }
  try {
    return { response: await context.http.request(url, init) };
  } catch (error) {
    if (context.signal?.aborted) throw error;
    return {
      failed: {
        ok: false,
        retryable: true,
        rateLimited: false,
        retryAfterMs: null,
        answered: false,
        reason: maskSecrets(describeError(error), parsed),
      },
    };
  }
}

/** The wait Discord-style rate-limit headers ask for after this answer (`Remaining: 0`), or null. */
export function pauseFromHeaders(headers: Headers): number | null {
  const remaining = headers.get("x-ratelimit-remaining");
  const resetAfter = Number(headers.get("x-ratelimit-reset-after") ?? NaN);
  if (remaining === null || Number(remaining) > 0 || !Number.isFinite(resetAfter)) return null;
  return Math.max(0, Math.ceil(resetAfter * 1000));
}

/** Statuses that say the request itself is wrong and will stay wrong. */
const PERMANENT = new Set([400, 401, 403, 404, 405, 410, 413, 422]);

/**
 * A SendResult for a non-2xx answer. `bodyRetryAfterMs`: a wait the body states (Discord, Telegram), which
 * wins over the Retry-After header; `detail`: the service's own explanation, for the reason.
 */
export function failedAnswer(
  service: string,
  response: HttpResponse,
  parsed: ParsedTarget,
  options: { bodyRetryAfterMs?: number | null; detail?: string | null; permanent?: boolean } = {},
): Extract<SendResult, { ok: false }> {
  const status = response.status;
  const header = parseRetryAfter(response.headers.get("retry-after"), Date.now());
  const retryAfterMs = options.bodyRetryAfterMs ?? header ??
    (status === 429 ? pauseFromHeaders(response.headers) : null);
  const detail = options.detail ?? (response.body.trim().slice(0, 200) || null);
  const reason = maskSecrets(
    `${service} answered HTTP ${status}${detail === null ? "" : `: ${oneLine(detail)}`}`,
    parsed,
  );
  const permanent = options.permanent ?? PERMANENT.has(status);
  return {
    ok: false,
    retryable: !permanent,
    rateLimited: status === 429,
    retryAfterMs,
    answered: true,
    reason,
  };
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

/** A delivered result, with the wait the rate-limit headers ask for. */
export function delivered(messageRef: string | null, response: HttpResponse | null): SendResult {
  return {
    ok: true,
    messageRef,
    pauseMs: response === null ? null : pauseFromHeaders(response.headers),
  };
}

/** Parses a JSON body, or null. */
export function jsonBody(response: HttpResponse): unknown {
  try {
    return JSON.parse(response.body);
  } catch {
    return null;
  }
}

/** Whether the status is 2xx. */
export function isSuccess(response: HttpResponse): boolean {
  return response.status >= 200 && response.status < 300;
}
