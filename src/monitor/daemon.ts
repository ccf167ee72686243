/**
 * The daemon (`service start`): runs the monitor until SIGTERM/SIGINT, then stops sources, flushes and exits
 * 0. One monitor per data directory (a file lock, which is also what keeps a second monitor off the embedded
 * database); several on one PostgreSQL database share its streamers through lease rows (ownership.ts).
 * Signals are obeyed from the first moment, also while it waits for the database, and /healthz answers (503,
 * with the reason) meanwhile.
 */
import { join } from "node:path";
import type { Config } from "../config.ts";
import { requireUsableDataDir } from "../config_usability.ts";
import { type HttpServer, startHttpServer } from "../http/server.ts";
import { readApiRoutes } from "../http/read_api.ts";
import { StreamerSnapshot } from "../http/streamer_snapshot.ts";
import type { ViewerCount } from "./viewer_counts.ts";
import { webRoutes } from "../web/routes.ts";
import type { Transition } from "../domain/types.ts";
import { backoffDelay, sleep } from "../lib/backoff.ts";
import { describeError, ExitCode, UnavailableError, UserFacingError } from "../lib/errors.ts";
import { lockHolder, tryLockFile } from "../lib/file_lock.ts";
import { releaseBurstHeap } from "../lib/heap.ts";
import { log } from "../lib/log.ts";
import {
  createKickClients,
  createLegacyLookup,
  MONITOR_LOCK_FILE,
  openConfiguredStore,
  type OpenedStore,
} from "../resources.ts";
import { parseDatabaseUrl } from "../store/database_url.ts";
import type { SinkFactory, SourceFactory } from "./contracts.ts";
import { Monitor } from "./monitor.ts";

/** Options of {@link runDaemon}. */
export interface DaemonOptions {
  /** The sources to run (default: the registry). */
  sources?: readonly SourceFactory[];
  /** The sinks to feed (default: the registry). */
  sinks?: readonly SinkFactory[];
  /** Called once the monitor is built (tests reach it through this). */
  onStarted?: (monitor: Monitor) => void;
  /** Stops the daemon like a SIGTERM (for running it in-process). */
  signal?: AbortSignal;
}

/**
 * The daemon: runs until SIGTERM/SIGINT, then stops sources, flushes and exits 0. Signals are obeyed from the
 * first moment, also while it waits for the database, and /healthz answers (503, with the reason) meanwhile.
 */
export async function runDaemon(config: Config, options: DaemonOptions = {}): Promise<void> {
  const stop = new AbortController();
  options.signal?.addEventListener("abort", () => stop.abort(), { once: true });
  const onSignal = () => {
    if (stop.signal.aborted) {
      // A second signal: the operator will not wait for the graceful stop. Nothing journaled is lost (the
      // journal is fsync'd before the database write; a restart replays it), as after a SIGKILL.
      log.warn("second signal received; exiting now");
      Deno.exit(ExitCode.failure);
    }
    log.info("signal received; stopping");
    stop.abort();
  };
  Deno.addSignalListener("SIGTERM", onSignal);
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    await runUntil(config, stop, options);
  } finally {
    Deno.removeSignalListener("SIGTERM", onSignal);
    Deno.removeSignalListener("SIGINT", onSignal);
  }
}

async function runUntil(
  config: Config,
  stop: AbortController,
  options: DaemonOptions,
): Promise<void> {
  const kick = createKickClients(config);
  await requireUsableDataDir(config.dataDir);
  await Deno.mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const lockPath = join(config.dataDir, MONITOR_LOCK_FILE);
  const dirLock = await tryLockFile(lockPath);
  if (dirLock === null) {
    const pid = await lockHolder(lockPath);
    throw new UserFacingError(
      `A monitor is already running on data directory ${config.dataDir}${
        pid ? ` (pid ${pid})` : ""
      }`,
    );
  }
  const stopped = new Promise<void>((resolve) => {
    if (stop.signal.aborted) resolve();
    stop.signal.addEventListener("abort", () => resolve(), { once: true });
  });
  const database = describeDatabase(config);
  // Until the monitor runs, /healthz says what the daemon waits for.
  const starting: { waitingFor: string; monitor: Monitor | null } = {
    waitingFor: "opening the database",
    monitor: null,
  };
  let opened: OpenedStore | null = null;
  let http: HttpServer | null = null;
  const pageData = {
    store: () => starting.monitor === null ? null : opened?.store ?? null,
    subscribe: (listener: (transitions: Transition[]) => void) =>
      starting.monitor?.onCommitted(listener) ?? null,
    viewers: (slug: string) => starting.monitor?.viewers.of(slug) ?? null,
    subscribeFirstCounts: (listener: (slug: string, count: ViewerCount) => void) =>
      starting.monitor?.viewers.onFirstCount(listener) ?? null,
  };
  const snapshot = new StreamerSnapshot(pageData);
  try {
    http = config.http
      ? startHttpServer(config.http, {
        health: async () => {
          if (starting.monitor === null) {
            return {
              healthy: false,
              state: "starting",
              database: starting.waitingFor,
              ...database,
            };
          }
          return { ...await starting.monitor.health(), ...database };
        },
        metrics: () => starting.monitor?.metrics.render() ?? "",
        // The read API and the pages answer 503 until the monitor runs (its store is then open).
        routes: [
          ...readApiRoutes({ ...pageData, snapshot }),
          ...webRoutes({
            store: pageData.store,
            snapshot,
            status: () => starting.monitor?.status() ?? null,
          }),
        ],
        token: config.httpToken,
      })
      : null;
    opened = await openStoreWithRetry(config, stop.signal, (reason) => {
      starting.waitingFor = reason;
    });
    if (opened === null) return;
    starting.waitingFor = "starting the monitor";
    const monitor = await Monitor.create({
      config,
      store: opened.store,
      api: kick.api,
      legacy: createLegacyLookup(config),
      sources: options.sources,
      sinks: options.sinks,
    });
    options.onStarted?.(monitor);
    starting.monitor = monitor;
    log.info("monitor starting", {
      pid: Deno.pid,
      dataDir: config.dataDir,
      instance: config.instance,
    });
    // A signal during the start-up reconciliation stops it (monitor.stop aborts the pass).
    // Then the heap the start-up's burst grew is given back (lib/heap.ts: a third of an idle daemon's RSS).
    await Promise.race([monitor.start().then(() => releaseBurstHeap()), stopped]);
    await stopped;
    await monitor.stop();
    log.info("monitor stopped");
  } finally {
    await http?.close();
    await opened?.close();
    dirLock.release();
  }
}

/** Which database /healthz reports: its address and name, never its user or password. */
function describeDatabase(config: Config): Record<string, string> {
  if (!config.databaseUrl) {
    return { database_backend: "embedded", database_location: join(config.dataDir, "pgdata") };
  }
  try {
    const target = parseDatabaseUrl(config.databaseUrl);
    return {
      database_backend: "postgres",
      database_location: target.address,
      database_name: target.database,
    };
  } catch {
    return { database_backend: "postgres" };
  }
}

/**
 * The daemon waits for its database rather than exiting, so a restart order never matters: attempts spaced by
 * the one backoff (src/lib/backoff.ts), each abandoned at once when a signal arrives. Null when stopped.
 */
async function openStoreWithRetry(
  config: Config,
  signal: AbortSignal,
  onWaiting: (reason: string) => void,
): Promise<OpenedStore | null> {
  const aborted = new Promise<null>((resolve) => {
    if (signal.aborted) resolve(null);
    signal.addEventListener("abort", () => resolve(null), { once: true });
  });
  for (let attempt = 0; !signal.aborted; attempt++) {
    // On the embedded database, the daemon serves it to the other commands (store/embedded_server.ts).
    const opening = openConfiguredStore(config, { serve: true });
    try {
      const opened = await Promise.race([opening, aborted]);
      if (opened !== null) return opened;
      // Stopped mid-attempt: close whatever the attempt still opens.
      opening.then((late) => late.close(), () => {});
      return null;
    } catch (error) {
      if (!(error instanceof UnavailableError)) throw error;
      const delay = backoffDelay(attempt, { baseMs: 1_000, capMs: 30_000 });
      onWaiting(`waiting for the database: ${describeError(error)}`);
      log.warn("database unreachable; retrying", { error: describeError(error), retryInMs: delay });
      await sleep(delay, signal).catch(() => {});
    }
  }
  return null;
}
