import { quoteForDisplay } from '../sanitize.js';
import { error, words } from './args.js';
import type { AnyCommand, CommandDef } from './command.js';

const MAX_USAGE_COLUMN = 28;

/** /help's lines, generated from the registry: every command, or one with its aliases. */
export function helpLines(commands: readonly AnyCommand[], command?: string): string[] {
  const one = commands.find((c) => c.name === command);
  if (one) return [`${one.usage}  ${one.description}`, ...one.aliases.map((a) => `  also /${a}`)];
  // A column as wide as the longest usage (/add's, 54 characters) left one
  // word of each description beside its usage in an 80-column pane: longer
  // usages run past the column instead.
  const width = Math.min(MAX_USAGE_COLUMN, Math.max(...commands.map((c) => c.usage.length)));
  return [
    'plain text goes to every connected peer; start it with // to send a leading /',
    ...commands.map((c) => `  ${c.usage.padEnd(width)}  ${c.description}`),
  ];
}

export const help: CommandDef<'help'> = {
  name: 'help',
  aliases: [],
  usage: '/help [command]',
  description: 'show this list, or how to use one command',
  args: 'command',
  parse(rest, find) {
    const args = words(rest);
    if (args.length === 0) return { type: 'help' };
    const [name] = args;
    if (args.length !== 1 || name === undefined) return error(`usage: ${help.usage}`);
    const bare = name.replace(/^\//u, '');
    const known = find(bare);
    if (!known)
      return error(`unknown command ${quoteForDisplay(`/${bare}`)}: type /help for the list`);
    return { type: 'help', command: known.name };
  },
  run(action, ctx) {
    for (const line of helpLines(ctx.commands, action.command)) ctx.system(line);
    return undefined;
  },
};
