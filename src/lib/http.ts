/**
 * The one HTTP layer: every outgoing call goes through {@link HttpClient}. It knows no service: who is on the
 * other end is its `serviceName`, and whether an answer is a block (a CDN's bot protection) is its
 * `blockedReason` hook. A service's own errors and quirks live with that service, in a wrapper of its own.
 *
 * - Every request first takes a token from the client's shared rate limiter.
 * - Each attempt has its own timeout; the caller's AbortSignal cancels the whole call at once.
 * - 429: `Retry-After` (delta seconds or HTTP date) is honoured for the whole client: the limiter is paused, so no
 *   request of this client leaves before it expires. Without `Retry-After`, the backoff delay pauses it instead.
 * - 5xx, 408, network errors and timeouts: retried with the one backoff (src/lib/backoff.ts).
 * - Retries exhausted: ServiceUnavailableError (exit 69). An answer `blockedReason` recognises:
 *   ServiceBlockedError (exit 69), never retried.
 * - Every other status (2xx, 4xx) is returned as it is; callers validate bodies.
 *
 * Messages name the method, host and path of a request, never its query string.
 *
 * Callers with a retry policy of their own (notification delivery, which schedules retries in the database and
 * paces each target by the service's own rate-limit answers) pass `acceptAnyStatus`: every HTTP answer, 429
 * and 5xx included, is then returned as it is, and only failures without an answer are retried (`maxRetries`).
 */
import { backoffDelay, sleep } from "./backoff.ts";
import { log } from "./log.ts";
import { ServiceBlockedError, ServiceUnavailableError } from "./errors.ts";

/** Options of {@link TokenBucket}. */
export interface TokenBucketOptions {
  /** Sustained rate, in tokens per second. */
  ratePerSecond: number;
  /** Tokens that may be spent at once after a quiet period; one second's worth by default. */
  burst?: number;
  /** Clock in milliseconds; `Date.now` by default. Injectable for tests. */
  now?: () => number;
}

/**
 * A token bucket, implemented as GCRA (a "theoretical arrival time" instead of a token count), so waiting
 * callers are served first come, first served without a queue. It can be paused until a given time.
 */
export class TokenBucket {
  readonly #intervalMs: number;
  readonly #toleranceMs: number;
  readonly #now: () => number;
  #theoreticalArrival = -Infinity;
  #pausedUntil = -Infinity;

  constructor(options: TokenBucketOptions) {
    if (!(options.ratePerSecond > 0)) {
      throw new RangeError(`ratePerSecond must be positive, got ${options.ratePerSecond}`);
    }
    const burst = options.burst ?? Math.max(1, Math.ceil(options.ratePerSecond));
    if (!(burst >= 1)) throw new RangeError(`burst must be at least 1, got ${burst}`);
    this.#intervalMs = 1000 / options.ratePerSecond;
    this.#toleranceMs = (burst - 1) * this.#intervalMs;
    this.#now = options.now ?? Date.now;
  }

  /** Time (same clock as `now`) before which nothing may be sent; `-Infinity` when not paused. */
  get pausedUntil(): number {
    return this.#pausedUntil;
  }

  /**
   * Reserves the next free slot and returns how many milliseconds from now it starts (0 = send now).
   * Pure given the clock; {@link take} is the waiting version.
   */
  reserve(): number {
    const now = this.#now();
    const earliest = Math.max(now, this.#theoreticalArrival - this.#toleranceMs, this.#pausedUntil);
    this.#theoreticalArrival = Math.max(this.#theoreticalArrival, earliest) + this.#intervalMs;
    return earliest - now;
  }

  /** Takes a token if one is free now (never waits); false when the bucket is empty or paused. */
  tryTake(): boolean {
    const now = this.#now();
    if (now < this.#pausedUntil) return false;
    if (this.#theoreticalArrival - this.#toleranceMs > now) return false;
    this.#theoreticalArrival = Math.max(this.#theoreticalArrival, now) + this.#intervalMs;
    return true;
  }

  /**
   * Stops handing out tokens before `time`, and empties the bucket so requests resume at the sustained
   * rate afterwards rather than in a burst (a burst right after a 429 would likely earn another one).
   */
  pauseUntil(time: number): void {
    if (time <= this.#pausedUntil) return;
    this.#pausedUntil = time;
    this.#theoreticalArrival = Math.max(this.#theoreticalArrival, time + this.#toleranceMs);
  }

  /** Waits for a token. A pause that begins while waiting is honoured too. */
  async take(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const waitMs = this.reserve();
      if (waitMs > 0) await sleep(Math.ceil(waitMs), signal);
      else signal?.throwIfAborted();
      if (this.#now() >= this.#pausedUntil) return;
    }
  }
}

/**
 * Milliseconds a `Retry-After` header asks for: delta seconds ("2", also tolerated with decimals) or an
 * HTTP date, relative to `nowMs`. Null when absent or unreadable; never negative.
 */
export function parseRetryAfter(value: string | null, nowMs: number): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  // An HTTP date always names a day or month ("Wed, 21 Oct 2026 07:28:00 GMT"); this keeps Date.parse
  // from reading arbitrary text such as "-1" as a year.
  if (!/[a-z]/i.test(text)) return null;
  const time = Date.parse(text);
  if (Number.isNaN(time)) return null;
  return Math.max(0, time - nowMs);
}

/** Options of {@link HttpClient}. */
export interface HttpClientOptions {
  /** Sustained request rate of this client, all requests together. */
  ratePerSecond: number;
  /** Requests that may leave at once after a quiet period; one second's worth by default. */
  burst?: number;
  /** Limit for one attempt, headers and body included. */
  timeoutMs: number;
  /** Retries after the first attempt (default 5). */
  maxRetries?: number;
  /** First backoff delay (default 500 ms). */
  retryBaseMs?: number;
  /** Largest backoff delay (default 30 s). */
  retryCapMs?: number;
  /** A `Retry-After` longer than this fails the call at once instead of waiting (default 5 min). */
  maxRetryAfterMs?: number;
  /** Randomness for backoff jitter; injectable for tests. */
  random?: () => number;
  userAgent?: string;
  /** Who is on the other end, in messages ("<serviceName> is unavailable: …"); "The server" by default. */
  serviceName?: string;
  /**
   * Why an answer is a block by something in front of the service rather than the service's own answer, or
   * null (the default judges nothing a block). Asked only of answers that are neither 429 nor 5xx/408; a block
   * is thrown as ServiceBlockedError and never retried (e.g. a CDN's challenge page).
   */
  blockedReason?: (status: number, headers: Headers, body: string) => string | null;
  /** The fetch implementation; the global one by default. Injectable for tests. */
  fetch?: typeof fetch;
  /**
   * Largest response body read into memory, in bytes (default {@link DEFAULT_MAX_RESPONSE_BYTES}). A longer body
   * is cut off and the call fails at once (ServiceUnavailableError, not retried: the same request would get the same
   * answer), so a broken or hostile server cannot make us buffer without limit.
   */
  maxResponseBytes?: number;
}

/** One call of {@link HttpClient.request}. */
export interface HttpRequest {
  method?: "GET" | "POST" | "DELETE" | "PATCH" | "PUT";
  headers?: Record<string, string>;
  body?: string | URLSearchParams;
  /** Cancels the call (waiting, attempts and backoff); its reason is rethrown as it is. */
  signal?: AbortSignal;
  /**
   * Return every HTTP answer as it is (429, 5xx and a blocked answer too), without retrying it or pausing the
   * limiter: for callers that apply their own policy to the status. Failures without an answer are still
   * retried up to `maxRetries`.
   */
  acceptAnyStatus?: boolean;
}

/** What came back: any status the client does not retry or reject. */
export interface HttpResponse {
  status: number;
  headers: Headers;
  body: string;
}

/** Counters since the client was made. */
export interface HttpStats {
  /** Attempts sent (retries included). */
  requests: number;
  /** Attempts that were retries. */
  retries: number;
  /** 429 answers received. */
  rateLimited: number;
  /** Attempts that timed out. */
  timeouts: number;
  /** Attempts that failed without an HTTP answer (connection refused, reset, DNS…). */
  networkErrors: number;
  /** 5xx and 408 answers received. */
  serverErrors: number;
}

export const DEFAULT_USER_AGENT = "kick-monitor/0.1.0";

/**
 * 4 MiB: the largest answer expected is a full 50-item API page of about 100 KB, so forty times that still
 * fits.
 */
export const DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

type AttemptOutcome =
  | { kind: "response"; response: HttpResponse }
  | { kind: "failure"; problem: string }
  | { kind: "too-large"; problem: string };

/** `METHOD host/path`: how requests are named in messages (never the query string). */
export function describeRequest(method: string, url: URL): string {
  return `${method} ${url.host}${url.pathname}`;
}

/** HTTP client with a shared rate limiter, timeouts and retries. See the module documentation. */
export class HttpClient {
  readonly stats: HttpStats = {
    requests: 0,
    retries: 0,
    rateLimited: 0,
    timeouts: 0,
    networkErrors: 0,
    serverErrors: 0,
  };
  readonly limiter: TokenBucket;
  readonly #timeoutMs: number;
  readonly #maxRetries: number;
  readonly #retryBaseMs: number;
  readonly #retryCapMs: number;
  readonly #maxRetryAfterMs: number;
  readonly #random: () => number;
  readonly #userAgent: string;
  readonly #fetch: typeof fetch;
  readonly #maxResponseBytes: number;
  readonly #serviceName: string;
  readonly #blockedReason: (status: number, headers: Headers, body: string) => string | null;

  constructor(options: HttpClientOptions) {
    this.limiter = new TokenBucket({ ratePerSecond: options.ratePerSecond, burst: options.burst });
    this.#timeoutMs = options.timeoutMs;
    this.#maxRetries = options.maxRetries ?? 5;
    this.#retryBaseMs = options.retryBaseMs ?? 500;
    this.#retryCapMs = options.retryCapMs ?? 30_000;
    this.#maxRetryAfterMs = options.maxRetryAfterMs ?? 300_000;
    this.#random = options.random ?? Math.random;
    this.#userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
    this.#fetch = options.fetch ?? fetch;
    this.#maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.#serviceName = options.serviceName ?? "The server";
    this.#blockedReason = options.blockedReason ?? (() => null);
  }

  /**
   * Sends a request, waiting for the rate limiter and retrying as the module documentation says.
   * Throws ServiceUnavailableError when retries run out, ServiceBlockedError on an answer `blockedReason`
   * recognises, and the
   * signal's reason when `init.signal` aborts.
   */
  async request(url: string | URL, init: HttpRequest = {}): Promise<HttpResponse> {
    const target = new URL(url);
    const method = init.method ?? "GET";
    const name = describeRequest(method, target);
    let lastStatus: number | null = null;
    for (let attempt = 0;; attempt++) {
      await this.limiter.take(init.signal);
      this.stats.requests++;
      const outcome = await this.#attempt(target, method, init);
      if (outcome.kind === "too-large") {
        throw this.#unavailable(`${name} ${outcome.problem}`, name, null);
      }
      let problem: string;
      let retryAfterMs: number | null = null;
      if (outcome.kind === "response") {
        const { status, headers, body } = outcome.response;
        lastStatus = status;
        if (init.acceptAnyStatus) return outcome.response;
        if (status === 429) {
          this.stats.rateLimited++;
          problem = "HTTP 429 Too Many Requests";
          retryAfterMs = parseRetryAfter(headers.get("retry-after"), Date.now());
        } else if (status >= 500 || status === 408) {
          this.stats.serverErrors++;
          problem = `HTTP ${status}`;
          retryAfterMs = parseRetryAfter(headers.get("retry-after"), Date.now());
        } else {
          const blocked = this.#blockedReason(status, headers, body);
          if (blocked !== null) {
            throw new ServiceBlockedError(
              `${this.#serviceName} blocked ${name} (HTTP ${status}: ${blocked})`,
              { service: this.#serviceName, request: name, reason: blocked },
            );
          }
          return outcome.response;
        }
      } else {
        lastStatus = null;
        problem = outcome.problem;
      }

      const delayMs = retryAfterMs ?? backoffDelay(attempt, {
        baseMs: this.#retryBaseMs,
        capMs: this.#retryCapMs,
        random: this.#random,
      });
      const excessive = retryAfterMs !== null && retryAfterMs > this.#maxRetryAfterMs;
      if (lastStatus === 429 && !excessive) {
        // A 429 is about this client as a whole: hold back every request, not only this one,
        // and keep holding even when this call gives up below.
        const fields = { request: name, waitMs: delayMs, retryAfter: retryAfterMs !== null };
        // One warning per episode; 429s while already paused (requests that were in flight) are noise.
        if (Date.now() < this.limiter.pausedUntil) {
          log.debug(`${this.#serviceName} is still rate limiting us`, fields);
        } else log.warn(`${this.#serviceName} is rate limiting us; pausing all requests`, fields);
        this.limiter.pauseUntil(Date.now() + delayMs);
      }
      if (attempt >= this.#maxRetries) {
        throw this.#unavailable(
          `${name} failed ${attempt + 1} times (last: ${problem})`,
          name,
          lastStatus,
        );
      }
      if (excessive && retryAfterMs !== null) {
        // Holding every request for that long would hang the whole program: fail this call instead.
        throw this.#unavailable(
          `${name} answered ${problem} and asked to wait ` +
            `${Math.ceil(retryAfterMs / 1000)} s (Retry-After), longer than the ` +
            `${Math.round(this.#maxRetryAfterMs / 1000)} s this client waits`,
          name,
          lastStatus,
        );
      }
      this.stats.retries++;
      if (lastStatus !== 429) {
        log.debug("Retrying a request", {
          service: this.#serviceName,
          request: name,
          problem,
          attempt,
          delayMs,
        });
        await sleep(delayMs, init.signal);
      }
      // After a 429 the next limiter.take() waits out the pause.
    }
  }

  /** "<service> is unavailable: <detail>" as a ServiceUnavailableError. */
  #unavailable(
    detail: string,
    request: string,
    lastStatus: number | null,
  ): ServiceUnavailableError {
    return new ServiceUnavailableError(`${this.#serviceName} is unavailable: ${detail}`, {
      service: this.#serviceName,
      request,
      lastStatus,
    });
  }

  /** One attempt under its own timeout. Throws only the caller's abort reason. */
  async #attempt(target: URL, method: string, init: HttpRequest): Promise<AttemptOutcome> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.#timeoutMs);
    const callerSignal = init.signal;
    const onAbort = (): void => controller.abort(callerSignal?.reason);
    callerSignal?.addEventListener("abort", onAbort, { once: true });
    try {
      callerSignal?.throwIfAborted();
      const response = await this.#fetch(target, {
        method,
        headers: { "user-agent": this.#userAgent, accept: "application/json", ...init.headers },
        body: init.body,
        signal: controller.signal,
      });
      const body = await readLimited(response, this.#maxResponseBytes);
      if (body === null) {
        return {
          kind: "too-large",
          problem: `answered more than ${this.#maxResponseBytes} bytes (status ${response.status})`,
        };
      }
      return {
        kind: "response",
        response: { status: response.status, headers: response.headers, body },
      };
    } catch (error) {
      if (callerSignal?.aborted) throw callerSignal.reason;
      if (controller.signal.aborted) {
        this.stats.timeouts++;
        return { kind: "failure", problem: `no complete answer within ${this.#timeoutMs} ms` };
      }
      this.stats.networkErrors++;
      const message = error instanceof Error ? error.message : String(error);
      // Deno quotes the full URL in network errors; keep only host and path.
      const safe = message.split(target.href).join(`${target.origin}${target.pathname}`);
      return { kind: "failure", problem: `network error: ${safe}` };
    } finally {
      clearTimeout(timer);
      callerSignal?.removeEventListener("abort", onAbort);
    }
  }
}

/** The body as text, or null (and the body cancelled) once it grows past `maxBytes`. */
async function readLimited(response: Response, maxBytes: number): Promise<string | null> {
  const declared = Number(response.headers.get("content-length") ?? NaN);
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    return null;
  }
  if (response.body === null) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.byteLength;
    if (length > maxBytes) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}
