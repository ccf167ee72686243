/**
 * The ways talking to Kick fails, each with the exit code of interface.md. Messages name the request
 * (method, host and path, never the query string) and never contain the client secret or an access token.
 */
import {
  ConfigError,
  ExitCode,
  ServiceBlockedError,
  ServiceUnavailableError,
  UserFacingError,
} from "../lib/errors.ts";

/** Kick could not be reached, or kept failing (timeouts, 5xx, 429) after every retry (exit 69). */
export class KickUnavailableError extends ServiceUnavailableError {
  constructor(
    message: string,
    details: { request: string; lastStatus: number | null },
    options?: ErrorOptions,
  ) {
    super(message, { service: "Kick", ...details }, options);
    this.name = "KickUnavailableError";
  }
}

/**
 * Cloudflare in front of Kick refused the request (403 challenge page or "Request blocked by security
 * policy", kick-api.md §2.2). Retrying from the same address does not help, so it is never retried (exit 69).
 */
export class KickBlockedError extends ServiceBlockedError {
  constructor(request: string, reason: string, options?: ErrorOptions) {
    super(
      `Kick blocked ${request} (HTTP 403 from Cloudflare: ${reason})`,
      { service: "Kick", request, reason },
      options,
    );
    this.name = "KickBlockedError";
  }
}

/**
 * Kick refused the app credentials (OAuth 400/401, kick-api.md §1.2) or an access token minted from them
 * (exit 78, like every configuration error).
 */
export class KickCredentialsError extends ConfigError {
  constructor(detail?: string) {
    const message =
      "Kick rejected the client credentials: check KICK_CLIENT_ID and KICK_CLIENT_SECRET" +
      (detail ? ` (${detail})` : "");
    super([message]);
    // ConfigError prefixes "Invalid configuration:"; this message already says what is wrong and what to do.
    this.message = message;
    this.name = "KickCredentialsError";
  }
}

/**
 * Kick answered, but not with what the reference says it sends: a body that is not JSON, does not match the
 * schema, or an unexpected status (exit 1). Never retried: a changed contract does not heal in seconds, and
 * the monitor's next reconciliation pass asks again anyway.
 */
export class KickResponseError extends UserFacingError {
  readonly request: string;
  readonly status: number;
  constructor(request: string, status: number, problem: string) {
    super(
      `Unexpected response from Kick to ${request} (HTTP ${status}): ${problem}`,
      ExitCode.failure,
    );
    this.name = "KickResponseError";
    this.request = request;
    this.status = status;
  }
}
