/** Shared set-up of the Kick integration tests: a world, the fake Kick, and the clients pointed at it. */
import type { HttpClient } from "../../src/lib/http.ts";
import { KickHttpClient, type KickHttpClientOptions } from "../../src/kick/http.ts";
import { configureLogging } from "../../src/lib/log.ts";
import { AppTokenProvider } from "../../src/kick/oauth.ts";
import { KickApi } from "../../src/kick/api.ts";
import { LegacyLookup } from "../../src/kick/legacy.ts";
import { FakeWorld } from "../../src/sim/world.ts";
import { type FakeKick, type FakeKickOptions, startFakeKick } from "../../src/sim/kick.ts";

export const CLIENT_ID = "01JTESTCLIENTID";
export const CLIENT_SECRET = "s3cr3t-client-secret-value";

/** Fast retries so fault tests stay quick. */
export const FAST_HTTP: KickHttpClientOptions = {
  ratePerSecond: 1000,
  timeoutMs: 2000,
  maxRetries: 3,
  retryBaseMs: 5,
  retryCapMs: 20,
};

export interface KickRig {
  world: FakeWorld;
  fake: FakeKick;
  http: HttpClient;
  tokens: AppTokenProvider;
  api: KickApi;
  legacy: LegacyLookup;
  /** Every log line written while the rig ran (JSON lines). */
  logs: string[];
  close(): Promise<void>;
}

export interface RigOptions {
  http?: Partial<KickHttpClientOptions>;
  fake?: Partial<Omit<FakeKickOptions, "world">>;
  clientSecret?: string;
  batchSize?: number;
  world?: FakeWorld;
}

/** Starts the fake Kick and builds the clients on it; `close()` stops everything. */
export async function startRig(options: RigOptions = {}): Promise<KickRig> {
  const logs: string[] = [];
  configureLogging({ write: (line) => logs.push(line), format: "json", level: "debug" });
  const world = options.world ?? new FakeWorld();
  const fake = await startFakeKick({
    world,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    ...options.fake,
  });
  const http = new KickHttpClient({ ...FAST_HTTP, ...options.http });
  const tokens = new AppTokenProvider({
    http,
    oauthUrl: fake.url,
    clientId: CLIENT_ID,
    clientSecret: options.clientSecret ?? CLIENT_SECRET,
  });
  const api = new KickApi({ http, tokens, apiUrl: fake.url, batchSize: options.batchSize });
  const legacy = new LegacyLookup({ http, webUrl: fake.url });
  return {
    world,
    fake,
    http,
    tokens,
    api,
    legacy,
    logs,
    async close() {
      await fake.close();
    },
  };
}

/** Resolves to the error `promise` rejects with; fails when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Error) return error;
    throw new Error(`Rejected with a non-Error: ${String(error)}`);
  }
  throw new Error("Expected a rejection, but the promise resolved");
}

/** Runs `test` with a fresh rig, closing it afterwards whatever happens. */
export async function withRig(
  options: RigOptions,
  test: (rig: KickRig) => Promise<void>,
): Promise<void> {
  const rig = await startRig(options);
  try {
    await test(rig);
  } finally {
    await rig.close();
  }
}
