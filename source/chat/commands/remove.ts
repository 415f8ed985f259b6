import { searching as notFound } from '../netformat.js';
import { oneNick } from './args.js';
import type { CommandDef } from './command.js';

export const remove: CommandDef<'remove'> = {
  name: 'remove',
  aliases: [],
  usage: '/remove <nick>',
  description: 'disconnect from a peer and forget it (or stop looking it up by key)',
  args: 'nick',
  parse(rest) {
    const r = oneNick(rest, remove.usage);
    return 'type' in r ? r : { type: 'remove', nick: r.nick };
  },
  run(action, ctx) {
    const { nick } = action;
    // A name added by key and not found yet: removing it stops the lookup.
    const searching = notFound(ctx.socket.stats().discovery, ctx.socket.peers()).includes(nick);
    if (searching) {
      ctx.socket.removePeer(nick);
      ctx.addedBy.delete(nick);
      ctx.onForgotten?.(nick);
      ctx.system(`stopped looking up ${nick}; forgotten`);
      return undefined;
    }
    ctx.requirePeer(nick);
    // The transport's 'removed' event says it on screen.
    ctx.socket.removePeer(nick);
    return undefined;
  },
};
