/**
 * Who may read the daemon's HTTP routes, and the headers every answer carries (issue 14 item 4).
 *
 * Loopback by default; with KICK_MONITOR_HTTP_TOKEN set, every route but `/healthz` needs the token as
 * `Authorization: Bearer TOKEN`, as `?token=TOKEN`, or as the cookie a browser gets after one valid `?token=`
 * (an EventSource cannot send headers, and a token in every URL would end up in histories and logs). The
 * cookie holds an HMAC of the token, not the token itself. Tokens are compared in constant time.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/**
 * Headers on every answer: nothing but the daemon's own files may load (`script-src 'self'`, no inline script
 * or style), no framing, no MIME sniffing, no Referer (a `?token=` URL must not leak to another site).
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; " +
    "img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/** The cookie a browser keeps after a valid `?token=`. */
export const TOKEN_COOKIE = "kick_monitor_session";

/** Whether a listener's host name reaches this machine only: 127.0.0.0/8, ::1 or localhost. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** What the listener does with a request when a token is configured. */
export type AccessDecision =
  | { kind: "allow" }
  | { kind: "deny" }
  /** A valid `?token=` on a page: set the cookie and send the browser to the same URL without the token. */
  | { kind: "redirect"; location: string; setCookie: string };

/** Checks requests against one configured token. */
export class AccessGuard {
  #tokenDigest: Uint8Array;
  #cookieValue: string;
  #cookieDigest: Uint8Array;

  constructor(token: string) {
    this.#tokenDigest = digest(token);
    this.#cookieValue = createHmac("sha256", token).update("kick-monitor page cookie v1").digest(
      "hex",
    );
    this.#cookieDigest = digest(this.#cookieValue);
  }

  /**
   * Decides about one request. `isPage` marks HTML pages, where a `?token=` is traded for the cookie (API
   * clients keep sending it or the header).
   */
  decide(request: Request, isPage: boolean): AccessDecision {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get("authorization") ?? "")?.[1];
    if (bearer !== undefined && this.#matches(bearer)) return { kind: "allow" };
    const cookie = cookieValue(request.headers.get("cookie"), TOKEN_COOKIE);
    if (cookie !== null && sameDigest(digest(cookie), this.#cookieDigest)) return { kind: "allow" };
    const url = new URL(request.url);
    const query = url.searchParams.get("token");
    if (query === null || !this.#matches(query)) return { kind: "deny" };
    if (!isPage) return { kind: "allow" };
    url.searchParams.delete("token");
    return {
      kind: "redirect",
      location: `${url.pathname}${url.search}`,
      setCookie: `${TOKEN_COOKIE}=${this.#cookieValue}; Path=/; HttpOnly; SameSite=Strict`,
    };
  }

  #matches(candidate: string): boolean {
    return sameDigest(digest(candidate), this.#tokenDigest);
  }
}

/** The answer to a request without a valid token (the token itself is never echoed or logged). */
export function unauthorized(): Response {
  return new Response(
    "This kick-monitor needs its token (KICK_MONITOR_HTTP_TOKEN): send Authorization: Bearer TOKEN, " +
      "or open the page once with ?token=TOKEN.\n",
    {
      status: 401,
      headers: {
        "content-type": "text/plain; charset=utf-8",
        "www-authenticate": 'Bearer realm="kick-monitor"',
      },
    },
  );
}

// Comparing fixed-length digests keeps the comparison's time independent of where the texts differ and of
// the candidate's length.
function digest(text: string): Uint8Array {
  return createHash("sha256").update(text).digest();
}

function sameDigest(a: Uint8Array, b: Uint8Array): boolean {
  return timingSafeEqual(a, b);
}

function cookieValue(header: string | null, name: string): string | null {
  if (header === null) return null;
  for (const part of header.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return rest.join("=");
  }
  return null;
}
