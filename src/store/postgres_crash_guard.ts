/**
 * postgres.js 3.4.9 can throw from a `setImmediate` callback after a connection was cut (`nextWrite` writes
 * to a socket its `closed()` handler already nulled), an uncaught TypeError that would kill the daemon during a
 * database outage: porsager/postgres#1154, #1208 (unfixed upstream), denoland/deno#34667. The query it belonged
 * to has already been rejected with CONNECTION_CLOSED, so the write is moot; the guard swallows exactly that
 * error and nothing else. Callers keep their own timeouts for the rare write that would otherwise hang.
 */
import { log } from "../lib/log.ts";

let installed = false;

/** True for the one known-harmless crash of postgres.js's connection writer. */
export function isPostgresNullSocketWrite(error: unknown): boolean {
  return error instanceof TypeError &&
    /reading 'write'|evaluating 'socket\.write'/.test(error.message) &&
    /postgres[\\/@].*connection\.js/.test(error.stack ?? "") &&
    /nextWrite/.test(error.stack ?? "");
}

/** Installs the guard once per process. */
export function installPostgresCrashGuard(): void {
  if (installed) return;
  installed = true;
  globalThis.addEventListener("error", (event) => {
    if (isPostgresNullSocketWrite(event.error)) {
      event.preventDefault();
      log.warn("ignored a write on a closed database connection (postgres.js #1208)");
    }
  });
}
