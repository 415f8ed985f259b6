import { formatPeerTable } from '../format.js';
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
    if (peers.length === 0) {
      ctx.system('no peers yet: /add <nick> <host:port>');
      return undefined;
    }
    for (const row of formatPeerTable(peers)) ctx.system(row);
    return undefined;
  },
};
