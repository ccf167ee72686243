/**
 * What `doctor`'s checks share: the options, the findings each check passes on to later ones, the shape of a
 * check, and the outcome of an error no check anticipated. The checks are registered in ./doctor.ts.
 */
import type { Config } from "../config.ts";
import type { KickApi } from "../kick/api.ts";
import type { KickChannel } from "../kick/channels.ts";
import { ConfigError, describeError, UnavailableError, UserFacingError } from "../lib/errors.ts";
import type { CheckOutcome, DateSample, FailureKind } from "./checklist.ts";

/** Options of {@link runDoctor}. */
export interface DoctorOptions {
  /** Loads and validates the configuration; throws ConfigError (the `config` line fails). */
  loadConfig: () => Config;
  /** The channel to look up, already normalised (default DEFAULT_DOCTOR_SLUG). */
  slug?: string;
  /** Limit of each Pusher step (default 10,000 ms). */
  pusherStepTimeoutMs?: number;
}

/** What the checks learn and pass on to later checks. */
export interface Findings {
  slug: string;
  config: Config | null;
  api: KickApi | null;
  /** The slug's channel, when the official API found it. */
  channel: KickChannel | null;
  /** The slug's Pusher channel id and where it came from. */
  channelId: { id: number; source: string } | null;
  /** Why the legacy lookup gave no channel id, for the Pusher line. */
  legacyNote: string | null;
  /** `Date` headers of Kick's answers, latest last. */
  dates: DateSample[];
}

/** One check: reads and extends the findings, and says how it went. */
export type Check = (findings: Findings, options: DoctorOptions) => Promise<CheckOutcome>;

/** A failed outcome from an error no check anticipated; its kind follows the error's exit code. */
export function failedFromError(error: unknown): CheckOutcome {
  if (error instanceof UserFacingError) {
    const kind: FailureKind = error instanceof ConfigError
      ? "config"
      : error instanceof UnavailableError
      ? "unavailable"
      : "failure";
    return {
      status: "failed",
      kind,
      detail: describeError(error),
      fix: "Fix what the message names, then run doctor again",
    };
  }
  return {
    status: "failed",
    kind: "failure",
    detail: `Unexpected error: ${describeError(error)}`,
    fix: "Report this as a kick-monitor bug, with the output above",
  };
}
