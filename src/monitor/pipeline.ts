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
import { NO_TITLE, observeTitle, titleAtGoLive, type TitleState } from "./title_machine.ts";

/** What the pipeline needs to know of a stored streamer to resume where it left off. */
export interface SeedRecord {
  slug: string;
  status: StreamerStatus;
  statusChangedAt: Date | null;
  session: {
    livestreamId: number | null;
    startedAt?: Date | null;
    title?: string | null;
    category?: string | null;
  } | null;
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
  /** The title rules' state of each live streamer (title_machine.ts), beside the status machine's. */
  #titles = new Map<string, TitleState>();
  /** The last journaled but uncommitted transition of each streamer not yet seeded (see `resumeFrom`). */
  #journaled = new Map<string, Transition>();
  /** The last journaled but uncommitted title change after it, likewise. */
  #journaledTitles = new Map<string, Transition>();
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
    for (const t of transitions) {
      if (t.type === "title") this.#journaledTitles.set(t.slug, t);
      else this.#journaled.set(t.slug, t);
    }
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
      const journaledTitle = this.#journaledTitles.get(record.slug);
      this.#journaledTitles.delete(record.slug);
      const stored = record.statusChangedAt?.getTime() ?? -Infinity;
      if (
        journaled !== undefined && journaled.type !== "title" &&
        journaled.occurredAt.getTime() >= stored
      ) {
        this.#states.set(record.slug, {
          ...initialState(record.slug),
          status: journaled.type,
          since: journaled.occurredAt,
          livestreamId: journaled.livestreamId,
          sessionStartedAt: journaled.type === "online" ? journaled.occurredAt : null,
        });
        this.#seedTitle(
          record.slug,
          journaledTitle === undefined ? journaled : {
            ...journaledTitle,
            startedAt: journaled.type === "online" ? journaled.occurredAt : null,
          },
        );
        continue;
      }
      // A journaled change is about the open session's broadcast: its start is the session's, not the
      // change's time (taken for it, the next answer would be "another broadcast", rule 6, and its title,
      // perhaps the API's lagging one, learned without an event; the soak found the change then recorded twice).
      this.#seedTitle(
        record.slug,
        journaledTitle !== undefined
          ? { ...journaledTitle, startedAt: record.session?.startedAt ?? null }
          : (record.status === "online" && record.session
            ? {
              title: record.session.title ?? null,
              category: record.session.category ?? null,
              livestreamId: record.session.livestreamId,
              startedAt: record.session.startedAt ?? null,
              occurredAt: record.statusChangedAt,
            }
            : undefined),
      );
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
    for (const slug of [...this.#titles.keys()]) {
      if (!seen.has(slug)) this.#titles.delete(slug);
    }
  }

  /** Seeds the title rules of a live streamer from its open session (or the journaled transition). */
  #seedTitle(
    slug: string,
    session:
      | {
        type?: string;
        title: string | null;
        category: string | null;
        livestreamId: number | null;
        startedAt?: Date | null;
        occurredAt: Date | null;
      }
      | undefined,
  ): void {
    if (session === undefined || session.type === "offline") return;
    this.#titles.set(
      slug,
      titleAtGoLive(session, { since: session.occurredAt, receivedAt: null }),
    );
  }

  /** Feeds one observation; returns the transitions it causes (usually none). */
  ingest(observation: Observation): Transition[] {
    this.counters.observations++;
    const state = this.#states.get(observation.slug);
    if (state === undefined) {
      this.counters.ignored++;
      return [];
    }
    // A metadata observation says nothing of the status: the title rules only.
    const step = observation.kind === "metadata"
      ? { state, transitions: [] }
      : observe(state, observation, this.#options);
    this.#states.set(observation.slug, step.state);
    const transitions = [...step.transitions, ...this.#followTitle(step, observation)];
    this.counters.transitions += transitions.length;
    return transitions;
  }

  /**
   * Runs the title rules after the status machine's step (title_machine.ts): a go-live starts them from the
   * online transition's title, an offline ends them, and only the poll's answers and metadata pushes about a
   * live streamer are read (a status push carries the go-live title, never a change).
   */
  #followTitle(
    step: { state: StreamerState; transitions: Transition[] },
    observation: Observation,
  ) {
    const slug = observation.slug;
    const online = step.transitions.findLast((t) => t.type === "online");
    if (online !== undefined) {
      this.#titles.set(
        slug,
        titleAtGoLive(online, {
          since: online.occurredAt,
          receivedAt: observation.receivedAt,
        }),
      );
      return [];
    }
    if (step.state.status !== "online") {
      this.#titles.delete(slug);
      return [];
    }
    const reads = observation.kind === "metadata" ||
      (observation.evidence === "poll" && observation.status === "online");
    if (!reads) return [];
    const titled = observeTitle(this.#titles.get(slug) ?? NO_TITLE, observation, {
      live: step.state.pendingOffline === null,
      pollIntervalMs: this.#options.pollIntervalMs,
    });
    this.#titles.set(slug, titled.state);
    return titled.transitions;
  }

  /** Records offlines whose grace has passed by `now` (ms since the epoch). */
  tick(now: number): Transition[] {
    const out: Transition[] = [];
    // forEach, not for…of: the entries iterator allocated a [slug, state] pair per streamer, 600 KB every
    // 250 ms at 10,000 streamers, half of an idle daemon's allocations and the GCs they cost (bench 4, 8).
    this.#states.forEach((state, slug) => {
      if (state.pendingOffline === null) return;
      const step = tick(state, now, this.#options);
      this.#states.set(slug, step.state);
      if (step.state.status !== "online") this.#titles.delete(slug);
      out.push(...step.transitions);
    });
    this.counters.transitions += out.length;
    return out;
  }

  /**
   * Forgets what the machine believes of these streamers (their transitions could not be journaled): the
   * next `sync` seeds them from the store again, and the next poll finds what changed.
   */
  forget(slugs: string[]): void {
    for (const slug of slugs) {
      this.#states.delete(slug);
      this.#titles.delete(slug);
    }
    this.sync([...this.#records.values()]);
  }

  /** Moves a streamer's state to its new slug (Kick renamed the channel; the store followed). */
  rename(slug: string, newSlug: string): void {
    const state = this.#states.get(slug);
    if (state === undefined || this.#states.has(newSlug)) return;
    this.#states.delete(slug);
    this.#states.set(newSlug, { ...state, slug: newSlug });
    const title = this.#titles.get(slug);
    this.#titles.delete(slug);
    if (title !== undefined) this.#titles.set(newSlug, title);
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
        // A title answer that differs is confirmed the same way (title_machine.ts rule 3).
        Math.max(
          now,
          (this.#titles.get(slug)?.suspect?.receivedAt.getTime() ?? Infinity) + confirmAfterMs,
        ),
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
