import { oneNick } from './args.js';
import type { CommandDef } from './command.js';

export const remove: CommandDef<'remove'> = {
  name: 'remove',
  aliases: [],
  usage: '/remove <nick>',
  description: 'disconnect from a peer and forget it',
  args: 'nick',
  parse(rest) {
    const r = oneNick(rest, remove.usage);
    return 'type' in r ? r : { type: 'remove', nick: r.nick };
  },
  run(action, ctx) {
    ctx.requirePeer(action.nick);
    // The transport's 'removed' event says it on screen.
    ctx.socket.removePeer(action.nick);
    return undefined;
  },
};
