/** A Unix socket file nobody listens on, as a monitor killed with SIGKILL leaves behind. */

/**
 * Makes `path` such a socket: a child process listens there and dies by SIGKILL (Deno removes the file of a
 * listener closed normally, so this takes a real death).
 */
export async function leaveStaleSocket(path: string): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `Deno.listen({ transport: "unix", path: ${JSON.stringify(path)} }); console.log("up"); ` +
      "setTimeout(() => {}, 60000)",
    ],
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  try {
    await reader.read();
  } finally {
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel();
  }
}
