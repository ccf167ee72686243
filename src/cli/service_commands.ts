/** `service start | stop | status` and `check`. */
import type { Command } from "@commander-js/extra-typings";
import { join } from "node:path";
import type { Config } from "../config.ts";
import { Monitor, STATUS_FILE } from "../monitor/monitor.ts";
import { Pipeline } from "../monitor/pipeline.ts";
import { PollSource } from "../monitor/sources/poll_source.ts";
import { type HttpServer, startHttpServer } from "../http/server.ts";
import { lockHolder, tryLockFile } from "../lib/file_lock.ts";
import { backoffDelay, sleep } from "../lib/backoff.ts";
import { describeError, ExitCode, UnavailableError, UserFacingError } from "../lib/errors.ts";
import { log } from "../lib/log.ts";
import type { MonitorLock } from "../store/store.ts";
import { parseDatabaseUrl } from "../store/database_url.ts";
import { type CommandContext, printJson, printLines } from "./context.ts";
import { parseIntegerArgument } from "./arguments.ts";
import {
  createKickClients,
  MONITOR_LOCK_FILE,
  openConfiguredStore,
  type OpenedStore,
  withStore,
} from "./resources.ts";

export function registerServiceCommands(program: Command, context: () => CommandContext): void {
  const service = program.command("service").description(
    "run, stop and inspect the monitor daemon",
  );

  service.command("start")
    .description("run the monitor in the foreground until SIGTERM/SIGINT")
    .action(async () => {
      await runService(context().config());
    });

  service.command("stop")
    .description("ask a running monitor to stop gracefully, and wait for it")
    .option("--timeout <seconds>", "how long to wait", "30")
    .action(async (options) => {
      // Checked first: NaN here would make the wait below endless.
      const timeoutSeconds = parseIntegerArgument("--timeout", options.timeout, 1, 86_400);
      const config = context().config();
      const lockPath = join(config.dataDir, MONITOR_LOCK_FILE);
      const pid = await lockHolder(lockPath);
      if (pid === null) return printLines(`No monitor is running on ${config.dataDir}.`);
      if (pid < 0) {
        throw new UserFacingError(`A monitor holds ${lockPath} but its pid is unreadable`);
      }
      Deno.kill(pid, "SIGTERM");
      const deadline = Date.now() + timeoutSeconds * 1000;
      while ((await lockHolder(lockPath)) !== null) {
        if (Date.now() > deadline) {
          throw new UserFacingError(
            `The monitor (pid ${pid}) did not stop within ${timeoutSeconds} s`,
          );
        }
        await sleep(100);
      }
      printLines(`Monitor (pid ${pid}) stopped.`);
    });

  service.command("status")
    .description("is a monitor running, connected, how fresh is its data")
    .option("--json", "print one JSON document")
    .action(async (options) => {
      const config = context().config();
      const pid = await lockHolder(join(config.dataDir, MONITOR_LOCK_FILE));
      let details: Record<string, unknown> | null = null;
      if (pid !== null) {
        try {
          details = JSON.parse(await Deno.readTextFile(join(config.dataDir, STATUS_FILE)));
        } catch {
          details = null;
        }
      }
      const report = {
        running: pid !== null,
        pid: pid !== null && pid > 0 ? pid : null,
        ...details,
      };
      if (options.json) return printJson(report);
      if (!report.running) return printLines(`Not running (data dir ${config.dataDir}).`);
      const d = (details ?? {}) as Record<string, unknown>;
      printLines(
        `Running:             yes (pid ${report.pid})`,
        `Streamers:           ${d.streamers ?? "?"}`,
        `Sockets connected:   ${d.sockets_connected ?? "?"} of ${d.sockets_total ?? "?"}`,
        `Subscribed channels: ${d.subscribed_channels ?? "?"}`,
        `Last event:          ${d.last_event_at ?? "none yet"}`,
        `Last poll:           ${d.last_poll_at ?? "none yet"}${
          d.last_poll_error ? ` (last attempt failed: ${d.last_poll_error})` : ""
        }`,
        `Journal backlog:     ${d.journal_backlog ?? "?"}`,
      );
    });

  program.command("check")
    .description("one reconciliation pass against the official API, then exit (cron)")
    .option("--json", "print one JSON document")
    .action(async (options) => {
      const report = await runCheck(context().config());
      if (options.json) return printJson(report);
      printLines(
        `Checked ${report.checked} streamer(s): ${report.online} online, ${report.offline} offline.`,
        ...report.transitions.map((t) => `  ${t.slug} went ${t.type} at ${t.occurred_at}`),
        ...report.not_found.map((slug) => `  ${slug}: Kick does not know this channel any more`),
        report.monitor_running
          ? "A monitor is running: it records transitions itself, so this pass wrote nothing."
          : `Recorded ${report.transitions.length} transition(s).`,
      );
    });
}

/** How often the daemon makes sure it still holds the one-monitor-per-database lock. */
const LOCK_CHECK_INTERVAL_MS = 5_000;

/**
 * The daemon: runs until SIGTERM/SIGINT, then stops sources, flushes and exits 0. Signals are obeyed from the
 * first moment, also while it waits for the database, and /healthz answers (503, with the reason) meanwhile.
 */
async function runService(config: Config): Promise<void> {
  const stop = new AbortController();
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
    await runServiceUntil(config, stop);
  } finally {
    Deno.removeSignalListener("SIGTERM", onSignal);
    Deno.removeSignalListener("SIGINT", onSignal);
  }
}

async function runServiceUntil(config: Config, stop: AbortController): Promise<void> {
  const kick = createKickClients(config);
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
  let lockGuard: ReturnType<typeof setInterval> | undefined;
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
      })
      : null;
    opened = await openStoreWithRetry(config, stop.signal, (reason) => {
      starting.waitingFor = reason;
    });
    if (opened === null) return;
    starting.waitingFor = "starting the monitor";
    let shardLock = await opened.store.tryAcquireMonitorLock();
    if (shardLock === null) {
      throw new UserFacingError(
        "Another monitor is already running against this database; run one monitor per database",
      );
    }
    const store = opened.store;
    let tookOver = false;
    // The database lock lives on one connection; an outage drops it silently. Take it back when the database
    // returns, or stop if another monitor took it meanwhile (two monitors would race on one history).
    let checking = false;
    lockGuard = setInterval(async () => {
      if (checking || stop.signal.aborted || shardLock === null) return;
      checking = true;
      try {
        await guardLock(shardLock);
      } finally {
        checking = false;
      }
    }, LOCK_CHECK_INTERVAL_MS);
    const guardLock = async (lock: MonitorLock) => {
      if ((await lock.check()) !== "lost") return;
      await lock.release();
      const again = await store.tryAcquireMonitorLock().catch(() => undefined);
      if (again === undefined) return; // unreachable again; the next round retries
      shardLock = again;
      if (again !== null) {
        log.warn("the database dropped the monitor lock with its connection; took it back");
        return;
      }
      tookOver = true;
      log.error("another monitor took this database over while it was unreachable; stopping");
      stop.abort();
    };
    const monitor = await Monitor.create({ config, store: opened.store, api: kick.api });
    starting.monitor = monitor;
    log.info("monitor starting", { pid: Deno.pid, dataDir: config.dataDir });
    // A signal during the start-up reconciliation stops it (monitor.stop aborts the pass).
    await Promise.race([monitor.start(), stopped]);
    await stopped;
    clearInterval(lockGuard);
    await monitor.stop();
    await shardLock?.release();
    log.info("monitor stopped");
    if (tookOver) {
      throw new UserFacingError(
        "Another monitor took this database over while it was unreachable; this one stopped",
      );
    }
  } finally {
    clearInterval(lockGuard);
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
    const opening = openConfiguredStore(config);
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

interface CheckReport {
  checked: number;
  online: number;
  offline: number;
  not_found: string[];
  monitor_running: boolean;
  transitions: { slug: string; type: string; occurred_at: string; baseline: boolean }[];
}

/** One reconciliation pass. When a monitor is running it only reports, so two writers never race. */
async function runCheck(config: Config): Promise<CheckReport> {
  const kick = createKickClients(config);
  return await withStore(config, async (store) => {
    const streamers = await store.listStreamers();
    const lock = await store.tryAcquireMonitorLock();
    const dirHolder = await lockHolder(join(config.dataDir, MONITOR_LOCK_FILE));
    const monitorRunning = lock === null || dirHolder !== null;
    try {
      const pipeline = new Pipeline({ offlineGraceMs: 0 });
      pipeline.sync(streamers);
      const result = await new PollSource({ api: kick.api }).reconcile(streamers);
      const transitions = result.observations.flatMap((o) => pipeline.ingest(o));
      if (!monitorRunning) {
        await store.applyTransitions(transitions);
        await store.markChecked(result.observations.map((o) => o.slug), result.checkedAt);
        for (const { slug, channelId } of result.discoveredChannelIds) {
          await store.setStreamerIds(slug, { channelId });
        }
      }
      return {
        checked: result.observations.length,
        online: result.observations.filter((o) => o.status === "online").length,
        offline: result.observations.filter((o) => o.status === "offline").length,
        not_found: result.notFound,
        monitor_running: monitorRunning,
        transitions: transitions.map((t) => ({
          slug: t.slug,
          type: t.type,
          occurred_at: t.occurredAt.toISOString(),
          baseline: t.baseline,
        })),
      };
    } finally {
      await lock?.release();
    }
  });
}
