/**
 * Opening the things commands share, from the configuration: the store (PostgreSQL or the embedded database)
 * and the Kick clients. The embedded database is open in one process at a time (a lock in the data directory
 * says which); while the monitor has it, it serves it on a socket there (store/embedded_server.ts), and the
 * other commands go through that.
 */
import { join } from "node:path";
import { type Config, requireKickCredentials } from "./config.ts";
import { requireUsableDataDir } from "./config_usability.ts";
import type { HttpClient } from "./lib/http.ts";
import { KickHttpClient } from "./kick/http.ts";
import { AppTokenProvider } from "./kick/oauth.ts";
import { KickApi } from "./kick/api.ts";
import { LegacyLookup } from "./kick/legacy.ts";
import { resolveInBatches } from "./kick/resolve.ts";
import { type NewStreamer, openStore, Store } from "./store/store.ts";
import { type FileLock, lockHolder, tryLockFile } from "./lib/file_lock.ts";
import { describeError, UserFacingError } from "./lib/errors.ts";
import { sleep } from "./lib/backoff.ts";
import { log } from "./lib/log.ts";
import { type EmbeddedServer, serveEmbedded } from "./store/embedded_server.ts";
import { connectToServedEmbedded, embeddedSocketPath } from "./store/embedded_client.ts";
import { PgliteDb } from "./store/pglite_db.ts";

export const MONITOR_LOCK_FILE = "monitor.lock";
const EMBEDDED_LOCK_FILE = "pgdata.lock";

export interface OpenedStore {
  store: Store;
  close(): Promise<void>;
}

/** Options of {@link openConfiguredStore}. */
export interface OpenStoreOptions {
  /** Migrate first (default true). */
  migrate?: boolean;
  /** How long to wait for the embedded database while another process has it (default 10 s). */
  waitForEmbeddedMs?: number;
  /**
   * Open the embedded database here and serve it to other commands until closed (the daemon); without it, a
   * running monitor's socket is used when there is one.
   */
  serve?: boolean;
}

/**
 * Opens the configured store, migrating it first unless `migrate` is false. Without DATABASE_URL: through the
 * running monitor when it serves the embedded database, else the embedded database itself.
 */
export async function openConfiguredStore(
  config: Config,
  options: OpenStoreOptions = {},
): Promise<OpenedStore> {
  if (config.databaseUrl) {
    return await migrated(await openStore({ databaseUrl: config.databaseUrl }), options, []);
  }
  await requireUsableDataDir(config.dataDir);
  await Deno.mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const lockPath = join(config.dataDir, EMBEDDED_LOCK_FILE);
  // Polled together: a monitor that is starting holds the lock first and serves a few seconds later.
  const deadline = Date.now() + (options.waitForEmbeddedMs ?? 10_000);
  while (true) {
    const served = options.serve ? null : await connectToServedEmbedded(config.dataDir);
    if (served !== null) return await migrated(new Store(served), options, []);
    const lock = await tryLockFile(lockPath);
    if (lock !== null) return await openLocked(config, lock, options);
    if (Date.now() >= deadline) break;
    await sleep(100);
  }
  const holder = await lockHolder(join(config.dataDir, MONITOR_LOCK_FILE));
  throw new UserFacingError(
    holder
      ? `The embedded database in ${config.dataDir} is in use by the running monitor (pid ${holder}), ` +
        "which does not serve it to other commands (its log says why). Use PostgreSQL (DATABASE_URL), " +
        "or stop the monitor first (kick-monitor service stop)."
      : `The embedded database in ${config.dataDir} is in use by another kick-monitor process.`,
  );
}

/** The embedded database opened here, under its lock; served to other commands when asked to. */
async function openLocked(
  config: Config,
  lock: FileLock,
  options: OpenStoreOptions,
): Promise<OpenedStore> {
  try {
    const opened = await migrated(await openStore({ dataDir: config.dataDir }), options, [
      () => lock.release(),
    ]);
    if (!options.serve || !(opened.store.db instanceof PgliteDb)) return opened;
    const server = await serve(opened.store.db, config.dataDir);
    return server === null ? opened : {
      store: opened.store,
      async close(): Promise<void> {
        // Clients first: their transactions are rolled back while the database is still open.
        await server.close();
        await opened.close();
      },
    };
  } catch (error) {
    lock.release();
    throw error;
  }
}

/** Serves the embedded database on its socket; null (logged) when that is impossible here. */
async function serve(db: PgliteDb, dataDir: string): Promise<EmbeddedServer | null> {
  try {
    return await serveEmbedded(db, embeddedSocketPath(dataDir));
  } catch (error) {
    log.warn(
      "cannot serve the embedded database to other commands; they will wait for this monitor to stop",
      { error: describeError(error) },
    );
    return null;
  }
}

/** Migrates `store` unless told not to; its close also runs `onClose` (lock releases), whatever happens. */
async function migrated(
  store: Store,
  options: OpenStoreOptions,
  onClose: (() => void)[],
): Promise<OpenedStore> {
  const close = async (): Promise<void> => {
    try {
      await store.close();
    } finally {
      for (const fn of onClose) fn();
    }
  };
  try {
    if (options.migrate !== false) await store.migrate();
  } catch (error) {
    await close().catch(() => {});
    throw error;
  }
  return { store, close };
}

/**
 * Whether the embedded database of `config` exists yet, without creating anything: opening it would run
 * initdb, which a health check or the doctor must not do.
 */
export async function embeddedDatabaseExists(config: Config): Promise<boolean> {
  try {
    await Deno.stat(join(config.dataDir, "pgdata"));
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Runs `fn` with the configured store open, closing it afterwards. */
export async function withStore<T>(
  config: Config,
  fn: (store: Store) => Promise<T>,
  options: { migrate?: boolean } = {},
): Promise<T> {
  const opened = await openConfiguredStore(config, options);
  try {
    return await fn(opened.store);
  } finally {
    await opened.close();
  }
}

/** The Kick clients, built from the configuration (credentials required). */
export interface KickClients {
  http: HttpClient;
  tokens: AppTokenProvider;
  api: KickApi;
}

/** Builds the official-API clients; throws ConfigError (78) when the credentials are missing. */
export function createKickClients(config: Config): KickClients {
  const { clientId, clientSecret } = requireKickCredentials(config);
  const http = new KickHttpClient({
    ratePerSecond: config.apiRatePerSecond,
    // Evenly spaced, never bunched: against a per-second limit as tight as our rate, a burst at start leaves
    // no slack, and the next bit of network jitter earns a 429 (measured by the reconciliation benchmark).
    burst: 1,
    timeoutMs: config.apiTimeoutSeconds * 1000,
  });
  const tokens = new AppTokenProvider({ http, oauthUrl: config.oauthUrl, clientId, clientSecret });
  const api = new KickApi({ http, tokens, apiUrl: config.apiUrl, batchSize: config.apiBatchSize });
  return { http, tokens, api };
}

/** The best-effort legacy website lookup: few retries, since Cloudflare's answer will not change. */
export function createLegacyLookup(config: Config): LegacyLookup {
  const http = new KickHttpClient({
    ratePerSecond: config.apiRatePerSecond,
    timeoutMs: Math.min(config.apiTimeoutSeconds, 5) * 1000,
    maxRetries: 1,
  });
  return new LegacyLookup({ http, webUrl: config.webUrl });
}

/** One batch stored by {@link addStreamersFromKick}. */
export interface StoredBatch {
  /** The slugs of this batch, as asked for. */
  slugs: string[];
  /** The streamers stored: the channels Kick knows, with the ids learned for them. */
  rows: (Required<NewStreamer> & { broadcasterUserId: number })[];
  /** Slugs of `rows` that were not monitored before. */
  added: string[];
  /** Slugs of this batch Kick has no channel for. */
  notFound: string[];
}

/**
 * Resolves `slugs` through Kick (src/kick/resolve.ts: the official API, then channel ids) and stores them, one
 * API batch at a time: each batch is stored before it is yielded and before the next is asked for, so a caller
 * can print it and an interruption keeps what was stored. The one way streamers are added from slugs
 * (`streamers add`, `demo`).
 */
export async function* addStreamersFromKick(
  store: Store,
  slugs: string[],
  options: { api: KickApi; legacy: LegacyLookup; batchSize: number; signal?: AbortSignal },
): AsyncGenerator<StoredBatch> {
  for await (const batch of resolveInBatches(slugs, options)) {
    const rows = [...batch.channels.entries()].map(([slug, channel]) => ({
      slug,
      broadcasterUserId: channel.broadcasterUserId,
      channelId: batch.ids.get(slug)?.channelId ?? null,
      chatroomId: batch.ids.get(slug)?.chatroomId ?? null,
    }));
    const { added } = await store.addStreamers(rows);
    yield { slugs: batch.slugs, rows, added, notFound: batch.notFound };
  }
}
