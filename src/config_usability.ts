/**
 * Is a valid configuration also usable? `config.ts` checks each variable's form; this module checks what a
 * well-formed value still cannot do: empty Kick credentials (every command that talks to Kick would exit 78) and
 * a data directory that is a file, a device, a kernel pseudo-filesystem or not writable (every command that
 * opens it would fail with a raw OS error). `config validate`, `doctor` and the commands that open the data
 * directory call it, so each says the same thing in the same words.
 */
import { dirname, resolve } from "node:path";
import { ConfigError } from "./lib/errors.ts";

/** The commands that talk to Kick, and so need KICK_CLIENT_ID and KICK_CLIENT_SECRET. */
export const KICK_COMMANDS: readonly string[] = [
  "streamers add",
  "streamers test",
  "check",
  "service start",
  "doctor",
  "webhooks",
];

/**
 * Problems with the Kick credentials, one per empty variable, naming the commands that need it (pure).
 * The other commands (config, db, streamers list/remove/history, events list, service status/stop) work
 * without them.
 */
export function credentialProblems(
  values: { kickClientId?: string; kickClientSecret?: string },
): string[] {
  const needs = `${KICK_COMMANDS.join(", ")} need it`;
  const problems: string[] = [];
  if (!values.kickClientId) {
    problems.push(
      `KICK_CLIENT_ID is empty: ${needs} (the app's client id, from https://kick.com/settings/developer)`,
    );
  }
  if (!values.kickClientSecret) {
    problems.push(
      `KICK_CLIENT_SECRET is empty: ${needs} (the app's client secret, shown with the client id)`,
    );
  }
  return problems;
}

/** Kernel pseudo-filesystems: nothing can be stored there. */
const PSEUDO_FILESYSTEMS = ["/proc", "/sys"];

/**
 * Why `dir` cannot be the data directory, or null when it can: it must be (or be creatable as) a directory this
 * user can write. Writability is tested by creating and removing a probe file, the only test that sees a
 * read-only mount and ACLs as they are (root ignores permission bits, but not a read-only filesystem).
 */
export async function dataDirProblem(dir: string): Promise<string | null> {
  const name = `KICK_MONITOR_DATA_DIR=${JSON.stringify(dir)}`;
  const fix = "point it at a directory this user can write";
  const absolute = resolve(dir);
  const pseudo = PSEUDO_FILESYSTEMS.find((p) => absolute === p || absolute.startsWith(`${p}/`));
  if (pseudo !== undefined) {
    return `${name} is under ${pseudo}, a kernel pseudo-filesystem that cannot hold files; ${fix}`;
  }
  // The directory itself, or the nearest ancestor that exists (where it would be created).
  let existing = absolute;
  for (;;) {
    try {
      const info = await Deno.stat(existing);
      if (!info.isDirectory) {
        const what = info.isFile
          ? "a file"
          : info.isCharDevice || info.isBlockDevice
          ? "a device"
          : "a socket or a pipe";
        return existing === absolute
          ? `${name} is ${what}, not a directory; ${fix}`
          : `${name} cannot be created: ${existing} is ${what}; ${fix}`;
      }
      break;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory)) {
        return `${name} cannot be read (${describe(error)}); ${fix}`;
      }
      const parent = dirname(existing);
      if (parent === existing) break;
      existing = parent;
    }
  }
  try {
    const probe = await Deno.makeTempFile({ dir: existing, prefix: ".kick-monitor-probe-" });
    await Deno.remove(probe);
  } catch (error) {
    return existing === absolute
      ? `${name} is not writable by this user (${describe(error)}); ${fix}`
      : `${name} cannot be created in ${existing}, which is not writable by this user (${
        describe(error)
      }); ${fix}`;
  }
  return null;
}

/** Throws ConfigError (exit 78) when `dir` cannot be the data directory. */
export async function requireUsableDataDir(dir: string): Promise<void> {
  const problem = await dataDirProblem(dir);
  if (problem !== null) throw new ConfigError([problem]);
}

function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // Deno appends the syscall and path ("Read-only file system (os error 30): …"); the reason is enough.
  return message.replace(/\s*\(os error \d+\).*$/s, "").replace(/:.*$/s, "");
}
