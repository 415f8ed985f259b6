import { formatPeerTable } from '../format.js';
import { lookingUp } from '../netformat.js';
import { noArgs } from './args.js';
import type { CommandDef } from './command.js';

export const list: CommandDef<'list'> = {
  name: 'list',
  aliases: [],
  usage: '/list',
  description: 'peers: address, state, fingerprint, round trip, retransmits, loss',
  args: 'none',
  parse: (rest) => noArgs(rest, list.usage) ?? { type: 'list' },
  run(_action, ctx) {
    const peers = ctx.socket.peers();
    // Names added by key that discovery has not found: not peers yet.
    const searching = lookingUp(ctx.socket.stats().discovery).filter(
      (nick) => !peers.some((p) => p.nick === nick),
    );
    if (peers.length === 0 && searching.length === 0) {
      ctx.system('no peers yet: /add <nick> <host:port>');
      return undefined;
    }
    if (peers.length > 0) for (const row of formatPeerTable(peers)) ctx.system(row);
    for (const nick of searching) ctx.system(`${nick}: looking up by key, not found yet`);
    return undefined;
  },
};
