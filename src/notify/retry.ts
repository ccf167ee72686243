/**
 * What to do after a failed send: try again when (the service's own wait, or the one back-off of
 * src/lib/backoff.ts), or give up. Pure given the clock and the random source.
 */
import { backoffDelay } from "../lib/backoff.ts";
import type { SendResult } from "./types.ts";

/** Options of {@link decideRetry}. */
export interface RetryPolicy {
  /** First back-off delay (default 10 s). */
  baseMs?: number;
  /** Largest back-off delay (default 30 min). */
  capMs?: number;
  /** A delivery still failing this long after it was created is given up (default 24 h). */
  giveUpAfterMs?: number;
  random?: () => number;
}

export type RetryDecision =
  | { kind: "retry"; at: Date }
  | { kind: "failed"; reason: string };

export const GIVE_UP_AFTER_MS = 24 * 3600_000;

/**
 * After failed attempt number `attempts` (1 for the first) of a delivery created at `createdAt`:
 * - an answer that will not change (404 unknown webhook, 401, 403, 400) fails at once, with its reason;
 * - otherwise the next attempt waits what the service asked (Retry-After, Discord's `retry_after`, Telegram's
 *   `parameters.retry_after`), and at least the back-off unless it was a plain 429;
 * - a delivery that would still be retried more than `giveUpAfterMs` after it was created fails.
 */
export function decideRetry(
  result: Extract<SendResult, { ok: false }>,
  context: { attempts: number; createdAt: Date; now: Date },
  policy: RetryPolicy = {},
): RetryDecision {
  if (!result.retryable) return { kind: "failed", reason: result.reason };
  const backoff = backoffDelay(Math.max(0, context.attempts - 1), {
    baseMs: policy.baseMs ?? 10_000,
    capMs: policy.capMs ?? 30 * 60_000,
    random: policy.random,
  });
  const waitMs = result.rateLimited && result.retryAfterMs !== null
    ? result.retryAfterMs
    : Math.max(result.retryAfterMs ?? 0, backoff);
  const at = new Date(context.now.getTime() + waitMs);
  const giveUpAt = context.createdAt.getTime() + (policy.giveUpAfterMs ?? GIVE_UP_AFTER_MS);
  if (at.getTime() > giveUpAt) {
    const hours = Math.round((policy.giveUpAfterMs ?? GIVE_UP_AFTER_MS) / 3600_000);
    return {
      kind: "failed",
      reason: `gave up after ${context.attempts} attempts over ${hours} h (last: ${result.reason})`,
    };
  }
  return { kind: "retry", at };
}
