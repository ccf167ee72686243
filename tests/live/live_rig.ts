/**
 * Shared set-up of the live contract tests: when they run, the real services they talk to, and the comparison of
 * every real answer with the simulated Kick's answer to the same request (src/doctor/shape.ts).
 *
 * They run only with KICK_LIVE_TESTS=1 and app credentials (KICK_CLIENT_ID / KICK_CLIENT_SECRET, from the
 * environment or ./.env); otherwise every test is reported as ignored. They stay gentle: one token, a handful
 * of requests at one per second, one socket.
 */
import assert from "node:assert/strict";
import type { z } from "zod";
import { type Config, gatherSettings, validateSettings } from "../../src/config.ts";
import { describeRequest, type HttpClient } from "../../src/lib/http.ts";
import { KickHttpClient } from "../../src/kick/http.ts";
import { addSecret, configureLogging } from "../../src/lib/log.ts";
import { oauthTokenSchema, parseBody } from "../../src/kick/schemas.ts";
import { compareShapes, shapeOf } from "../../src/doctor/shape.ts";
import { FakeWorld } from "../../src/sim/world.ts";
import { type FakeKick, startFakeKick } from "../../src/sim/kick.ts";

/** Why the live tests are off, or null when they run. */
function disabledBecause(): string | null {
  if (Deno.env.get("KICK_LIVE_TESTS") !== "1") return "KICK_LIVE_TESTS is not 1";
  const { values } = gatherSettings();
  if (!values.KICK_CLIENT_ID || !values.KICK_CLIENT_SECRET) {
    return "KICK_CLIENT_ID and KICK_CLIENT_SECRET are not both set";
  }
  return null;
}

const DISABLED_BECAUSE = disabledBecause();

/** True when the live tests run; pass `ignore: !LIVE_ENABLED` to every Deno.test. */
export const LIVE_ENABLED = DISABLED_BECAUSE === null;

if (!LIVE_ENABLED && Deno.env.get("KICK_LIVE_TESTS") === "1") {
  console.log(`Live contract tests ignored: ${DISABLED_BECAUSE}`);
}

let config: Config | null = null;

/** The validated configuration (KICK_*_URL decide which services are "real"); fails the test when invalid. */
export function liveConfig(): Config {
  if (config === null) {
    const result = validateSettings(gatherSettings().values);
    if (result.config === null) {
      assert.fail(`The configuration is invalid:\n  ${result.problems.join("\n  ")}`);
    }
    config = result.config;
    configureLogging({ level: "warn" });
    addSecret(config.kickClientSecret);
  }
  return config;
}

/** One request per second to the real services, one retry; failures are the test's failures. */
const realHttp = new KickHttpClient({
  ratePerSecond: 1,
  burst: 1,
  timeoutMs: 15_000,
  maxRetries: 1,
});
/** The simulated Kick needs no politeness. */
const fakeHttp = new KickHttpClient({ ratePerSecond: 1000, timeoutMs: 5_000, maxRetries: 0 });

/** An answer, its body parsed as JSON (null when an error status came without JSON) but not validated. */
export interface RawAnswer {
  /** `METHOD host/path` of the request, for messages. */
  request: string;
  status: number;
  json: unknown;
}

async function send(
  http: HttpClient,
  url: URL,
  init: { method?: "GET" | "POST"; headers?: Record<string, string>; body?: string },
): Promise<RawAnswer> {
  const request = describeRequest(init.method ?? "GET", url);
  const response = await http.request(url, init);
  let json: unknown;
  try {
    json = JSON.parse(response.body);
  } catch {
    if (response.status >= 400) return { request, status: response.status, json: null };
    assert.fail(
      `${request} answered HTTP ${response.status} with a body that is not JSON ` +
        `(${response.body.length} bytes)`,
    );
  }
  return { request, status: response.status, json };
}

/** `POST {oauthUrl}/oauth/token` with client credentials, to the real services or the fake. */
export function requestToken(
  oauthUrl: string,
  options: { clientId: string; clientSecret: string; real: boolean },
): Promise<RawAnswer> {
  return send(options.real ? realHttp : fakeHttp, new URL(`${oauthUrl}/oauth/token`), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: options.clientId,
      client_secret: options.clientSecret,
    }).toString(),
  });
}

/** `GET {url}?{params}` (keys repeated as given), with a bearer token when given. */
export function getJson(
  url: string,
  options: { params?: [string, string][]; token?: string; real: boolean },
): Promise<RawAnswer> {
  const target = new URL(url);
  for (const [key, value] of options.params ?? []) target.searchParams.append(key, value);
  const headers: Record<string, string> = options.token === undefined
    ? {}
    : { authorization: `Bearer ${options.token}` };
  return send(options.real ? realHttp : fakeHttp, target, { headers });
}

let realToken: Promise<{ token: string; answer: RawAnswer }> | null = null;

/** The real app token, minted once for the whole run (and its raw answer, for the token test). */
export function realAppToken(): Promise<{ token: string; answer: RawAnswer }> {
  realToken ??= (async () => {
    const { oauthUrl, kickClientId, kickClientSecret } = liveConfig();
    const answer = await requestToken(oauthUrl, {
      clientId: kickClientId!,
      clientSecret: kickClientSecret!,
      real: true,
    });
    assert.equal(answer.status, 200, `${answer.request} answered HTTP ${answer.status}`);
    const token = validate(oauthTokenSchema, answer).access_token;
    return { token, answer };
  })();
  return realToken;
}

/** Validates an answer with the product's schema; fails the test with zod's account of what did not match. */
export function validate<T extends z.ZodType>(schema: T, answer: RawAnswer): z.output<T> {
  const parsed = parseBody(schema, JSON.stringify(answer.json));
  if (!parsed.ok) {
    assert.fail(
      `${answer.request}: the answer does not match the product's schema: ${parsed.problem}`,
    );
  }
  return parsed.value;
}

/**
 * Fails the test, listing every difference, when the real value's shape (keys and types) is not the fake's.
 * The fix is in src/sim/ (or, when Kick really changed, in src/kick/schemas.ts and the reference too).
 */
export function assertSameShape(what: string, values: { real: unknown; fake: unknown }): void {
  const differences = compareShapes(shapeOf(values.real), shapeOf(values.fake));
  if (differences.length > 0) {
    assert.fail(
      `${what}: the simulated Kick's answer differs in shape from the real one (real vs fake):\n  ` +
        differences.join("\n  "),
    );
  }
}

const FAKE_CLIENT_ID = "live-contract-fake-client";
const FAKE_CLIENT_SECRET = "live-contract-fake-secret";

/** The running fake, a token for it, and the token endpoint's raw answer. */
export interface FakeKickSession {
  fake: FakeKick;
  token: string;
  tokenAnswer: RawAnswer;
}

/** Runs `test` with the simulated Kick serving `world`. */
export async function withFakeKick(
  world: FakeWorld,
  test: (session: FakeKickSession) => Promise<void>,
): Promise<void> {
  const fake = await startFakeKick({
    world,
    clientId: FAKE_CLIENT_ID,
    clientSecret: FAKE_CLIENT_SECRET,
  });
  try {
    const tokenAnswer = await requestToken(fake.url, {
      clientId: FAKE_CLIENT_ID,
      clientSecret: FAKE_CLIENT_SECRET,
      real: false,
    });
    const token = validate(oauthTokenSchema, tokenAnswer).access_token;
    await test({ fake, token, tokenAnswer });
  } finally {
    await fake.close();
  }
}

/** A channel item as far as mirroring it into the fake needs. */
interface ChannelLike {
  slug: string;
  broadcaster_user_id: number;
  stream?: unknown;
}

/** A FakeWorld with the channels of a real answer: same slugs, same user ids, live where they are live. */
export function worldLike(channels: readonly ChannelLike[]): FakeWorld {
  const world = new FakeWorld();
  for (const channel of channels) {
    world.addStreamer(channel.slug, { broadcasterUserId: channel.broadcaster_user_id });
    const stream = channel.stream as { is_live?: unknown } | null | undefined;
    if (stream?.is_live === true) world.goLive(channel.slug);
  }
  return world;
}
