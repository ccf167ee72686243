/**
 * The lag probe (`deno task lag-probe`) against the simulated Kick and Pusher: it finds live channels, sees
 * their Pusher changes and measures when the API agrees. The report's histogram is checked as pure text.
 */
import assert from "node:assert/strict";
import { startFakePusher } from "../../src/sim/pusher.ts";
import { formatLagReport, probeLag } from "../live/lag_probe.ts";
import { startRig } from "./kick_rig.ts";

Deno.test("lag probe: measures how long the API takes to agree with each Pusher change", async () => {
  const rig = await startRig();
  const pusher = await startFakePusher({ world: rig.world });
  try {
    for (const slug of ["a", "b", "c"]) {
      rig.world.addStreamer(slug);
      rig.world.goLive(slug);
    }
    const live = await rig.api.listLivestreams(10);
    assert.deepEqual(live.map((l) => l.slug).sort(), ["a", "b", "c"]);
    assert.ok(live.every((l) => l.channelId === rig.world.get(l.slug).channelId));
    const probe = probeLag({
      api: rig.api,
      pusherUrl: pusher.url,
      channels: live,
      durationMs: 1_500,
      askEveryMs: 50,
      maxWaitMs: 2_000,
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    rig.world.goOffline("a");
    rig.world.goOffline("b");
    const samples = await probe;
    assert.deepEqual(samples.map((s) => `${s.slug}:${s.type}`).sort(), ["a:offline", "b:offline"]);
    for (const sample of samples) {
      assert.ok(sample.lagMs !== null && sample.lagMs < 1_000, `${sample.slug}: ${sample.lagMs}`);
    }
  } finally {
    await pusher.close();
    await rig.close();
  }
});

Deno.test("lag probe: the report shows a histogram, percentiles and changes the API never agreed with", () => {
  const lines = formatLagReport([
    { slug: "a", type: "online", lagMs: 400, disagreements: 0 },
    { slug: "b", type: "online", lagMs: 4_200, disagreements: 3 },
    { slug: "c", type: "offline", lagMs: 4_900, disagreements: 2 },
    { slug: "d", type: "offline", lagMs: null, disagreements: 120 },
  ]);
  assert.equal(lines[0], "4 change(s) seen on Pusher; the API agreed with 3.");
  assert.match(lines.find((l) => l.startsWith("<= 1 s"))!, /\s1 #+$/);
  assert.match(lines.find((l) => l.startsWith("<= 5 s"))!, /\s2 #+$/);
  assert.match(lines.find((l) => l.startsWith("never"))!, /\s1 #+$/);
  assert.ok(lines.some((l) => l.startsWith("p50 4.2 s")));
  assert.equal(
    lines.at(-1),
    "2 change(s) had at least one disagreeing answer before the API agreed.",
  );
  assert.deepEqual(formatLagReport([]), ["0 change(s) seen on Pusher; the API agreed with 0."]);
});
