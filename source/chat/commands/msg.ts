import { checkNick, checkText, error, firstWord, usageError } from './args.js';
import type { CommandDef } from './command.js';

export const msg: CommandDef<'msg'> = {
  name: 'msg',
  aliases: [],
  usage: '/msg <nick> <text>',
  description: 'send a private message to one peer',
  args: 'nick-text',
  parse(rest) {
    const { word: nick, rest: body } = firstWord(rest);
    if (nick === '' || body.trim() === '') return usageError(msg.usage);
    const bad = checkNick(nick);
    if (bad) return error(bad);
    const t = checkText(body);
    return 'type' in t ? t : { type: 'msg', nick, text: t.text };
  },
  run(action, ctx) {
    ctx.sendMessage(action.text, action.nick);
    return undefined;
  },
};
