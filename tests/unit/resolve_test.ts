import assert from "node:assert/strict";
import { judgeManualChannelId } from "../../src/kick/resolve.ts";

Deno.test("judgeManualChannelId: the broadcaster user id is refused while Kick cannot say better", () => {
  assert.deepEqual(judgeManualChannelId(676, { broadcasterUserId: 676, liveChannelId: null }), {
    kind: "user-id",
    given: 676,
  });
});

Deno.test("judgeManualChannelId: another id is accepted as given when the streamer is offline", () => {
  assert.deepEqual(judgeManualChannelId(668, { broadcasterUserId: 676, liveChannelId: null }), {
    kind: "accept",
    channelId: 668,
  });
});

Deno.test("judgeManualChannelId: while live, Kick's channel id wins over a wrong one", () => {
  assert.deepEqual(judgeManualChannelId(676, { broadcasterUserId: 676, liveChannelId: 668 }), {
    kind: "corrected",
    channelId: 668,
    given: 676,
  });
  assert.deepEqual(judgeManualChannelId(5, { broadcasterUserId: 676, liveChannelId: 668 }), {
    kind: "corrected",
    channelId: 668,
    given: 5,
  });
  assert.deepEqual(judgeManualChannelId(668, { broadcasterUserId: 676, liveChannelId: 668 }), {
    kind: "accept",
    channelId: 668,
  });
});
