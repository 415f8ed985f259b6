import { shortFp } from '../format.js';
import { isFingerprint, oneNick } from './args.js';
import type { CommandDef } from './command.js';

export const unblock: CommandDef<'unblock'> = {
  name: 'unblock',
  aliases: [],
  usage: '/unblock <nick|fingerprint>',
  description: 'accept a blocked key again',
  args: 'nick-or-fingerprint',
  parse(rest) {
    const r = oneNick(rest, unblock.usage, true);
    return 'type' in r ? r : { type: 'unblock', nick: r.nick };
  },
  run({ nick: target }, ctx) {
    const fp = ctx.blockedNicks.get(target) ?? (isFingerprint(target) ? target : undefined);
    if (!fp) throw new Error(`"${target}" was not blocked here: give its fingerprint`);
    ctx.blockedNicks.delete(target);
    if (!ctx.socket.isBlocked(fp)) throw new Error(`key ${shortFp(fp)} is not blocked`);
    ctx.socket.unblock(fp);
    ctx.system(`unblocked key ${shortFp(fp)}; /add the peer again to reconnect`);
    return undefined;
  },
};
