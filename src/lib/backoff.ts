/** The one backoff policy: exponential with full jitter, capped. Pure given the random source. */

export interface BackoffOptions {
  /** Delay before the first retry, in milliseconds. */
  baseMs: number;
  /** Largest delay ever returned, in milliseconds. */
  capMs: number;
  /** Smallest delay ever returned, in milliseconds (default 0). */
  floorMs?: number;
  /** Source of randomness in [0, 1); injectable for tests. */
  random?: () => number;
}

/**
 * Delay before retry number `attempt` (0 for the first retry): a uniformly random value in
 * [max(floor, ceiling/2), ceiling] where ceiling = min(cap, base * 2^attempt). Half-jitter keeps retries spread
 * out without ever retrying much sooner than the schedule intends.
 */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const random = options.random ?? Math.random;
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.min(attempt, 30));
  const floor = Math.max(options.floorMs ?? 0, ceiling / 2);
  return Math.round(floor + (Math.max(ceiling, floor) - floor) * random());
}

/** Resolves after `ms`, or rejects early with the signal's reason when it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    function onAbort(): void {
      clearTimeout(timer);
      reject(signal!.reason);
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
