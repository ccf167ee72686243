import assert from "node:assert/strict";
import { checkSlug, normaliseSlug } from "../../src/domain/slug.ts";
import { UsageError } from "../../src/lib/errors.ts";

Deno.test("slugs: valid ones are normalised to lowercase", () => {
  assert.equal(normaliseSlug("xQc"), "xqc");
  assert.equal(normaliseSlug(" abaksha-sc "), "abaksha-sc");
  assert.equal(normaliseSlug("a_b-9"), "a_b-9");
  assert.equal(normaliseSlug("a".repeat(25)), "a".repeat(25));
});

Deno.test("slugs: invalid ones are rejected with a message naming the problem", () => {
  const cases: [string, RegExp][] = [
    ["", /must not be empty/],
    ["a".repeat(26), /26 characters long; Kick slugs have at most 25/],
    ["x';drop table x", /characters Kick slugs never contain/],
    ["x'; DROP TABLE streamers;--", /27 characters long/],
    ["straße", /characters Kick slugs never contain/],
    ["a b", /characters Kick slugs never contain/],
    ["a.b", /characters Kick slugs never contain/],
  ];
  for (const [input, pattern] of cases) {
    const result = checkSlug(input);
    assert.ok("problem" in result, `expected ${JSON.stringify(input)} to be rejected`);
    assert.match(result.problem, pattern);
    assert.throws(() => normaliseSlug(input), UsageError);
  }
});
