/**
 * The pure ownership decisions (src/monitor/lease_plan.ts): fair share, claims, hand-over offers and their
 * withdrawal, and a simulation of several monitors converging to ⌈N/M⌉ each.
 */
import assert from "node:assert/strict";
import { fairShare, type LeaseFigures, planLeases } from "../../src/monitor/lease_plan.ts";
import type { OwnedLease, OwnerCount } from "../../src/store/leases.ts";

function leases(count: number, handoverTo: string | null = null, from = 0): OwnedLease[] {
  return Array.from({ length: count }, (_, i) => ({ streamerId: from + i, epoch: 1, handoverTo }));
}

function figures(partial: Partial<LeaseFigures> & Pick<LeaseFigures, "self">): LeaseFigures {
  return { live: [partial.self], total: 0, counts: [], owned: [], ...partial };
}

Deno.test("fair share is ⌈N/M⌉, and everything for a lone monitor", () => {
  assert.equal(fairShare(1000, 2), 500);
  assert.equal(fairShare(1001, 2), 501);
  assert.equal(fairShare(10, 3), 4);
  assert.equal(fairShare(0, 3), 0);
  assert.equal(fairShare(7, 1), 7);
  assert.equal(fairShare(7, 0), 7);
});

Deno.test("a lone monitor claims every free streamer", () => {
  const plan = planLeases(figures({ self: "a", total: 1000 }));
  assert.deepEqual(plan, { quota: 1000, claim: 1000, handovers: [], cancel: [] });
});

Deno.test("a monitor at its share issues no claim, even when the split leaves it one short forever", () => {
  // 1001 streamers, two monitors: quota 501; b owns 500 and nothing is free or offered to it.
  const plan = planLeases(figures({
    self: "b",
    live: ["a", "b"],
    total: 1001,
    counts: [{ owner: "a", owned: 501, handoverTo: null }, {
      owner: "b",
      owned: 500,
      handoverTo: null,
    }],
    owned: leases(500),
  }));
  assert.equal(plan.claim, 0);
  assert.deepEqual(plan.handovers, []);
});

Deno.test("an owner over its share offers the excess to a newcomer, who claims it", () => {
  const counts: OwnerCount[] = [{ owner: "a", owned: 1000, handoverTo: null }];
  const giver = planLeases(
    figures({ self: "a", live: ["a", "b"], total: 1000, counts, owned: leases(1000) }),
  );
  assert.deepEqual(giver.handovers, [{ to: "b", count: 500 }]);
  assert.equal(giver.claim, 0);
  // Next heartbeat: the offers are counted and not made twice.
  const offered: OwnerCount[] = [
    { owner: "a", owned: 500, handoverTo: null },
    { owner: "a", owned: 500, handoverTo: "b" },
  ];
  const again = planLeases(figures({
    self: "a",
    live: ["a", "b"],
    total: 1000,
    counts: offered,
    owned: [...leases(500), ...leases(500, "b", 500)],
  }));
  assert.deepEqual(again.handovers, []);
  assert.deepEqual(again.cancel, []);
  // The newcomer claims what is offered to it.
  const taker = planLeases(figures({ self: "b", live: ["a", "b"], total: 1000, counts: offered }));
  assert.equal(taker.claim, 500);
});

Deno.test("free rows go first: nobody offers while some are free", () => {
  const plan = planLeases(figures({
    self: "a",
    live: ["a", "b"],
    total: 1000,
    counts: [{ owner: "a", owned: 900, handoverTo: null }],
    owned: leases(900),
  }));
  assert.deepEqual(plan.handovers, []);
});

Deno.test("offers to a dead monitor, or one that has its share, are withdrawn", () => {
  const dead = planLeases(figures({
    self: "a",
    live: ["a"],
    total: 10,
    counts: [{ owner: "a", owned: 5, handoverTo: null }, { owner: "a", owned: 5, handoverTo: "b" }],
    owned: [...leases(5), ...leases(5, "b", 5)],
  }));
  assert.deepEqual(dead.cancel, ["b"]);
  const full = planLeases(figures({
    self: "a",
    live: ["a", "b"],
    total: 10,
    counts: [
      { owner: "a", owned: 5, handoverTo: null },
      { owner: "a", owned: 1, handoverTo: "b" },
      { owner: "b", owned: 5, handoverTo: null },
    ],
    owned: [...leases(5), ...leases(1, "b", 5)],
  }));
  assert.deepEqual(full.cancel, ["b"]);
});

Deno.test("the excess is shared among several newcomers, the most short first", () => {
  const plan = planLeases(figures({
    self: "a",
    live: ["a", "b", "c"],
    total: 9,
    counts: [{ owner: "a", owned: 8, handoverTo: null }, {
      owner: "c",
      owned: 1,
      handoverTo: null,
    }],
    owned: leases(8),
  }));
  assert.equal(plan.quota, 3);
  assert.deepEqual(plan.handovers, [{ to: "b", count: 3 }, { to: "c", count: 2 }]);
});

/**
 * A model of the lease table: each round every monitor heartbeats, plans and acts, in turn. Whatever the
 * order of joins and deaths, the live monitors converge to at most ⌈N/M⌉ each and every streamer is owned.
 */
function simulate(total: number, script: { round: number; join?: string; die?: string }[]): {
  owners: Map<number, string | null>;
  live: string[];
} {
  const rows = Array.from({ length: total }, (_, id) => ({
    id,
    owner: null as string | null,
    handoverTo: null as string | null,
  }));
  const live: string[] = [];
  for (let round = 0; round < 40; round++) {
    for (const step of script.filter((s) => s.round === round)) {
      if (step.join) live.push(step.join);
      if (step.die) {
        live.splice(live.indexOf(step.die), 1);
        // Its leases expire: free to claim.
        for (const row of rows) if (row.owner === step.die) row.owner = null;
      }
    }
    for (const self of [...live]) {
      const countMap = new Map<string, OwnerCount>();
      for (const row of rows) {
        if (row.owner === null) continue;
        const key = `${row.owner}|${row.handoverTo}`;
        const entry = countMap.get(key) ??
          { owner: row.owner, owned: 0, handoverTo: row.handoverTo };
        entry.owned++;
        countMap.set(key, entry);
      }
      const owned = rows.filter((r) => r.owner === self)
        .map((r) => ({ streamerId: r.id, epoch: 1, handoverTo: r.handoverTo }));
      const plan = planLeases({ self, live, total, counts: [...countMap.values()], owned });
      for (const row of rows) {
        if (row.owner === self && row.handoverTo !== null && plan.cancel.includes(row.handoverTo)) {
          row.handoverTo = null;
        }
      }
      for (const offer of plan.handovers) {
        let left = offer.count;
        for (const row of [...rows].reverse()) {
          if (left === 0) break;
          if (row.owner === self && row.handoverTo === null) {
            row.handoverTo = offer.to;
            left--;
          }
        }
      }
      let claim = plan.claim;
      const claimable = [
        ...rows.filter((r) => r.handoverTo === self),
        ...rows.filter((r) => r.owner === null),
      ];
      for (const row of claimable) {
        if (claim === 0) break;
        row.owner = self;
        row.handoverTo = null;
        claim--;
      }
    }
  }
  return { owners: new Map(rows.map((r) => [r.id, r.owner])), live };
}

Deno.test("simulated monitors converge to ⌈N/M⌉ each through joins and deaths", () => {
  const cases = [
    { total: 1000, script: [{ round: 0, join: "a" }, { round: 3, join: "b" }] },
    { total: 1000, script: [{ round: 0, join: "a" }, { round: 0, join: "b" }] },
    {
      total: 1001,
      script: [{ round: 0, join: "a" }, { round: 2, join: "b" }, { round: 5, join: "c" }, {
        round: 12,
        die: "b",
      }],
    },
    {
      total: 7,
      script: [{ round: 0, join: "a" }, { round: 1, join: "b" }, { round: 1, join: "c" }],
    },
  ];
  for (const { total, script } of cases) {
    const { owners, live } = simulate(total, script);
    const share = fairShare(total, live.length);
    const counts = new Map<string, number>();
    for (const owner of owners.values()) {
      assert.notEqual(owner, null, "every streamer is owned");
      counts.set(owner!, (counts.get(owner!) ?? 0) + 1);
    }
    for (const id of live) {
      const n = counts.get(id) ?? 0;
      assert.ok(
        n <= share && n >= total - share * (live.length - 1),
        `${id} owns ${n} of ${total}`,
      );
    }
  }
});
