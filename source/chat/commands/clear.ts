import { noArgs } from './args.js';
import type { CommandDef } from './command.js';

/** The front end clears its screen (the controller has none). */
export const clear: CommandDef<'clear'> = {
  name: 'clear',
  aliases: [],
  usage: '/clear',
  description: 'clear the screen',
  args: 'none',
  parse: (rest) => noArgs(rest, clear.usage) ?? { type: 'clear' },
  run: () => 'clear',
};
