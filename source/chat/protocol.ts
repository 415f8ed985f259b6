/**
 * What a chat message looks like inside one transport message:
 *
 *   {"type":"srmudp-chat","version":1,"private":false,"text":"hello"}
 *
 * `private` is true for /msg (sent to one peer), false for a line sent to
 * everyone. The transport already says who sent it and authenticates that,
 * so the payload carries neither sender nor time.
 *
 * Decoding is total: bytes that are not such an envelope (another program on
 * the transport, a newer version) are shown as plain public text, so nothing
 * a peer sends is lost or crashes the reader. Invalid UTF-8 becomes U+FFFD.
 * The text is NOT sanitized here; do that when printing (see sanitize.ts).
 */

export const CHAT_TYPE = 'srmudp-chat';
export const CHAT_VERSION = 1;

export interface ChatPayload {
  text: string;
  private: boolean;
}

export function encodeChat(payload: ChatPayload): Buffer {
  return Buffer.from(
    JSON.stringify({
      type: CHAT_TYPE,
      version: CHAT_VERSION,
      private: payload.private,
      text: payload.text,
    }),
    'utf8',
  );
}

const decoder = new TextDecoder('utf-8', { fatal: false });

export function decodeChat(data: Uint8Array): ChatPayload {
  const raw = decoder.decode(data);
  if (raw.startsWith('{')) {
    try {
      const obj: unknown = JSON.parse(raw);
      if (typeof obj === 'object' && obj !== null) {
        const o = obj as Record<string, unknown>;
        if (o.type === CHAT_TYPE && o.version === CHAT_VERSION && typeof o.text === 'string') {
          return { text: o.text, private: o.private === true };
        }
      }
    } catch {
      // Not JSON: plain text.
    }
  }
  return { text: raw, private: false };
}
