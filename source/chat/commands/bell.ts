import { noArgs } from './args.js';
import type { CommandDef } from './command.js';

/** The front end switches its bell (the full-screen UI has one). */
export const bell: CommandDef<'bell'> = {
  name: 'bell',
  aliases: [],
  usage: '/bell',
  description: 'switch the terminal bell for mentions of your nick on or off',
  args: 'none',
  parse: (rest) => noArgs(rest, bell.usage) ?? { type: 'bell' },
  run: () => 'bell',
};
