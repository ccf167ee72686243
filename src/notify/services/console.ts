/** The console "service": prints the message on stdout (the demo, and trying templates out). */
import { plainText } from "../escape.ts";
import { escapeForTerminal } from "../../lib/terminal.ts";
import { renderTemplate, templateFor } from "../template.ts";
import type { SendResult } from "../types.ts";
import type { NotificationService } from "./http_sink.ts";

const encoder = new TextEncoder();

/** The console service: one line per notification, terminal-escaped (titles are streamer-written). */
export const consoleService: NotificationService = {
  ratePerSecond: 1000,
  send(target, _parsed, notification, context): Promise<SendResult> {
    const text = renderTemplate(templateFor(target, notification.kind), notification, plainText);
    const line = escapeForTerminal(`[notify ${target.name}] ${text}`);
    if (context.write) context.write(line);
    else Deno.stdout.writeSync(encoder.encode(line + "\n"));
    return Promise.resolve({ ok: true, messageRef: null, pauseMs: null });
  },
};
