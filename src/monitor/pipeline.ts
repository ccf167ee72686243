/**
 * The pipeline: routes observations to each streamer's status machine and hands the resulting transitions to a
 * sink. No I/O of its own; the clock is injected.
 */
import type { Observation, StreamerStatus, Transition } from "../domain/types.ts";
import {
  initialState,
  type MachineOptions,
  observe,
  type StreamerState,
  tick,
} from "./status_machine.ts";

/** What the pipeline needs to know of a stored streamer to resume where it left off. */
export interface SeedRecord {
  slug: string;
  status: StreamerStatus;
  statusChangedAt: Date | null;
  session: { livestreamId: number | null; startedAt?: Date | null } | null;
}

/** What the pipeline counts, for /metrics and tests. */
export interface PipelineCounters {
  observations: number;
  transitions: number;
  /** Observations for streamers that are not monitored (removed, or never added). */
  ignored: number;
}

export class Pipeline {
  #states = new Map<string, StreamerState>();
  /** The last journaled but uncommitted transition of each streamer not yet seeded (see `resumeFrom`). */
  #journaled = new Map<string, Transition>();
  #options: MachineOptions;
  /** The records of the last `sync`, to seed a forgotten streamer from. */
  #records = new Map<string, SeedRecord>();
  readonly counters: PipelineCounters = { observations: 0, transitions: 0, ignored: 0 };

  constructor(options: MachineOptions) {
    this.#options = options;
  }

  /**
   * Transitions a previous run journaled but the database has not committed yet (they are being replayed into
   * it). The database's status is older than them, so streamers are seeded from these instead: otherwise the
   * first poll would report the same change again, as a second event with another dedupe key.
   */
  resumeFrom(transitions: Transition[]): void {
    for (const t of transitions) this.#journaled.set(t.slug, t);
  }

  /** Sets the monitored streamers; keeps state for those already known, seeds new ones, drops removed ones. */
  sync(records: SeedRecord[]): void {
    this.#records = new Map(records.map((record) => [record.slug, record]));
    const seen = new Set<string>();
    for (const record of records) {
      seen.add(record.slug);
      if (this.#states.has(record.slug)) continue;
      const journaled = this.#journaled.get(record.slug);
      this.#journaled.delete(record.slug);
      const stored = record.statusChangedAt?.getTime() ?? -Infinity;
      if (journaled !== undefined && journaled.occurredAt.getTime() >= stored) {
        this.#states.set(record.slug, {
          ...initialState(record.slug),
          status: journaled.type,
          since: journaled.occurredAt,
          livestreamId: journaled.livestreamId,
          sessionStartedAt: journaled.type === "online" ? journaled.occurredAt : null,
        });
        continue;
      }
      this.#states.set(record.slug, {
        ...initialState(record.slug),
        status: record.status,
        since: record.statusChangedAt,
        livestreamId: record.session?.livestreamId ?? null,
        sessionStartedAt: record.session?.startedAt ??
          (record.status === "online" ? record.statusChangedAt : null),
      });
    }
    for (const slug of [...this.#states.keys()]) {
      if (!seen.has(slug)) this.#states.delete(slug);
    }
  }

  /** Feeds one observation; returns the transitions it causes (usually none). */
  ingest(observation: Observation): Transition[] {
    this.counters.observations++;
    const state = this.#states.get(observation.slug);
    if (state === undefined) {
      this.counters.ignored++;
      return [];
    }
    const step = observe(state, observation, this.#options);
    this.#states.set(observation.slug, step.state);
    this.counters.transitions += step.transitions.length;
    return step.transitions;
  }

  /** Records offlines whose grace has passed by `now` (ms since the epoch). */
  tick(now: number): Transition[] {
    const out: Transition[] = [];
    for (const [slug, state] of this.#states) {
      if (state.pendingOffline === null) continue;
      const step = tick(state, now, this.#options);
      this.#states.set(slug, step.state);
      out.push(...step.transitions);
    }
    this.counters.transitions += out.length;
    return out;
  }

  /**
   * Forgets what the machine believes of these streamers (their transitions could not be journaled): the
   * next `sync` seeds them from the store again, and the next poll finds what changed.
   */
  forget(slugs: string[]): void {
    for (const slug of slugs) this.#states.delete(slug);
    this.sync([...this.#records.values()]);
  }

  /** Moves a streamer's state to its new slug (Kick renamed the channel; the store followed). */
  rename(slug: string, newSlug: string): void {
    const state = this.#states.get(slug);
    if (state === undefined || this.#states.has(newSlug)) return;
    this.#states.delete(slug);
    this.#states.set(newSlug, { ...state, slug: newSlug });
  }

  /** The current state of one streamer (for status output and tests). */
  stateOf(slug: string): StreamerState | undefined {
    return this.#states.get(slug);
  }

  /** Streamers with a poll answer that contradicts their status, waiting for a second answer to agree. */
  suspects(): string[] {
    const out: string[] = [];
    for (const [slug, state] of this.#states) if (state.suspect !== null) out.push(slug);
    return out;
  }

  /**
   * Streamers to ask the API about again before the next regular pass, and from when: a suspected answer
   * (after `confirmAfterMs`, so the second answer is not the same cached one) or one deferred by a recent push.
   */
  followUps(now: number, confirmAfterMs: number): { slug: string; dueAt: number }[] {
    const out: { slug: string; dueAt: number }[] = [];
    for (const [slug, state] of this.#states) {
      const due = [
        state.suspect === null
          ? Infinity
          : Math.max(now, state.suspect.receivedAt.getTime() + confirmAfterMs),
        state.recheckAfter?.getTime() ?? Infinity,
      ];
      const dueAt = Math.min(...due);
      if (dueAt !== Infinity) out.push({ slug, dueAt });
    }
    return out;
  }

  /** How many offlines are waiting for their grace to pass. */
  pendingOfflines(): number {
    let count = 0;
    for (const state of this.#states.values()) if (state.pendingOffline !== null) count++;
    return count;
  }
}
