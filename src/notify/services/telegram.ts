/**
 * Telegram Bot API: `sendMessage` (HTML parse mode, every character of the text escaped), and the offline
 * edits it with `editMessageText`. Answers are `{"ok":true,"result":{…}}` or
 * `{"ok":false,"error_code","description","parameters":{"retry_after"}}`; the reference kept is
 * `chat_id:message_id`.
 */
import { escapeTelegramHtml, plainText } from "../escape.ts";
import { channelUrl, renderTemplate, templateFor } from "../template.ts";
import type { Notification, NotificationTarget, SendResult } from "../types.ts";
import {
  delivered,
  exchange,
  failedAnswer,
  isSuccess,
  jsonBody,
  type NotificationService,
} from "./http_sink.ts";

/** The HTML text of a message: the rendered template, escaped as a whole, and a link to the channel. */
export function telegramText(target: NotificationTarget, notification: Notification): string {
  const text = renderTemplate(templateFor(target, notification.kind), notification, plainText);
  const mention = target.mention ? `${escapeTelegramHtml(target.mention)} ` : "";
  const url = channelUrl(notification.slug);
  return `${mention}${escapeTelegramHtml(text)}\n<a href="${escapeTelegramHtml(url)}">${
    escapeTelegramHtml(url.replace("https://", ""))
  }</a>`;
}

interface TelegramAnswer {
  ok?: boolean;
  description?: string;
  error_code?: number;
  parameters?: { retry_after?: number };
  result?: { message_id?: number; chat?: { id?: number | string } };
}

/** Telegram's notification service. */
export const telegramService: NotificationService = {
  // A bot may send about one message per second to one chat.
  ratePerSecond: 1,
  async send(target, parsed, notification, context): Promise<SendResult> {
    const chatId = parsed.chatId ?? "";
    const text = telegramText(target, notification);
    const common = { chat_id: chatId, text, parse_mode: "HTML", disable_web_page_preview: true };
    const ref = notification.kind === "offline" ? notification.editRef : null;
    const messageId = ref === null ? null : Number(ref.slice(ref.lastIndexOf(":") + 1));
    const editing = messageId !== null && Number.isSafeInteger(messageId);
    const result = await exchange(
      context,
      parsed,
      `${parsed.endpoint}/${editing ? "editMessageText" : "sendMessage"}`,
      { json: editing ? { ...common, message_id: messageId } : common },
    );
    if ("failed" in result) return result.failed;
    const { response } = result;
    const answer = (jsonBody(response) ?? {}) as TelegramAnswer;
    if (isSuccess(response) && answer.ok === true) {
      if (editing) return delivered(ref, response);
      const id = answer.result?.message_id;
      return delivered(typeof id === "number" ? `${chatId}:${id}` : null, response);
    }
    const description = answer.description ?? null;
    if (editing && response.status === 400 && description !== null) {
      // Editing to the same text is not a failure; a deleted message gets a new one.
      if (/message is not modified/i.test(description)) return delivered(ref, response);
      if (/message to edit not found/i.test(description)) {
        return await telegramService.send(
          target,
          parsed,
          { ...notification, editRef: null },
          context,
        );
      }
    }
    const retryAfter = answer.parameters?.retry_after;
    return failedAnswer("Telegram", response, parsed, {
      detail: description,
      bodyRetryAfterMs: typeof retryAfter === "number" ? retryAfter * 1000 : null,
    });
  },
};
