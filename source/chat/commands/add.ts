import { isInviteCode } from '../../index.js';
import { shortFp } from '../format.js';
import type { ErrorAction } from './action.js';
import {
  checkAddress,
  checkFingerprint,
  checkInvite,
  checkNick,
  error,
  looksLikeFingerprint,
  unwrapCode,
  usageError,
  words,
} from './args.js';
import type { ActionOf, CommandContext, CommandDef } from './command.js';

export const add: CommandDef<'add'> = {
  name: 'add',
  aliases: [],
  usage: '/add <nick> <host:port|code|fingerprint> [fingerprint]',
  description:
    'connect to a peer and call it <nick>: at an address, with a code, or by key alone (looked up in the DHT and on the LAN)',
  args: 'nick-address',
  parse(rest) {
    const args = unwrapCode(words(rest));
    const [nick, where, key] = args;
    if (args.length < 2 || args.length > 3 || nick === undefined || where === undefined) {
      return usageError(add.usage);
    }
    // The nick first: a bad one is refused before the address is looked at.
    const badNick = checkNick(nick);
    if (badNick) return error(badNick);
    if (key === undefined && looksLikeFingerprint(where)) {
      const fp = checkFingerprint(where);
      return 'type' in fp ? fp : { type: 'add', nick, fingerprint: fp.fingerprint };
    }
    const bad = checkWhere(where);
    // '/add bad nick! host:port': the address came third, so the second word
    // was meant as part of the nick. Say that, not that "nick!" is no address.
    if (bad && key !== undefined && !checkWhere(key)) {
      return error(`a nickname is one word: "${nick} ${where}" has a space`);
    }
    if (bad) return bad;
    if (key === undefined) return { type: 'add', nick, address: where };
    const fp = checkFingerprint(key);
    return 'type' in fp ? fp : { type: 'add', nick, address: where, fingerprint: fp.fingerprint };
  },
  async run(action, ctx) {
    const { nick, address, fingerprint } = action;
    if (fingerprint === ctx.socket.fingerprint) {
      ctx.error(`not adding ${nick}: that is your own key`);
      return undefined;
    }
    if (address === undefined) return addByKey(action, ctx);
    await ctx.socket.addPeers({
      [nick]: fingerprint ? { address, fingerprint } : address,
    });
    const invite = isInviteCode(address);
    ctx.addedBy.set(nick, invite ? 'invite' : 'address');
    ctx.onAdded?.(nick, invite ? 'invite' : 'address', fingerprint);
    const known = ctx.socket.peers().find((p) => p.nick === nick);
    if (known?.pinned && known.state.kind === 'connected') {
      // A stranger already connected from there took the name (or it was ours):
      // nothing is being dialed, and "connecting to" would say otherwise.
      ctx.system(
        `${nick} added: already connected from ${known.address ?? address}, key ${shortFp(known.fingerprint)}`,
      );
      return undefined;
    }
    const where = invite ? 'with an invite code (key pinned from it)' : `at ${address}`;
    const key = fingerprint ? `, expecting key ${fingerprint}` : '';
    ctx.system(`connecting to ${nick} ${where}${key}`);
    return undefined;
  },
};

function checkWhere(where: string): ErrorAction | undefined {
  if (isInviteCode(where)) {
    const bad = checkInvite(where);
    return bad ? error(bad) : undefined;
  }
  const bad = checkAddress(where);
  if (!bad) return undefined;
  // No colon at all: perhaps not meant as an address; say every form.
  return error(
    where.includes(':')
      ? bad
      : `${bad}: give host:port, an invite code or a 52-character fingerprint`,
  );
}

/**
 * A key alone: the transport looks it up (Mainline DHT, mDNS) and dials what
 * it finds, the key pinned before the first packet. With both off nothing
 * would ever find it, so that is said here, with the way out.
 */
async function addByKey(action: ActionOf<'add'>, ctx: CommandContext): Promise<undefined> {
  const { nick, fingerprint } = action;
  const d = ctx.socket.stats().discovery;
  if (!d || (!d.dht && !d.mdns)) {
    ctx.error(
      `cannot look ${nick} up by key: the DHT and mDNS are off (--no-dht, --no-mdns, SRMUDP_DHT=none, SRMUDP_MDNS=off); give an address too: /add ${nick} <host:port> <fingerprint>`,
    );
    return undefined;
  }
  await ctx.socket.addPeers({ [nick]: { fingerprint: fingerprint! } });
  ctx.addedBy.set(nick, 'key');
  ctx.onAdded?.(nick, 'key', fingerprint);
  const where = [d.dht ? 'the DHT' : '', d.mdns ? 'the LAN' : ''].filter(Boolean).join(' and ');
  ctx.system(`looking up ${nick} by key ${fingerprint} in ${where}`);
  return undefined;
}
