/**
 * Which public key webhook signatures are checked with (interface.md: KICK_WEBHOOK_PUBLIC_KEY), and following
 * Kick when it rotates it:
 *
 * 1. KICK_WEBHOOK_PUBLIC_KEY, PEM text or the path of a PEM file: pinned by the operator, never replaced. A
 *    file that cannot be read or a key that cannot be used is a configuration error (exit 78).
 * 2. Else the key Kick serves, `GET {KICK_API_URL}/public/v1/public-key` (kick-api.md §1.7).
 * 3. Else (Kick unreachable, or an unusable answer) the key published in Kick's docs (src/kick/public_key.ts).
 *
 * A key from 2 or 3 is fetched again when a signature fails, at most every 10 minutes (a rotation shows up as
 * valid deliveries failing; a forger's junk cannot make us ask Kick more often than that). The delivery that
 * prompted it waits for the new key briefly, so the receiver still answers within a second.
 */
import { ConfigError } from "../lib/errors.ts";
import { log } from "../lib/log.ts";
import { KICK_WEBHOOK_PUBLIC_KEY_PEM } from "./public_key.ts";
import {
  importWebhookPublicKey,
  type SignedWebhookMessage,
  verifyWebhookSignature,
  WebhookKeyError,
  type WebhookVerifier,
} from "./webhook_signature.ts";

/** Where the key in use came from. */
export type WebhookKeySource = "config" | "api" | "documented";

/** At most one fetch of Kick's key per this interval, prompted by a failing signature. */
export const KEY_REFETCH_INTERVAL_MS = 10 * 60_000;
/** How long a delivery waits for a re-fetched key before it is answered with the key it has. */
export const KEY_REFETCH_WAIT_MS = 700;

/** Options of {@link resolveWebhookKeys}. */
export interface WebhookKeysOptions {
  /** KICK_WEBHOOK_PUBLIC_KEY as configured (PEM text or a path), or undefined. */
  configured: string | undefined;
  /** Kick's key, e.g. `(signal) => api.getPublicKey(signal)`. */
  fetchPublicKey: (signal?: AbortSignal) => Promise<string>;
  /** Clock in milliseconds; `Date.now` by default. */
  now?: () => number;
  /** Default {@link KEY_REFETCH_INTERVAL_MS}. */
  refetchIntervalMs?: number;
  /** Default {@link KEY_REFETCH_WAIT_MS}. */
  refetchWaitMs?: number;
  /** Bounds the first fetch (a daemon's start should not hang on Kick); default 10 s. */
  initialFetchTimeoutMs?: number;
}

/**
 * Resolves the key as the module documentation says. Throws ConfigError (exit 78) for an unusable
 * KICK_WEBHOOK_PUBLIC_KEY; never for Kick being unreachable (the documented key stands in).
 *
 * @example
 * ```ts
 * const keys = await resolveWebhookKeys({
 *   configured: config.webhook.publicKey,
 *   fetchPublicKey: (signal) => api.getPublicKey(signal),
 * });
 * const verdict = await checkWebhookRequest(request, { now: new Date(), maxAgeSeconds: 300, verifier: keys });
 * ```
 */
export async function resolveWebhookKeys(options: WebhookKeysOptions): Promise<WebhookKeys> {
  if (options.configured !== undefined) {
    const key = await importConfiguredKey(options.configured);
    return new WebhookKeys(key, "config", options);
  }
  const keys = new WebhookKeys(
    await importWebhookPublicKey(KICK_WEBHOOK_PUBLIC_KEY_PEM),
    "documented",
    options,
  );
  await keys.refresh(AbortSignal.timeout(options.initialFetchTimeoutMs ?? 10_000));
  return keys;
}

/** The key in use, re-fetched on failing signatures (see the module documentation). */
export class WebhookKeys implements WebhookVerifier {
  /** `refetches`: fetches of Kick's key after a failing signature; `rotations`: those that changed it. */
  readonly stats = { refetches: 0, rotations: 0, fetchFailures: 0 };
  #key: CryptoKey;
  #pem: string | null = null;
  #source: WebhookKeySource;
  #lastFetchAt = -Infinity;
  #pending: Promise<void> | null = null;
  readonly #options: WebhookKeysOptions;
  readonly #now: () => number;

  /** Use {@link resolveWebhookKeys}. */
  constructor(key: CryptoKey, source: WebhookKeySource, options: WebhookKeysOptions) {
    this.#key = key;
    this.#source = source;
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Where the key in use came from. */
  get source(): WebhookKeySource {
    return this.#source;
  }

  /**
   * Whether Kick signed `message`. On a failure, with a key that is not pinned and no fetch in the last
   * interval, fetches Kick's key again and, if it changed, checks once more with the new one.
   */
  async verify(message: SignedWebhookMessage): Promise<boolean> {
    if (await verifyWebhookSignature(this.#key, message)) return true;
    if (this.#source === "config") return false;
    const before = this.#key;
    if (this.#pending === null) {
      if (
        this.#now() - this.#lastFetchAt <
          (this.#options.refetchIntervalMs ?? KEY_REFETCH_INTERVAL_MS)
      ) {
        return false;
      }
      this.stats.refetches++;
      this.#pending = this.refresh().finally(() => {
        this.#pending = null;
      });
    }
    await waitAtMost(this.#pending, this.#options.refetchWaitMs ?? KEY_REFETCH_WAIT_MS);
    if (this.#key === before) return false;
    return await verifyWebhookSignature(this.#key, message);
  }

  /**
   * Fetches Kick's key now and uses it when it is usable; otherwise keeps the key in use (logged). Never
   * throws.
   */
  async refresh(signal?: AbortSignal): Promise<void> {
    this.#lastFetchAt = this.#now();
    let pem: string;
    try {
      pem = await this.#options.fetchPublicKey(signal);
    } catch (error) {
      this.stats.fetchFailures++;
      log.warn("Could not fetch Kick's webhook public key; keeping the one in use", {
        source: this.#source,
        problem: error instanceof Error ? error.message : String(error),
      });
      return;
    }
    if (pem === this.#pem) return;
    try {
      const key = await importWebhookPublicKey(pem);
      if (this.#source === "api") {
        this.stats.rotations++;
        log.info("Kick's webhook public key changed; using the new one (kick-api.md §1.7)");
      }
      this.#key = key;
      this.#pem = pem;
      this.#source = "api";
    } catch (error) {
      this.stats.fetchFailures++;
      log.warn("Kick served a webhook public key that cannot be used; keeping the one in use", {
        source: this.#source,
        problem: error instanceof Error ? error.message : String(error),
      });
    }
  }
}

/** KICK_WEBHOOK_PUBLIC_KEY: PEM text, or a file holding it; ConfigError naming the variable otherwise. */
async function importConfiguredKey(configured: string): Promise<CryptoKey> {
  let pem = configured;
  let where = "";
  if (!configured.includes("-----BEGIN")) {
    where = ` (file ${JSON.stringify(configured)})`;
    try {
      pem = await Deno.readTextFile(configured);
    } catch (error) {
      const reason = error instanceof Deno.errors.NotFound
        ? "no such file"
        : error instanceof Deno.errors.PermissionDenied
        ? "permission denied"
        : error instanceof Error
        ? error.message
        : String(error);
      throw new ConfigError([
        `KICK_WEBHOOK_PUBLIC_KEY=${JSON.stringify(configured)}: cannot read it (${reason}); give ` +
        "PEM text or the path of a PEM file, or unset it to use the key Kick serves",
      ]);
    }
  }
  try {
    return await importWebhookPublicKey(pem);
  } catch (error) {
    if (!(error instanceof WebhookKeyError)) throw error;
    throw new ConfigError([`KICK_WEBHOOK_PUBLIC_KEY${where}: ${error.message}`]);
  }
}

/** Waits for `promise`, but no longer than `ms` (it keeps running). */
async function waitAtMost(promise: Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([promise, new Promise<void>((resolve) => timer = setTimeout(resolve, ms))]);
  } finally {
    clearTimeout(timer);
  }
}
