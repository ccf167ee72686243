/**
 * The app access token (OAuth client_credentials, kick-api.md §1.2): minted on demand, cached until shortly
 * before it expires, shared by concurrent callers, and dropped when the API answers 401 (app tokens have
 * been seen to die early, #223: "Refresh your token").
 *
 * The client secret travels only in the form body, never in a URL; it and every token are registered with
 * the logger's redaction and never put in an error message.
 */
import { addSecret, log } from "../lib/log.ts";
import { describeRequest, type HttpClient } from "../lib/http.ts";
import { KickCredentialsError, KickResponseError, KickUnavailableError } from "./errors.ts";
import { sleep } from "../lib/backoff.ts";
import { oauthErrorSchema, oauthTokenSchema, parseBody } from "./schemas.ts";

/** Options of {@link AppTokenProvider}. */
export interface AppTokenProviderOptions {
  /** The shared Kick HTTP client. */
  http: HttpClient;
  /** OAuth server base URL, e.g. `https://id.kick.com` (KICK_OAUTH_URL). */
  oauthUrl: string;
  clientId: string;
  clientSecret: string;
  /** Clock in milliseconds; `Date.now` by default. */
  now?: () => number;
}

/** Largest safety margin before `expires_in` at which a cached token is replaced. */
const MAX_REFRESH_MARGIN_MS = 60_000;

/** Mints and caches the app access token. */
export class AppTokenProvider {
  /** Tokens minted so far. */
  readonly stats = { minted: 0 };
  readonly #http: HttpClient;
  readonly #tokenUrl: URL;
  readonly #clientId: string;
  readonly #clientSecret: string;
  readonly #now: () => number;
  #cached: { token: string; refreshAt: number; expiresAt: number } | null = null;
  #pending: Promise<string> | null = null;

  constructor(options: AppTokenProviderOptions) {
    this.#http = options.http;
    this.#tokenUrl = new URL(`${options.oauthUrl.replace(/\/+$/, "")}/oauth/token`);
    this.#clientId = options.clientId;
    this.#clientSecret = options.clientSecret;
    this.#now = options.now ?? Date.now;
    addSecret(options.clientSecret);
  }

  /**
   * A valid app access token: the cached one, or a new one. Concurrent callers share one OAuth request.
   * Throws KickCredentialsError (exit 78) when Kick refuses the credentials, KickUnavailableError (exit 69)
   * when it cannot be reached, KickResponseError on an unreadable answer.
   */
  async getToken(signal?: AbortSignal): Promise<string> {
    signal?.throwIfAborted();
    const cached = this.#cached;
    if (cached !== null && this.#now() < cached.refreshAt) return cached.token;
    if (this.#pending === null) {
      this.#pending = this.#mint().finally(() => {
        this.#pending = null;
      });
    }
    return await abortable(this.#pending, signal);
  }

  /**
   * When the cached token expires, by Kick's `expires_in` (milliseconds on the provider's clock), or null when
   * no token is cached. Read-only; `doctor` reports it.
   */
  get expiresAt(): number | null {
    return this.#cached?.expiresAt ?? null;
  }

  /** Forgets `token` if it is the cached one (after a 401); a newer token, if any, is kept. */
  invalidate(token: string): void {
    if (this.#cached?.token === token) this.#cached = null;
  }

  async #mint(): Promise<string> {
    try {
      return await this.#mintOnce();
    } catch (error) {
      if (!(error instanceof EmptyRefusal)) throw error;
      // Kick has answered client_credentials with a 400 and an empty body during an outage (#156), and may do
      // so for bad credentials too: ask once more before saying which it is likely to be.
      await sleep(EMPTY_REFUSAL_RETRY_MS);
      try {
        return await this.#mintOnce();
      } catch (again) {
        if (!(again instanceof EmptyRefusal)) throw again;
        throw new KickUnavailableError(
          "Kick's OAuth answered 400 with no reason (an outage, or bad credentials); " +
            "retry later, and check KICK_CLIENT_ID and KICK_CLIENT_SECRET if it persists",
          { request: describeRequest("POST", this.#tokenUrl), lastStatus: again.status },
        );
      }
    }
  }

  async #mintOnce(): Promise<string> {
    const name = describeRequest("POST", this.#tokenUrl);
    // The shared mint ignores callers' signals: one caller giving up must not fail the others.
    const response = await this.#http.request(this.#tokenUrl, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "client_credentials",
        client_id: this.#clientId,
        client_secret: this.#clientSecret,
      }).toString(),
    });
    const { status, body } = response;
    if (status === 200) {
      const parsed = parseBody(oauthTokenSchema, body);
      if (!parsed.ok) throw new KickResponseError(name, status, parsed.problem);
      const token = parsed.value.access_token;
      addSecret(token);
      const lifetimeMs = parsed.value.expires_in * 1000;
      const marginMs = Math.min(MAX_REFRESH_MARGIN_MS, lifetimeMs * 0.1);
      const mintedAt = this.#now();
      this.#cached = {
        token,
        refreshAt: mintedAt + lifetimeMs - marginMs,
        expiresAt: mintedAt + lifetimeMs,
      };
      this.stats.minted++;
      log.debug("Minted a Kick app access token", { expiresInSeconds: parsed.value.expires_in });
      return token;
    }
    if (status === 400 || status === 401) {
      // Kick has answered client_credentials with a 400 and an empty body (#156): see #mint.
      if (body.trim() === "") throw new EmptyRefusal(status);
      const error = parseBody(oauthErrorSchema, body);
      if (error.ok) {
        const said = error.value.error_description
          ? `${error.value.error}: ${error.value.error_description}`
          : error.value.error;
        throw new KickCredentialsError(
          `HTTP ${status}, Kick said ${JSON.stringify(this.#scrub(said))}`,
        );
      }
      if (status === 401) throw new KickCredentialsError("HTTP 401");
    }
    throw new KickResponseError(name, status, "expected HTTP 200 with an access token");
  }

  /** Kick's text should never echo the secret; if it ever does, it must not reach a message. */
  #scrub(text: string): string {
    return text.split(this.#clientSecret).join("***");
  }
}

/** How long to wait before asking again after a refusal with no reason. */
const EMPTY_REFUSAL_RETRY_MS = 1_000;

/** A 400/401 with an empty body: an outage or bad credentials, we cannot tell from one answer. */
class EmptyRefusal extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status} with an empty body`);
  }
}

/** Waits for `promise`, or rejects with the signal's reason as soon as it aborts. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
