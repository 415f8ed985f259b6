import { BadPacket, UsageError } from '../core/errors.js';
import { decodeIntroduction, encodeIntroduction, type Introduction } from './introduce.js';

/**
 * Invite codes: a copy-pasteable `srmudp1:` + base64url of the same record an
 * introduction carries (identity key, nick, candidate addresses). Adding a
 * peer by code pins the key from the code, so whoever answers at those
 * addresses must prove that identity.
 */
const PREFIX = 'srmudp1:';

/** A code that carries only a nick and a key: the peer is found by discovery. */
export function isKeyOnly(invite: Introduction): boolean {
  return invite.addrs.length === 0 && (invite.relayed ?? []).length === 0;
}

export function isInviteCode(text: string): boolean {
  return text.trim().startsWith(PREFIX);
}

export function encodeInvite(invite: Introduction): string {
  return PREFIX + encodeIntroduction(invite).toString('base64url');
}

export function decodeInvite(text: string): Introduction {
  const s = text.trim();
  if (!s.startsWith(PREFIX))
    throw new UsageError('not an invite code: it should start with "srmudp1:"');
  const body = s.slice(PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(body))
    throw new UsageError('bad invite code: unexpected characters (was it cut or wrapped?)');
  try {
    // A node whose UDP is blocked but for its relay may list only a relayed
    // address; a key-only code lists none (discovery finds the addresses:
    // it never goes stale when the friend's address changes).
    return decodeIntroduction(Buffer.from(body, 'base64url'));
  } catch (err) {
    if (err instanceof BadPacket)
      throw new UsageError(`bad invite code: ${err.message} (was it cut short?)`);
    throw err;
  }
}
