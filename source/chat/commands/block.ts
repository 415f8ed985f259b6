import { shortFp } from '../format.js';
import { isFingerprint, oneNick } from './args.js';
import type { CommandDef } from './command.js';

export const block: CommandDef<'block'> = {
  name: 'block',
  aliases: [],
  usage: '/block <nick|fingerprint>',
  description: "refuse a peer's key from now on",
  args: 'nick-or-fingerprint',
  parse(rest) {
    const r = oneNick(rest, block.usage, true);
    return 'type' in r ? r : { type: 'block', nick: r.nick };
  },
  run({ nick: target }, ctx) {
    const peer = ctx.socket.peers().find((p) => p.nick === target);
    const fp = peer ? peer.fingerprint : isFingerprint(target) ? target : undefined;
    if (!fp) {
      throw new Error(
        peer
          ? `cannot block ${target} yet: its key is not known (it never connected)`
          : `unknown peer "${target}": give a nick from /list or a fingerprint`,
      );
    }
    if (peer) ctx.blockedNicks.set(peer.nick, fp);
    if (ctx.socket.isBlocked(fp)) {
      ctx.system(`key ${shortFp(fp)} is already blocked`);
      return undefined;
    }
    ctx.socket.block(fp);
    ctx.system(`blocked ${peer ? `${peer.nick} ` : ''}(key ${shortFp(fp)})`);
    return undefined;
  },
};
