/**
 * How every official-API call is made (kick-api.md §1): the request with the app access token through the
 * shared HttpClient, the one re-mint and retry on 401 (§1.2, #223), the validation of a 200 answer, and the
 * mapping of any other answer to KickResponseError (src/kick/errors.ts). Also the once-per-field logging of
 * items Kick answered but the monitor cannot read (§1.4), shared by every list endpoint.
 */
import { describeRequest, type HttpClient, type HttpResponse } from "../lib/http.ts";
import { log } from "../lib/log.ts";
import { KickCredentialsError, KickResponseError } from "./errors.ts";
import type { AppTokenProvider } from "./oauth.ts";
import { apiErrorSchema, parseBody } from "./schemas.ts";
import type { z } from "zod";

/**
 * Counters of the official-API client. `mismatches`: items Kick returned that were not asked for (§1.4 bug
 * #321); `itemsRejected`: items dropped because a field the monitor relies on was unreadable; `noStream`:
 * channels answered without a readable `stream.is_live`.
 */
export interface KickApiStats {
  /** Items Kick returned that were not asked for (§1.4 bug #321). */
  mismatches: number;
  /** Items dropped because a field the monitor relies on was unreadable. */
  itemsRejected: number;
  /** Channels answered without a readable `stream.is_live`. */
  noStream: number;
}

/** Options of {@link KickRequester}. */
export interface KickRequesterOptions {
  http: HttpClient;
  tokens: AppTokenProvider;
  /** API base URL, e.g. `https://api.kick.com` (KICK_API_URL); trailing slashes are dropped. */
  apiUrl: string;
}

/** An official-API request: its name for messages (`METHOD host/path`) and the answer, any status. */
export interface KickAnswer {
  name: string;
  response: HttpResponse;
}

/** Makes official-API requests with the app token, and counts and logs unreadable items. */
export class KickRequester {
  /** Counters, shared with {@link KickApi.stats}. */
  readonly stats: KickApiStats = { mismatches: 0, itemsRejected: 0, noStream: 0 };
  /** Problems already logged, so a drifted field is logged once, not at every poll. */
  readonly #reported = new Set<string>();
  readonly #http: HttpClient;
  readonly #tokens: AppTokenProvider;
  readonly #apiUrl: string;

  constructor(options: KickRequesterOptions) {
    this.#http = options.http;
    this.#tokens = options.tokens;
    this.#apiUrl = options.apiUrl.replace(/\/+$/, "");
  }

  /** GET with the app token, validating a 200 answer (see {@link KickRequester.send}). */
  async get<T extends z.ZodType>(
    path: string,
    params: [string, string][],
    schema: T,
    signal: AbortSignal,
  ): Promise<z.output<T>> {
    const { name, response } = await this.send("GET", path, params, { signal });
    return readResponse(name, response, schema);
  }

  /** GET without a token (e.g. the webhook public key, §1.7), validating a 200 answer. */
  async getPublic<T extends z.ZodType>(
    path: string,
    schema: T,
    signal?: AbortSignal,
  ): Promise<z.output<T>> {
    const url = new URL(`${this.#apiUrl}${path}`);
    const response = await this.#http.request(url, { signal });
    return readResponse(describeRequest("GET", url), response, schema);
  }

  /** A request with the app token; on 401 re-mints once and retries once (§1.2). Any other status is returned. */
  async send(
    method: "GET" | "POST" | "DELETE",
    path: string,
    params: [string, string][],
    options: { signal?: AbortSignal; json?: unknown },
  ): Promise<KickAnswer> {
    const url = new URL(`${this.#apiUrl}${path}`);
    for (const [key, value] of params) url.searchParams.append(key, value);
    const name = describeRequest(method, url);
    const { signal } = options;
    const send = (token: string): Promise<HttpResponse> =>
      this.#http.request(url, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(options.json === undefined ? {} : { "content-type": "application/json" }),
        },
        body: options.json === undefined ? undefined : JSON.stringify(options.json),
        signal,
      });
    let token = await this.#tokens.getToken(signal);
    let response = await send(token);
    if (response.status === 401) {
      log.info("Kick refused the app access token; minting a new one", { request: name });
      this.#tokens.invalidate(token);
      token = await this.#tokens.getToken(signal);
      response = await send(token);
      if (response.status === 401) {
        throw new KickCredentialsError(`a freshly minted app access token was refused on ${name}`);
      }
    }
    return { name, response };
  }

  /** Counts a dropped item and logs it once per request path and field (never its values). */
  reject(path: string, index: number, raw: unknown, problem: string): void {
    this.stats.itemsRejected++;
    const field = problem.replace(/^\(body\)|\[\d+\]/g, "").split(":")[0];
    if (!this.firstReport(`${path} ${field}`)) return;
    const slug = typeof raw === "object" && raw !== null && "slug" in raw &&
        typeof raw.slug === "string"
      ? raw.slug.slice(0, 25)
      : null;
    log.warn("Kick answered an item the monitor cannot read; dropping that item only", {
      request: path,
      item: `data[${index}]`,
      slug,
      problem,
    });
  }

  /** True the first time `key` is reported (at most about a thousand keys are remembered). */
  firstReport(key: string): boolean {
    if (this.#reported.has(key) || this.#reported.size > 1_000) return false;
    this.#reported.add(key);
    return true;
  }
}

/** A signal for calls without one. */
export function neverAborted(): AbortSignal {
  return new AbortController().signal;
}

/** Validates a 200 answer, or throws a KickResponseError saying what came instead. */
export function readResponse<T extends z.ZodType>(
  name: string,
  response: { status: number; body: string },
  schema: T,
): z.output<T> {
  if (response.status !== 200) {
    const error = parseBody(apiErrorSchema, response.body);
    const said = error.ok
      ? `Kick said ${JSON.stringify(error.value.message)}${
        typeof error.value.data === "string" ? ` (${JSON.stringify(error.value.data)})` : ""
      }`
      : "expected HTTP 200";
    throw new KickResponseError(name, response.status, said);
  }
  const parsed = parseBody(schema, response.body);
  if (!parsed.ok) throw new KickResponseError(name, response.status, parsed.problem);
  return parsed.value;
}
