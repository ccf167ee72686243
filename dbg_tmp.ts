import { simulate } from "./tests/unit/status_machine_test.ts";
const s = Deno.readTextFileSync(Deno.args[0]).split("\n")[0];
const w = JSON.parse(s.slice(s.indexOf("[")))[0];
const T0 = Date.parse("2026-11-25T18:00:00Z");
const r = simulate(w);
console.log(JSON.stringify(r.sessions.map((s) => [s.livestream, s.start - T0, s.end - T0])));
console.log(
  "lags",
  w.lags.map((l: number, i: number) => l ? `${i}:${l}` : "").filter(Boolean).join(" "),
  "flips",
  w.flips.map((f: boolean, i: number) => f ? i : -1).filter((i: number) => i >= 0).join(","),
  "flicker",
  w.flicker,
  "delivered",
  w.delivered.map((d: boolean, i: number) => d ? i : -1).filter((i: number) => i >= 0).join(","),
  "delay",
  w.pushDelay,
  "skew",
  w.clockSkew,
  "phase",
  w.pollPhase,
);
console.log(
  r.transitions.map((t) =>
    `${t.type}@${t.occurredAt.getTime() - T0} ${t.source}${t.baseline ? " baseline" : ""}`
  ).join("\n"),
);
