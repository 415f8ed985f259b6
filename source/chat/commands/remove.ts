import { lookingUp } from '../netformat.js';
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
    // A name added by key and not found yet is no peer of the transport's:
    // removing it stops the lookup, and no 'removed' event will say so.
    const searching =
      lookingUp(ctx.socket.stats().discovery).includes(nick) &&
      !ctx.socket.peers().some((p) => p.nick === nick);
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
