import assert from "node:assert/strict";
import { join } from "node:path";
import { credentialProblems, dataDirProblem } from "../../src/config_usability.ts";

Deno.test("credentialProblems: each empty credential is named with the commands that need it", () => {
  assert.deepEqual(credentialProblems({ kickClientId: "id", kickClientSecret: "secret" }), []);
  const problems = credentialProblems({ kickClientId: "", kickClientSecret: undefined });
  assert.equal(problems.length, 2);
  assert.match(problems[0], /^KICK_CLIENT_ID is empty: streamers add, .*service start.* need it/);
  assert.match(problems[1], /^KICK_CLIENT_SECRET is empty/);
});

Deno.test("dataDirProblem: a file, a device, /proc and a path through a file are refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "file");
    await Deno.writeTextFile(file, "x");
    assert.match((await dataDirProblem(file))!, /is a file, not a directory/);
    assert.match((await dataDirProblem(join(file, "sub")))!, /cannot be created: .* is a file/);
    assert.match((await dataDirProblem("/dev/null"))!, /is a device, not a directory/);
    assert.match((await dataDirProblem("/proc"))!, /kernel pseudo-filesystem/);
    assert.match((await dataDirProblem("/proc/1/data"))!, /kernel pseudo-filesystem/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dataDirProblem: an existing or creatable directory is fine, and is left as it was", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.equal(await dataDirProblem(dir), null);
    assert.equal(await dataDirProblem(join(dir, "not", "yet")), null);
    assert.deepEqual([...Deno.readDirSync(dir)], [], "the probe left nothing behind");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "dataDirProblem: a read-only directory is refused",
  // Root writes through permission bits; only a read-only mount would stop it.
  ignore: Deno.uid() === 0,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.chmod(dir, 0o500);
      assert.match((await dataDirProblem(dir))!, /is not writable by this user/);
    } finally {
      await Deno.chmod(dir, 0o700);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
