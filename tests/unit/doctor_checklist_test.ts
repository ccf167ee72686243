/** The pure part of `doctor` (src/doctor/checklist.ts): dependencies, exit codes, rendering and verdicts. */
import assert from "node:assert/strict";
import {
  blockingDependency,
  buildReport,
  CHECK_NAMES,
  type CheckName,
  type CheckOutcome,
  type CheckResult,
  estimateClockSkew,
  exitCodeOf,
  failureLine,
  formatDuration,
  judgeClockSkew,
  judgeTokenLifetime,
  renderReport,
  resultOf,
  skippedResult,
} from "../../src/doctor/checklist.ts";

const OK: CheckOutcome = { status: "ok", detail: "fine" };

function results(overrides: Partial<Record<CheckName, CheckOutcome>>): CheckResult[] {
  // The checks every run shows (the webhook lines appear only with KICK_WEBHOOK_LISTEN set).
  return CHECK_NAMES.filter((name) => !name.startsWith("webhook_")).map((name) =>
    resultOf(name, overrides[name] ?? OK)
  );
}

function failed(kind: "config" | "unavailable" | "failure"): CheckOutcome {
  return { status: "failed", detail: "broken", fix: "mend it", kind };
}

Deno.test("exit code: 0 without failures, 78 for configuration first, then 69, then 1", () => {
  const warning: CheckOutcome = { status: "warning", detail: "hmm", fix: "look" };
  assert.equal(exitCodeOf(results({})), 0);
  assert.equal(exitCodeOf(results({ legacy_lookup: warning, clock: warning })), 0);
  assert.equal(exitCodeOf(results({ api_channels: failed("failure") })), 1);
  assert.equal(exitCodeOf(results({ pusher: failed("unavailable") })), 69);
  assert.equal(exitCodeOf(results({ oauth_token: failed("config") })), 78);
  assert.equal(
    exitCodeOf(results({ pusher: failed("unavailable"), oauth_token: failed("config") })),
    78,
  );
  assert.equal(
    exitCodeOf(results({ pusher: failed("unavailable"), database: failed("failure") })),
    69,
  );
});

Deno.test("a failed or skipped dependency blocks; ok and warning do not", () => {
  const done = new Map<CheckName, CheckResult>();
  assert.equal(blockingDependency("config", done), null);
  assert.equal(blockingDependency("database", done), "config"); // not run yet
  done.set("config", resultOf("config", OK));
  assert.equal(blockingDependency("database", done), null);
  assert.equal(blockingDependency("api_channels", done), "oauth_token");
  done.set("oauth_token", resultOf("oauth_token", failed("config")));
  assert.equal(blockingDependency("api_channels", done), "oauth_token");
  done.set("oauth_token", resultOf("oauth_token", { status: "warning", detail: "", fix: "" }));
  assert.equal(blockingDependency("api_channels", done), null);
  done.set("oauth_token", skippedResult("oauth_token", "config"));
  assert.equal(blockingDependency("api_channels", done), "oauth_token");
  // Pusher and the clock need only the configuration.
  assert.equal(blockingDependency("pusher", done), null);
  assert.equal(blockingDependency("clock", done), null);
});

Deno.test("results carry a fix only when there is something to do", () => {
  assert.equal(resultOf("config", OK).fix, null);
  assert.equal(resultOf("config", OK).kind, null);
  const failure = resultOf("pusher", failed("unavailable"));
  assert.deepEqual(failure, {
    name: "pusher",
    title: "Pusher socket",
    status: "failed",
    detail: "broken",
    fix: "mend it",
    kind: "unavailable",
  });
  const skipped = skippedResult("api_channels", "oauth_token");
  assert.equal(skipped.status, "skipped");
  assert.match(skipped.detail, /needs "OAuth app token" \(oauth_token\)/);
});

Deno.test("the report: summary counts, text rendering and the stderr line", () => {
  const report = buildReport(
    results({
      oauth_token: failed("config"),
      legacy_lookup: { status: "warning", detail: "blocked", fix: "nothing needed" },
    }).map((r) => r.name === "api_channels" ? skippedResult("api_channels", "oauth_token") : r),
  );
  assert.deepEqual(report.summary, { ok: 4, warning: 1, failed: 1, skipped: 1, exit_code: 78 });
  const text = renderReport(report);
  const lines = text.split("\n");
  assert.match(lines[0], /^ok +Configuration +fine$/);
  assert.ok(lines.some((line) => /^FAILED +OAuth app token +broken$/.test(line)));
  assert.ok(lines.some((line) => /^ +fix: mend it$/.test(line)));
  assert.ok(lines.some((line) => /^skipped +Official API +Not checked/.test(line)));
  assert.equal(lines.at(-1), "4 ok, 1 warning(s), 1 failed, 1 skipped");
  assert.equal(failureLine(report), "doctor: 1 check failed: oauth_token");
  assert.equal(failureLine(buildReport(results({}))), null);
});

Deno.test("token lifetime: ok with the lifetime, warnings when short or unknown", () => {
  const long = judgeTokenLifetime(5_184_000);
  assert.equal(long.status, "ok");
  assert.equal(long.detail, "App access token obtained, valid for 60 days (expires_in 5184000 s)");
  assert.equal(judgeTokenLifetime(60).status, "warning");
  assert.equal(judgeTokenLifetime(null).status, "warning");
  assert.equal(formatDuration(7_500), "2 h 5 min");
  assert.equal(formatDuration(3_600), "1 h");
  assert.equal(formatDuration(90), "1 min");
  assert.equal(formatDuration(45), "45 s");
});

Deno.test("clock skew: estimated from the Date header, warned beyond 5 s plus its uncertainty", () => {
  const at = Date.parse("Wed, 25 Nov 2026 18:00:00 GMT");
  const sample = (offsetMs: number, roundTripMs = 100) => ({
    date: "Wed, 25 Nov 2026 18:00:00 GMT",
    sentAt: at + offsetMs,
    receivedAt: at + offsetMs + roundTripMs,
    host: "api.kick.com",
  });
  // In sync: the server's second is [18:00:00, 18:00:01), our round trip around 18:00:00.4.
  assert.deepEqual(estimateClockSkew(sample(350)), { skewMs: 100, uncertaintyMs: 550 });
  assert.equal(judgeClockSkew(sample(350)).status, "ok");
  // Ten seconds fast: a warning naming the direction.
  const fast = judgeClockSkew(sample(10_000));
  assert.equal(fast.status, "warning");
  assert.match(fast.detail, /9\.\d s ahead of api\.kick\.com/);
  // Ten seconds slow.
  const slow = judgeClockSkew(sample(-10_000));
  assert.equal(slow.status, "warning");
  assert.match(slow.detail, /10\.\d s behind api\.kick\.com/);
  // Just over 5 s, but within the uncertainty of a slow round trip: not a warning.
  assert.equal(judgeClockSkew(sample(-6_000, 2_000)).status, "ok");
  // Unreadable header or none at all.
  assert.equal(judgeClockSkew({ ...sample(0), date: "yesterday-ish" }).status, "warning");
  assert.equal(estimateClockSkew({ ...sample(0), date: "nope" }), null);
  assert.equal(judgeClockSkew(null).status, "skipped");
});
