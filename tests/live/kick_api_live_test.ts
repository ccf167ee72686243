/**
 * Live contract tests of Kick's HTTP services (run with `KICK_LIVE_TESTS=1 deno task test:live` and app
 * credentials; ignored otherwise). Each real answer must validate with the product's zod schemas, and its shape
 * must be the simulated Kick's for the same request. Six requests in all, one per second.
 */
import assert from "node:assert/strict";
import {
  channelsResponseSchema,
  legacyChannelSchema,
  oauthTokenSchema,
} from "../../src/kick/schemas.ts";
import { KickBlockedError } from "../../src/kick/errors.ts";
import { DEFAULT_DOCTOR_SLUG } from "../../src/doctor/doctor.ts";
import { FakeWorld } from "../../src/sim/world.ts";
import {
  assertSameShape,
  getJson,
  LIVE_ENABLED,
  liveConfig,
  type RawAnswer,
  realAppToken,
  validate,
  withFakeKick,
  worldLike,
} from "./live_rig.ts";

const CHANNELS = "/public/v1/channels";
const SLUG = DEFAULT_DOCTOR_SLUG;

/** 25 long-standing Kick channels; any that no longer exist are simply left out of the answer (§1.3). */
const BATCH_OF_25 = [
  "xqc",
  "adinross",
  "trainwreckstv",
  "amouranth",
  "destiny",
  "iceposeidon",
  "roshtein",
  "westcol",
  "spreen",
  "coscu",
  "bossmanjack",
  "4head",
  "averagedad",
  "n3on",
  "sneako",
  "suspendas",
  "classybeef",
  "nickwhite",
  "cuffem",
  "elzeein",
  "hstikkytokky",
  "kingkulbik",
  "vitaly",
  "corinnakopf",
  "drdisrespect",
];

/** The real channels endpoint with these parameters and the real token. */
async function realChannels(params: [string, string][]): Promise<RawAnswer> {
  const { token } = await realAppToken();
  return await getJson(`${liveConfig().apiUrl}${CHANNELS}`, { params, token, real: true });
}

Deno.test({
  name: "live: the token endpoint answers client_credentials like the fake",
  ignore: !LIVE_ENABLED,
  async fn() {
    const { answer } = await realAppToken();
    const real = validate(oauthTokenSchema, answer);
    assert.ok(real.expires_in > 0, `expires_in is ${real.expires_in}`);
    await withFakeKick(new FakeWorld(), ({ tokenAnswer }) => {
      assertSameShape("POST /oauth/token", { real: answer.json, fake: tokenAnswer.json });
      return Promise.resolve();
    });
  },
});

Deno.test({
  name: "live: channels by slug and by broadcaster id",
  ignore: !LIVE_ENABLED,
  async fn() {
    const bySlug = await realChannels([["slug", SLUG]]);
    assert.equal(bySlug.status, 200);
    const channels = validate(channelsResponseSchema, bySlug);
    assert.equal(channels.data.length, 1, `Kick has no channel ${SLUG}`);
    const userId = String(channels.data[0].broadcaster_user_id);

    const byId = await realChannels([["broadcaster_user_id", userId]]);
    assert.equal(byId.status, 200);
    const same = validate(channelsResponseSchema, byId);
    assert.equal(same.data[0]?.slug.toLowerCase(), SLUG);

    await withFakeKick(worldLike(channels.data), async ({ fake, token }) => {
      const url = `${fake.url}${CHANNELS}`;
      const fakeBySlug = await getJson(url, { params: [["slug", SLUG]], token, real: false });
      assertSameShape(`GET ${CHANNELS}?slug=${SLUG}`, { real: bySlug.json, fake: fakeBySlug.json });
      const fakeById = await getJson(url, {
        params: [["broadcaster_user_id", userId]],
        token,
        real: false,
      });
      assertSameShape(`GET ${CHANNELS}?broadcaster_user_id=${userId}`, {
        real: byId.json,
        fake: fakeById.json,
      });
    });
  },
});

Deno.test({
  name: "live: an unknown slug is an empty list, not an error",
  ignore: !LIVE_ENABLED,
  async fn() {
    // 25 characters at most (§1.4), and surely nobody's.
    const unknown = `zz-nobody-${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
    const real = await realChannels([["slug", unknown]]);
    assert.equal(real.status, 200, "kick-api.md §1.3: unknown slugs are not errors");
    assert.equal(validate(channelsResponseSchema, real).data.length, 0);
    await withFakeKick(new FakeWorld(), async ({ fake, token }) => {
      const fakeAnswer = await getJson(`${fake.url}${CHANNELS}`, {
        params: [["slug", unknown]],
        token,
        real: false,
      });
      assertSameShape(`GET ${CHANNELS}?slug=<unknown>`, { real: real.json, fake: fakeAnswer.json });
    });
  },
});

Deno.test({
  name: "live: a batch of 25 slugs in one request",
  ignore: !LIVE_ENABLED,
  async fn() {
    const params = BATCH_OF_25.map((slug): [string, string] => ["slug", slug]);
    const real = await realChannels(params);
    assert.equal(real.status, 200);
    const parsed = validate(channelsResponseSchema, real);
    assert.ok(parsed.data.length > 0 && parsed.data.length <= 25, `${parsed.data.length} items`);
    const asked = new Set(BATCH_OF_25);
    const stray = parsed.data.filter((item) => !asked.has(item.slug.toLowerCase()));
    if (stray.length > 0) {
      // Kick bug #321 (kick-api.md §1.4): the product drops such items; worth knowing, not a shape problem.
      console.log(`Kick returned channels that were not asked for: ${stray.map((i) => i.slug)}`);
    }
    const world = worldLike(parsed.data.filter((item) => !stray.includes(item)));
    await withFakeKick(world, async ({ fake, token }) => {
      const fakeAnswer = await getJson(`${fake.url}${CHANNELS}`, { params, token, real: false });
      assertSameShape(`GET ${CHANNELS}?slug=×25`, { real: real.json, fake: fakeAnswer.json });
    });
  },
});

Deno.test({
  name: "live: the legacy website API answers like the fake, or is blocked by Cloudflare",
  ignore: !LIVE_ENABLED,
  async fn() {
    const path = `/api/v2/channels/${SLUG}`;
    let real: RawAnswer;
    try {
      real = await getJson(`${liveConfig().webUrl}${path}`, { real: true });
    } catch (error) {
      if (!(error instanceof KickBlockedError)) throw error;
      // Expected from many addresses (kick-api.md §2.2); the product copes, and there is nothing to compare.
      console.log(`${error.message}: nothing to compare`);
      return;
    }
    if (real.status === 403) {
      console.log(`${real.request}: HTTP 403 (blocked): nothing to compare`);
      return;
    }
    assert.equal(real.status, 200);
    const channel = validate(legacyChannelSchema, real);
    const world = new FakeWorld();
    world.addStreamer(SLUG, {
      broadcasterUserId: channel.user_id,
      channelId: channel.id,
      chatroomId: channel.chatroom.id,
    });
    if (channel.livestream?.is_live) world.goLive(SLUG);
    await withFakeKick(world, async ({ fake }) => {
      const fakeAnswer = await getJson(`${fake.url}${path}`, { real: false });
      assertSameShape(`GET ${path}`, { real: real.json, fake: fakeAnswer.json });
    });
  },
});
