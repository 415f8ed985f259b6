import { UsageError } from './errors.js';

const NICK_PATTERN = /^[\p{L}\p{N}_.-]{1,32}$/u;

/** Nicks name peers in commands (`/msg bob hi`): letters, digits, `_ . -`, 1-32 long. */
export function validateNick(nick: string): string {
  if (!NICK_PATTERN.test(nick)) {
    throw new UsageError(
      `bad nickname "${nick}": use 1-32 letters, digits, "_", "." or "-" (no spaces)`,
    );
  }
  return nick;
}
