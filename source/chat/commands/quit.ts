import { noArgs } from './args.js';
import type { CommandDef } from './command.js';

/** The front end ends the chat (and the controller's shutdown sends the CLOSEs). */
export const quit: CommandDef<'quit'> = {
  name: 'quit',
  aliases: ['exit'],
  usage: '/quit',
  description: 'leave the chat',
  args: 'none',
  parse: (rest) => noArgs(rest, quit.usage) ?? { type: 'quit' },
  run: () => 'quit',
};
