/**
 * Verifying the signature of a Kick webhook delivery (kick-api.md §1.9.3): RSASSA-PKCS1-v1_5 with SHA-256 over
 * the bytes of `{Kick-Event-Message-Id}.{Kick-Event-Message-Timestamp}.{raw body}`, the signature in the
 * `Kick-Event-Signature` header as standard base64, the key Kick's 2048-bit RSA key as an SPKI PEM
 * ("-----BEGIN PUBLIC KEY-----", as in the docs and `GET /public/v1/public-key`, §1.7).
 *
 * Pure apart from WebCrypto, and never fails open: anything unreadable (signature, key use) is "not verified".
 * The body is taken as the bytes received, never re-serialised JSON (§1.9.3).
 */

/** The parts of a delivery the signature covers, exactly as received. */
export interface SignedWebhookMessage {
  /** `Kick-Event-Message-Id`, as received. */
  messageId: string;
  /** `Kick-Event-Message-Timestamp`, as received (not reformatted). */
  timestamp: string;
  /** The raw request body: its bytes, or text that is encoded as UTF-8 (what was received). */
  body: Uint8Array | string;
  /** `Kick-Event-Signature`: standard base64. */
  signature: string;
}

/** Anything that can tell whether a delivery was signed by Kick (a key, or a key that can be re-fetched). */
export interface WebhookVerifier {
  verify(message: SignedWebhookMessage): Promise<boolean>;
}

/** The PEM text given is not an RSA public key WebCrypto can use; the message says what was found. */
export class WebhookKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebhookKeyError";
  }
}

const ALGORITHM = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/;
/** A 2048-bit signature is 344 base64 characters; 8192-bit ones are 1368. Longer is not a signature. */
const MAX_SIGNATURE_CHARS = 2048;

/**
 * Imports an SPKI PEM ("-----BEGIN PUBLIC KEY-----") as an RSA verification key. Throws WebhookKeyError saying
 * what is wrong: no PEM block, a PKCS#1 "RSA PUBLIC KEY" (with the command that converts it), bad base64, or
 * not an RSA key.
 *
 * @example
 * ```ts
 * const key = await importWebhookPublicKey(KICK_WEBHOOK_PUBLIC_KEY_PEM);
 * const ok = await verifyWebhookSignature(key, { messageId, timestamp, body, signature });
 * ```
 */
export async function importWebhookPublicKey(pem: string): Promise<CryptoKey> {
  const match = PEM_BLOCK.exec(pem);
  if (match === null) {
    throw new WebhookKeyError(
      'expected a PEM public key ("-----BEGIN PUBLIC KEY-----" … "-----END PUBLIC KEY-----")',
    );
  }
  const label = match[1];
  if (label === "RSA PUBLIC KEY") {
    throw new WebhookKeyError(
      'expected an SPKI "PUBLIC KEY" PEM as Kick publishes it, got a PKCS#1 "RSA PUBLIC KEY"; convert ' +
        "it with: openssl rsa -RSAPublicKey_in -in key.pem -pubout",
    );
  }
  if (label !== "PUBLIC KEY") {
    throw new WebhookKeyError(`expected a "PUBLIC KEY" PEM block, got "${label}"`);
  }
  const der = decodeBase64(match[2].replace(/\s+/g, ""));
  if (der === null || der.length === 0) {
    throw new WebhookKeyError("the PEM block's body is not valid base64");
  }
  try {
    return await crypto.subtle.importKey("spki", der, ALGORITHM, false, ["verify"]);
  } catch (error) {
    throw new WebhookKeyError(
      `the PEM block is not an RSA public key (${
        error instanceof Error ? error.message : String(error)
      })`,
    );
  }
}

/**
 * Whether `message` carries a valid signature by `key`. False, never an exception, for a signature that is not
 * base64, has the wrong length, or does not verify.
 */
export async function verifyWebhookSignature(
  key: CryptoKey,
  message: SignedWebhookMessage,
): Promise<boolean> {
  if (message.signature.length > MAX_SIGNATURE_CHARS) return false;
  const signature = decodeBase64(message.signature.trim());
  if (signature === null || signature.length === 0) return false;
  try {
    return await crypto.subtle.verify(ALGORITHM, key, signature, signedBytes(message));
  } catch {
    return false;
  }
}

/** The bytes Kick signs: `{id}.{timestamp}.` followed by the body's bytes as received. */
export function signedBytes(
  message: Omit<SignedWebhookMessage, "signature">,
): Uint8Array<ArrayBuffer> {
  const encoder = new TextEncoder();
  const head = encoder.encode(`${message.messageId}.${message.timestamp}.`);
  const body = typeof message.body === "string" ? encoder.encode(message.body) : message.body;
  const bytes = new Uint8Array(head.length + body.length);
  bytes.set(head, 0);
  bytes.set(body, head.length);
  return bytes;
}

/** A {@link WebhookVerifier} over one fixed key (a pinned KICK_WEBHOOK_PUBLIC_KEY, tests). */
export function fixedKeyVerifier(key: CryptoKey): WebhookVerifier {
  return { verify: (message) => verifyWebhookSignature(key, message) };
}

/** Standard base64 (with or without padding) to bytes, or null when it is not base64. */
function decodeBase64(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 === 1) return null;
  try {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  } catch {
    return null;
  }
}
