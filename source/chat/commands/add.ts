import { isInviteCode } from '../../index.js';
import { checkAddress, checkInvite, checkNick, error, usageError, words } from './args.js';
import type { CommandDef } from './command.js';

export const add: CommandDef<'add'> = {
  name: 'add',
  aliases: [],
  usage: '/add <nick> <host:port>',
  description: 'connect to a peer and call it <nick>',
  args: 'nick-address',
  parse(rest) {
    const args = words(rest);
    const [nick, address] = args;
    if (args.length !== 2 || nick === undefined || address === undefined) {
      return usageError(add.usage);
    }
    // The nick first: a bad one is refused before the address is looked at.
    const badNick = checkNick(nick);
    if (badNick) return error(badNick);
    const bad = isInviteCode(address) ? checkInvite(address) : checkAddress(address);
    return bad ? error(bad) : { type: 'add', nick, address };
  },
  async run(action, ctx) {
    await ctx.socket.addPeers({ [action.nick]: action.address });
    const where = isInviteCode(action.address)
      ? 'with an invite code (key pinned from it)'
      : `at ${action.address}`;
    ctx.system(`connecting to ${action.nick} ${where}`);
    return undefined;
  },
};
