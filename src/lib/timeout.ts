/**
 * A deadline for a promise that might never settle. The database client can lose a query on a connection cut
 * mid-write (see store/postgres_crash_guard.ts) and leave its caller waiting forever; the daemon cannot let a
 * health probe or a write wait forever, so it gives up, reports the failure and retries.
 */

/** Thrown when `withTimeout` gives up. */
export class TimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} did not finish within ${ms} ms`);
    this.name = "TimeoutError";
  }
}

/**
 * Resolves or rejects as `work` does, or rejects with TimeoutError after `ms`. The work itself is not cancelled;
 * callers only use this for work that is safe to abandon and repeat (idempotent writes, reads).
 */
export function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(what, ms)), ms);
  });
  // An abandoned promise that rejects later must not surface as an unhandled rejection.
  work.catch(() => {});
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
