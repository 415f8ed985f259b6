import { decodeInvite, validateNick } from '../../index.js';
import { checkInvite, error, unwrapCode, usageError, words } from './args.js';
import type { CommandDef } from './command.js';

export const join: CommandDef<'join'> = {
  name: 'join',
  aliases: [],
  usage: '/join <code>',
  description: "connect with someone's invite code, under the nick it carries",
  args: 'code',
  parse(rest) {
    const args = unwrapCode(words(rest));
    const [code] = args;
    if (args.length !== 1 || code === undefined) return usageError(join.usage);
    const bad = checkInvite(code);
    return bad ? error(bad) : { type: 'join', code };
  },
  async run(action, ctx) {
    const nick = decodeInvite(action.code).nick;
    try {
      validateNick(nick);
    } catch {
      ctx.error(`the code's nick is not usable here: use /add <nick> <code>`);
      return undefined;
    }
    await ctx.socket.addPeers({ [nick]: action.code });
    ctx.addedBy.set(nick, 'invite');
    ctx.onAdded?.(nick, 'invite');
    ctx.system(`connecting to ${nick} with an invite code (key pinned from it)`);
    return undefined;
  },
};
