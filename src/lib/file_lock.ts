/**
 * Advisory file locks (flock) that the operating system releases when a process dies, so a crash never leaves a
 * stale lock behind. The holder writes its pid into the file for messages and `service stop`.
 */
import { sleep } from "./backoff.ts";

export interface FileLock {
  path: string;
  release(): void;
}

/** Takes the lock if it is free; returns null when another process holds it. */
export async function tryLockFile(path: string): Promise<FileLock | null> {
  const file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
  let locked = false;
  try {
    locked = await file.tryLock(true);
  } catch (error) {
    file.close();
    throw error;
  }
  if (!locked) {
    file.close();
    return null;
  }
  await file.truncate(0);
  await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  let released = false;
  return {
    path,
    release(): void {
      if (released) return;
      released = true;
      try {
        file.truncateSync(0);
      } catch { /* the file may be gone with its directory; the lock goes with the handle */ }
      file.close();
    },
  };
}

/** Waits up to `timeoutMs` for the lock; returns null if it is still held then. */
export async function lockFileWithin(path: string, timeoutMs: number): Promise<FileLock | null> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const lock = await tryLockFile(path);
    if (lock !== null || Date.now() >= deadline) return lock;
    await sleep(100);
  }
}

/** The pid written by the current holder, or null when the lock is free or unreadable. */
export async function lockHolder(path: string): Promise<number | null> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true, write: true });
  } catch {
    return null;
  }
  try {
    if (await file.tryLock(true)) {
      await file.unlock();
      return null;
    }
  } finally {
    file.close();
  }
  const text = await Deno.readTextFile(path).catch(() => "");
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : -1;
}
