import { formatPeerTable } from '../format.js';
import { searching as notFound } from '../netformat.js';
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
    // Names added by key that discovery has not found: said apart, not as rows.
    const searching = notFound(ctx.socket.stats().discovery, ctx.socket.peers());
    const peers = ctx.socket.peers().filter((p) => !searching.includes(p.nick));
    if (peers.length === 0 && searching.length === 0) {
      ctx.system('no peers yet: /add <nick> <host:port>');
      return undefined;
    }
    if (peers.length > 0) for (const row of formatPeerTable(peers)) ctx.system(row);
    for (const nick of searching) ctx.system(`${nick}: looking up by key, not found yet`);
    return undefined;
  },
};
