import { oneNick } from './args.js';
import type { CommandDef } from './command.js';

export const trust: CommandDef<'trust'> = {
  name: 'trust',
  aliases: [],
  usage: '/trust <nick>',
  description:
    "accept a peer's changed key, or pin an unconfirmed peer's (compare fingerprints first!)",
  args: 'nick',
  parse(rest) {
    const r = oneNick(rest, trust.usage);
    return 'type' in r ? r : { type: 'trust', nick: r.nick };
  },
  async run({ nick }, ctx) {
    const p = ctx.requirePeer(nick);
    if (p.unconfirmed) {
      // No new session: the key the current one proved is pinned (issue 17 item 7).
      await ctx.socket.trustNewKey(nick);
      const pinned = ctx.socket.pinnedFingerprint(nick);
      if (pinned) ctx.onTrust?.(nick, pinned, p.address);
      ctx.system(
        `${nick} pinned to key ${pinned ?? p.fingerprint ?? '?'} (it answered from ${p.unconfirmed.from})`,
      );
      return undefined;
    }
    // A stranger (it added us; never added here) has nothing pinned to
    // replace: the transport would answer "key has not changed". Say what
    // keeps it instead: /add pins the key its session proved.
    if (!p.pinned && p.state.kind === 'connected') {
      ctx.error(
        `${nick} is a stranger (you never added it): no changed key to accept; /add ${nick} ${p.address ?? '<host:port>'} keeps it`,
      );
      return undefined;
    }
    // Marked first: the new key's session can complete while the trust store is written.
    ctx.trusting.add(nick);
    try {
      await ctx.socket.trustNewKey(nick);
    } catch (err) {
      ctx.trusting.delete(nick);
      throw err;
    }
    const pinned = ctx.socket.pinnedFingerprint(nick);
    if (pinned) ctx.onTrust?.(nick, pinned, p.address);
    ctx.system(`trusting ${nick}'s new key${pinned ? ` ${pinned}` : ''}; reconnecting`);
    return undefined;
  },
};
