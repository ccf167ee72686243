/**
 * `doctor`'s Kick checks: the OAuth app token, the official API's channel lookup, and the legacy website
 * lookup, each turning Kick's errors (src/kick/errors.ts) into a line with a fix.
 */
import { requireKickCredentials } from "../config.ts";
import { createLegacyLookup } from "../resources.ts";
import { KickHttpClient } from "../kick/http.ts";
import { ConfigError } from "../lib/errors.ts";
import { AppTokenProvider } from "../kick/oauth.ts";
import { KickApi } from "../kick/api.ts";
import type { KickChannel } from "../kick/channels.ts";
import {
  KickBlockedError,
  KickCredentialsError,
  KickResponseError,
  KickUnavailableError,
} from "../kick/errors.ts";
import { type CheckOutcome, type DateSample, judgeTokenLifetime } from "./checklist.ts";
import { failedFromError, type Findings } from "./findings.ts";

// ---- Kick: OAuth and the official API ---------------------------------------------------------------------------

const CREDENTIALS_FIX =
  "Copy the client id and secret again from https://kick.com/settings/developer into KICK_CLIENT_ID and " +
  "KICK_CLIENT_SECRET (regenerate the secret if it is lost)";

/** `oauth_token`: mints an app access token and judges its lifetime; builds the API client for later checks. */
export async function checkToken(findings: Findings): Promise<CheckOutcome> {
  const config = findings.config!;
  let credentials: { clientId: string; clientSecret: string };
  try {
    credentials = requireKickCredentials(config);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return {
      status: "failed",
      kind: "config",
      detail: `No app credentials: ${error.problems.join("; ")}`,
      fix:
        "Register an app at https://kick.com/settings/developer (the account needs 2FA) and set " +
        "KICK_CLIENT_ID and KICK_CLIENT_SECRET in .env",
    };
  }
  // Built here rather than with createKickClients: doctor fails fast (few retries) and reads the Date header
  // of every answer for the clock check.
  const http = new KickHttpClient({
    ratePerSecond: config.apiRatePerSecond,
    timeoutMs: config.apiTimeoutSeconds * 1000,
    maxRetries: 1,
    fetch: recordingDates(findings.dates),
  });
  const tokens = new AppTokenProvider({ http, oauthUrl: config.oauthUrl, ...credentials });
  findings.api = new KickApi({ http, tokens, apiUrl: config.apiUrl, batchSize: 1 });
  try {
    await tokens.getToken();
  } catch (error) {
    return kickFailure(error, config.oauthUrl);
  }
  const expiresAt = tokens.expiresAt;
  return judgeTokenLifetime(expiresAt === null ? null : (expiresAt - Date.now()) / 1000);
}

/** `api_channels`: looks the slug up on the official API. */
export async function checkApi(findings: Findings): Promise<CheckOutcome> {
  const config = findings.config!;
  const api = findings.api!;
  let channel: KickChannel | undefined;
  try {
    const { channels } = await api.getChannelsBySlug([findings.slug]);
    channel = channels.get(findings.slug);
  } catch (error) {
    return kickFailure(error, config.apiUrl);
  }
  if (channel === undefined) {
    return {
      status: "warning",
      detail: `GET /public/v1/channels answered and parsed, but Kick has no channel ${
        JSON.stringify(findings.slug)
      }`,
      fix: "Check the slug (the part after kick.com/), or run doctor with another --slug",
    };
  }
  findings.channel = channel;
  const state = channel.isLive ? `live (${channel.viewers ?? "?"} viewers)` : "offline";
  return {
    status: "ok",
    detail:
      `GET /public/v1/channels?slug=${findings.slug} answered and parsed: broadcaster user id ${channel.broadcasterUserId}, ${state}`,
  };
}

/** The outcome of a failed Kick request, by the error's kind (src/kick/errors.ts). */
function kickFailure(error: unknown, baseUrl: string): CheckOutcome {
  if (error instanceof KickCredentialsError) {
    return { status: "failed", kind: "config", detail: error.message, fix: CREDENTIALS_FIX };
  }
  if (error instanceof KickBlockedError) {
    return {
      status: "failed",
      kind: "unavailable",
      detail: error.message,
      fix: `Cloudflare refuses requests from this address to ${baseUrl}; try from another network`,
    };
  }
  if (error instanceof KickUnavailableError) {
    return {
      status: "failed",
      kind: "unavailable",
      detail: error.message,
      fix:
        `Check the network, DNS and proxy settings toward ${baseUrl}; if they are fine, Kick is down: ` +
        "try again later",
    };
  }
  if (error instanceof KickResponseError) {
    return {
      status: "failed",
      kind: "failure",
      detail: error.message,
      fix:
        "Kick's answer no longer matches what kick-monitor expects: run `deno task test:live` to see " +
        "the difference, and report it",
    };
  }
  return failedFromError(error);
}

/** A fetch that records every answer's `Date` header, with when the request left and the answer came. */
function recordingDates(samples: DateSample[]): typeof fetch {
  return async (input, init) => {
    const sentAt = Date.now();
    const response = await fetch(input, init);
    const date = response.headers.get("date");
    if (date !== null) {
      const url = new URL(input instanceof Request ? input.url : input);
      samples.push({ date, sentAt, receivedAt: Date.now(), host: url.host });
    }
    return response;
  };
}

// ---- Kick: legacy website API -----------------------------------------------------------------------------------

/** `legacy_lookup`: the best-effort website lookup of the slug's channel id. */
export async function checkLegacy(findings: Findings): Promise<CheckOutcome> {
  const config = findings.config!;
  const result = await createLegacyLookup(config).lookup(findings.slug);
  const path = `GET /api/v2/channels/${findings.slug}`;
  switch (result.kind) {
    case "found":
      findings.channelId = { id: result.channelId, source: "the website API" };
      return {
        status: "ok",
        detail:
          `${path} answered and parsed: channel id ${result.channelId}, chatroom id ${result.chatroomId}`,
      };
    case "blocked":
      findings.legacyNote = "website API blocked";
      return {
        status: "warning",
        detail:
          `${path} is blocked by Cloudflare (${result.reason}); common from servers (kick-api.md §2.2)`,
        fix:
          "Nothing needed: monitoring uses the official API. For realtime events, channel ids come from " +
          "the live-streams list while a streamer is live, or `streamers add SLUG --channel-id N`",
      };
    case "not-found":
      findings.legacyNote = "website API does not know the slug";
      return {
        status: "warning",
        detail: `${path}: the website API has no channel ${JSON.stringify(findings.slug)}`,
        fix: "Check the slug, or run doctor with another --slug",
      };
    case "failed":
      findings.legacyNote = "website API failed";
      return {
        status: "warning",
        detail: `${path} failed: ${result.reason}`,
        fix: `It is best effort only; check KICK_WEB_URL (${config.webUrl}) if this persists`,
      };
  }
}
