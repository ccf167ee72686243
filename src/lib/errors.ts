/**
 * Errors that carry the process exit code of interface.md, so every layer can fail with the right code and
 * main.ts maps them in one place.
 */

/** Exit codes fixed by interface.md. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  /** `service status`: no monitor is running (LSB's "program is not running"). */
  notRunning: 3,
  unavailable: 69,
  config: 78,
  /** Stopped by Ctrl-C (SIGINT), after keeping what was done (128 + 2, the shell's convention). */
  interrupted: 130,
} as const;

export type ExitCodeValue = typeof ExitCode[keyof typeof ExitCode];

/** A failure whose message is meant for the user as it is, with the exit code it maps to. */
export class UserFacingError extends Error {
  readonly exitCode: ExitCodeValue;
  constructor(message: string, exitCode: ExitCodeValue = ExitCode.failure, options?: ErrorOptions) {
    super(message, options);
    this.name = "UserFacingError";
    this.exitCode = exitCode;
  }
}

/** Bad configuration (exit 78). */
export class ConfigError extends UserFacingError {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(
      problems.length === 1
        ? `Invalid configuration: ${problems[0]}`
        : `Invalid configuration (${problems.length} problems):\n  ${problems.join("\n  ")}`,
      ExitCode.config,
    );
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** A required service (Kick, the database) could not be reached (exit 69). */
export class UnavailableError extends UserFacingError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, ExitCode.unavailable, options);
    this.name = "UnavailableError";
  }
}

/**
 * An HTTP service could not be reached, or kept failing (timeouts, 5xx, 429) after every retry (exit 69).
 * Thrown by the one HTTP client (src/lib/http.ts); a client for one service may map it to its own subclass.
 */
export class ServiceUnavailableError extends UnavailableError {
  /** Who is on the other end, as the client names it ("Kick", "The notification target"). */
  readonly service: string;
  /** `METHOD host/path` of the request that failed. */
  readonly request: string;
  /** HTTP status of the last attempt, or null when it got no response (network error, timeout). */
  readonly lastStatus: number | null;
  constructor(
    message: string,
    details: { service: string; request: string; lastStatus: number | null },
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "ServiceUnavailableError";
    this.service = details.service;
    this.request = details.request;
    this.lastStatus = details.lastStatus;
  }
}

/**
 * Something in front of an HTTP service (a CDN's bot protection, say) refused the request, as the client's
 * `blockedReason` hook judged the answer. Retrying from the same address does not help, so it is never
 * retried (exit 69).
 */
export class ServiceBlockedError extends UnavailableError {
  /** Who is on the other end, as the client names it. */
  readonly service: string;
  /** `METHOD host/path` of the request that was refused. */
  readonly request: string;
  /** What identified the block, e.g. `"Just a moment..." challenge page`. */
  readonly reason: string;
  constructor(
    message: string,
    details: { service: string; request: string; reason: string },
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "ServiceBlockedError";
    this.service = details.service;
    this.request = details.request;
    this.reason = details.reason;
  }
}

/** A bad command-line argument (exit 2). */
export class UsageError extends UserFacingError {
  constructor(message: string) {
    super(message, ExitCode.usage);
    this.name = "UsageError";
  }
}

/** The exit code an arbitrary thrown value maps to. */
export function exitCodeOf(error: unknown): ExitCodeValue {
  return error instanceof UserFacingError ? error.exitCode : ExitCode.failure;
}

/** A one-line description of any thrown value. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
