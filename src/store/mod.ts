/**
 * The storage layer: `openStore` and the `Store` class hold every query; db.ts hides the two backends
 * (PostgreSQL server, embedded PGlite); migrate.ts applies `sql/`.
 */
export {
  type ApplyResult,
  type EventFilter,
  type EventRecord,
  type InstanceRecord,
  type NewStreamer,
  type OpenSessionRecord,
  openStore,
  type SessionRecord,
  Store,
  type StoreHealth,
  type StoreOptions,
  type StreamerIds,
  type StreamerRecord,
} from "./store.ts";
export type { Db, DbKind } from "./db.ts";
export { maskDatabaseUrl } from "./db.ts";
export type { AppliedMigration, MigrateOptions, MigrationStatus } from "./migrate.ts";
export type { ApplyOptions, InsertedEvent, RefusedTransition } from "./transitions.ts";
export type {
  EventSource,
  LiveStatus,
  StreamerStatus,
  TransitionLease,
  TransitionType,
} from "../domain/types.ts";
