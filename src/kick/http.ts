/**
 * The one HTTP client (src/lib/http.ts) as Kick's clients use it: named "Kick" in messages, recognising
 * Cloudflare's 403s as blocks (kick-api.md §2.2), and failing with Kick's own errors (src/kick/errors.ts), so
 * `instanceof KickUnavailableError` and `instanceof KickBlockedError` hold for every Kick call.
 */
import { ServiceBlockedError, ServiceUnavailableError } from "../lib/errors.ts";
import {
  HttpClient,
  type HttpClientOptions,
  type HttpRequest,
  type HttpResponse,
} from "../lib/http.ts";
import { KickBlockedError, KickUnavailableError } from "./errors.ts";

/** Options of {@link KickHttpClient}: those of HttpClient, less what Kick fixes. */
export type KickHttpClientOptions = Omit<HttpClientOptions, "serviceName" | "blockedReason">;

/**
 * An HttpClient for Kick (OAuth, official API, legacy website API).
 *
 * @example
 * ```ts
 * const http = new KickHttpClient({ ratePerSecond: 5, timeoutMs: 10_000 });
 * const response = await http.request("https://api.kick.com/public/v1/channels?slug=xqc");
 * ```
 */
export class KickHttpClient extends HttpClient {
  constructor(options: KickHttpClientOptions) {
    super({ ...options, serviceName: "Kick", blockedReason: cloudflareBlockReason });
  }

  /**
   * {@link HttpClient.request}, throwing KickUnavailableError when retries run out and KickBlockedError on a
   * Cloudflare 403 (both exit 69, with the same messages).
   */
  override async request(url: string | URL, init: HttpRequest = {}): Promise<HttpResponse> {
    try {
      return await super.request(url, init);
    } catch (error) {
      throw toKickError(error);
    }
  }
}

/**
 * The generic HTTP failures as Kick's own errors; anything else as it is, including Kick's own errors (a
 * caller's abort reason is rethrown as it is, and may be an earlier call's KickUnavailableError).
 */
function toKickError(error: unknown): unknown {
  if (error instanceof KickBlockedError || error instanceof KickUnavailableError) return error;
  if (error instanceof ServiceBlockedError) {
    return new KickBlockedError(error.request, error.reason, { cause: error });
  }
  if (error instanceof ServiceUnavailableError) {
    return new KickUnavailableError(
      error.message,
      { request: error.request, lastStatus: error.lastStatus },
      { cause: error },
    );
  }
  return error;
}

/**
 * Why a response looks like Cloudflare refusing us (kick-api.md §2.2), or null. Only a 403 qualifies.
 * A `cf-` header alone is not enough: every answer that passes through Cloudflare carries `cf-ray`,
 * including an ordinary JSON 403 from the API itself, so a `cf-` header counts only on an HTML page.
 */
export function cloudflareBlockReason(
  status: number,
  headers: Headers,
  body: string,
): string | null {
  if (status !== 403) return null;
  if (/just a moment/i.test(body)) return '"Just a moment..." challenge page';
  if (/request blocked by security policy/i.test(body)) {
    return '"Request blocked by security policy."';
  }
  const mitigated = headers.get("cf-mitigated");
  if (mitigated !== null) return `cf-mitigated: ${mitigated}`;
  const html = (headers.get("content-type") ?? "").includes("text/html") ||
    body.trimStart().startsWith("<");
  const cloudflareHeader = [...headers.keys()].some((name) => name.startsWith("cf-"));
  if (html && cloudflareHeader) return "HTML page with Cloudflare headers";
  return null;
}
