import { formatTime, formatWhois } from '../format.js';
import { oneNick } from './args.js';
import type { CommandDef } from './command.js';

export const whois: CommandDef<'whois'> = {
  name: 'whois',
  aliases: [],
  usage: '/whois <nick>',
  description: "a peer's full fingerprint, address, state and statistics",
  args: 'nick',
  parse(rest) {
    const r = oneNick(rest, whois.usage);
    return 'type' in r ? r : { type: 'whois', nick: r.nick };
  },
  run({ nick }, ctx) {
    const p = ctx.requirePeer(nick);
    for (const row of formatWhois(p, ctx.now())) ctx.system(row);
    const since = ctx.connectedSince(nick);
    if (since !== undefined && p.state.kind === 'connected') {
      ctx.system(`  connected    since ${formatTime(since)}`);
    }
    // Both keys in full: comparing fingerprints is how the user decides.
    const s = p.state;
    if (s.kind === 'key-mismatch') {
      ctx.system(`  pinned key   ${s.expected}`);
      ctx.system(`  offered key  ${s.got} (refused: /trust ${nick} if ${nick} confirms it)`);
      return undefined;
    }
    const pinned = ctx.socket.pinnedFingerprint(nick);
    if (pinned && pinned !== p.fingerprint) ctx.system(`  pinned key   ${pinned}`);
    return undefined;
  },
};
