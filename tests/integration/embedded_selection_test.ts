/**
 * How a command reaches the embedded database (src/resources.ts `openConfiguredStore`): through the monitor
 * when one serves it, else directly; a socket a killed monitor left behind is no monitor. The "monitor" here
 * is `openConfiguredStore(config, { serve: true })` in this process, as `service start` opens it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadConfig } from "../../src/config.ts";
import type { Config } from "../../src/config.ts";
import { MONITOR_LOCK_FILE, openConfiguredStore } from "../../src/resources.ts";
import { tryLockFile } from "../../src/lib/file_lock.ts";
import { PgliteDb } from "../../src/store/pglite_db.ts";
import { openStore } from "../../src/store/store.ts";
import { serveEmbedded } from "../../src/store/embedded_server.ts";
import { leaveStaleSocket } from "../helpers/stale_socket.ts";

const SOCKET = ".s.PGSQL.5432";

async function embeddedConfig(): Promise<{ config: Config; dataDir: string }> {
  const dataDir = join(await Deno.makeTempDir({ prefix: "kick-sel-" }), "data");
  const config = loadConfig({
    env: { KICK_MONITOR_DATA_DIR: dataDir, DATABASE_URL: "", LOG_LEVEL: "warn" },
    envFile: "/dev/null",
  });
  return { config, dataDir };
}

async function removeAll(dataDir: string): Promise<void> {
  await Deno.remove(join(dataDir, ".."), { recursive: true });
}

Deno.test("selection: with a monitor serving the embedded database, a command goes through it", async () => {
  const { config, dataDir } = await embeddedConfig();
  const daemon = await openConfiguredStore(config, { serve: true });
  try {
    assert.ok(daemon.store.db instanceof PgliteDb);
    assert.equal(Deno.lstatSync(join(dataDir, SOCKET)).mode! & 0o777, 0o600);
    await daemon.store.addStreamers([{ slug: "xqc", broadcasterUserId: 676, channelId: 668 }]);
    const version = await daemon.store.streamerListVersion();

    const command = await openConfiguredStore(config, { waitForEmbeddedMs: 2_000 });
    try {
      assert.ok(!(command.store.db instanceof PgliteDb), "the command opened PGlite itself");
      assert.equal(command.store.kind, "pglite");
      // Migrated already: `db migrate` through the monitor applies nothing.
      assert.deepEqual(await command.store.migrate(), { applied: [] });
      assert.deepEqual(await command.store.listStreamers(), await daemon.store.listStreamers());
      await command.store.addStreamers([{ slug: "amouranth", broadcasterUserId: 42 }]);
      // The monitor re-reads its list when this fingerprint changes (monitor.ts #syncStreamers).
      assert.notEqual(await daemon.store.streamerListVersion(), version);
      assert.deepEqual(
        (await daemon.store.listStreamers()).map((s) => s.slug),
        ["amouranth", "xqc"],
      );
    } finally {
      await command.close();
    }
  } finally {
    await daemon.close();
  }
  assert.throws(() => Deno.lstatSync(join(dataDir, SOCKET)), Deno.errors.NotFound);
  await removeAll(dataDir);
});

Deno.test("selection: without a monitor, and with the socket a killed one left, a command opens PGlite itself", async () => {
  const { config, dataDir } = await embeddedConfig();
  try {
    const first = await openConfiguredStore(config);
    try {
      assert.ok(first.store.db instanceof PgliteDb);
      await first.store.addStreamers([{ slug: "xqc", broadcasterUserId: 676 }]);
    } finally {
      await first.close();
    }
    await leaveStaleSocket(join(dataDir, SOCKET));
    const again = await openConfiguredStore(config, { waitForEmbeddedMs: 2_000 });
    try {
      assert.ok(again.store.db instanceof PgliteDb);
      assert.deepEqual((await again.store.listStreamers()).map((s) => s.slug), ["xqc"]);
    } finally {
      await again.close();
    }
    // The next monitor replaces the stale socket, and commands reach it.
    const daemon = await openConfiguredStore(config, { serve: true });
    try {
      const command = await openConfiguredStore(config, { waitForEmbeddedMs: 2_000 });
      assert.ok(!(command.store.db instanceof PgliteDb));
      assert.deepEqual((await command.store.listStreamers()).map((s) => s.slug), ["xqc"]);
      await command.close();
    } finally {
      await daemon.close();
    }
  } finally {
    await removeAll(dataDir);
  }
});

Deno.test("selection: a monitor that holds the database without serving it: the command says so", async () => {
  const { config, dataDir } = await embeddedConfig();
  await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const monitorLock = await tryLockFile(join(dataDir, MONITOR_LOCK_FILE));
  const databaseLock = await tryLockFile(join(dataDir, "pgdata.lock"));
  try {
    await assert.rejects(
      openConfiguredStore(config, { waitForEmbeddedMs: 300 }),
      new RegExp(`in use by the running monitor \\(pid ${Deno.pid}\\), which does not serve it`),
    );
  } finally {
    databaseLock?.release();
    monitorLock?.release();
    await removeAll(dataDir);
  }
});

Deno.test("selection: a command that finds the database locked waits for the monitor to serve it", async () => {
  const { config, dataDir } = await embeddedConfig();
  try {
    // Created and migrated first, so that the "monitor" below opens it quickly.
    await (await openConfiguredStore(config)).close();
    // A monitor that is starting: it holds the lock for a while before it serves (runDaemon's order).
    const lock = await tryLockFile(join(dataDir, "pgdata.lock"));
    assert.ok(lock !== null);
    const command = openConfiguredStore(config, { waitForEmbeddedMs: 30_000 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const store = await openStore({ dataDir });
    assert.ok(store.db instanceof PgliteDb);
    const server = await serveEmbedded(store.db, join(dataDir, SOCKET));
    try {
      const opened = await command;
      assert.ok(!(opened.store.db instanceof PgliteDb), "it opened the database under the lock");
      assert.deepEqual(await opened.store.listStreamers(), []);
      await opened.close();
    } finally {
      await server.close();
      await store.close();
      lock.release();
    }
  } finally {
    await removeAll(dataDir);
  }
});
