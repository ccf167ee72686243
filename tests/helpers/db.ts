/**
 * The databases tests run against: always PGlite in memory, plus PostgreSQL when TEST_DATABASE_URL is set
 * (e.g. postgres://postgres@127.0.0.1:5432/test). On PostgreSQL every `open()` gets its own freshly named
 * schema, dropped again by `cleanup()`, so tests can run in parallel on one database.
 */
import { PGlite } from "@electric-sql/pglite";
import { openPglite } from "../../src/store/pglite_db.ts";
import { openStore, Store, type StoreOptions } from "../../src/store/store.ts";

/** An opened test database. */
export interface TestDatabase {
  store: Store;
  /** The options `store` was opened with; open a second Store on the same database with them. */
  options: StoreOptions;
  /** Closes the store and, on PostgreSQL, drops its schema. */
  cleanup(): Promise<void>;
}

/** A backend the store tests loop over. */
export interface TestBackend {
  name: "pglite" | "postgres";
  open(): Promise<TestDatabase>;
}

/** PGlite in memory, and PostgreSQL when TEST_DATABASE_URL is set. */
export function testBackends(): TestBackend[] {
  const backends: TestBackend[] = [{ name: "pglite", open: openPgliteTestDatabase }];
  const url = testDatabaseUrl();
  if (url !== undefined) {
    backends.push({ name: "postgres", open: () => openPostgresTestDatabase(url) });
  }
  return backends;
}

/** TEST_DATABASE_URL, or undefined when unset or empty. */
export function testDatabaseUrl(): string | undefined {
  const url = Deno.env.get("TEST_DATABASE_URL");
  return url === undefined || url === "" ? undefined : url;
}

// An initialised, empty PGlite data directory, made once per test process: starting from it takes a
// fraction of a second, running initdb for every test takes seconds.
let pgliteTemplate: Promise<Blob> | undefined;

async function makePgliteTemplate(): Promise<Blob> {
  const pg = await PGlite.create();
  try {
    return await pg.dumpDataDir("none");
  } finally {
    await pg.close();
  }
}

async function openPgliteTestDatabase(): Promise<TestDatabase> {
  pgliteTemplate ??= makePgliteTemplate();
  const db = await openPglite(undefined, { template: await pgliteTemplate });
  // Same as openStore({ inMemory: true }), only faster.
  const store = new Store(db);
  return { store, options: { inMemory: true }, cleanup: () => store.close() };
}

let schemaCounter = 0;

async function openPostgresTestDatabase(url: string): Promise<TestDatabase> {
  const schema = `test_${Date.now().toString(36)}_${Deno.pid}_${++schemaCounter}_${
    Math.floor(Math.random() * 1e6).toString(36)
  }`;
  const options: StoreOptions = { databaseUrl: url, schema };
  const store = await openStore(options);
  return {
    store,
    options,
    cleanup: async () => {
      try {
        // The schema name is generated above from [a-z0-9_] only.
        await store.db.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await store.close();
      }
    },
  };
}
