import { describe, expect, it } from 'vitest';
import { COMMANDS, helpLines, parseCommand } from '../../../source/chat/commands/index.js';
import { errorOf } from './helpers.js';

describe('/help', () => {
  it('/help alone or with one command name, with or without its slash', () => {
    expect(parseCommand('/help')).toEqual({ type: 'help' });
    expect(parseCommand('/HELP  ')).toEqual({ type: 'help' });
    expect(parseCommand('/help msg')).toEqual({ type: 'help', command: 'msg' });
    expect(parseCommand('/help /exit')).toEqual({ type: 'help', command: 'quit' });
    expect(errorOf('/help nope')).toBe('unknown command "/nope": type /help for the list');
    expect(errorOf('/help msg list')).toBe('usage: /help [command]');
  });
});

describe('helpLines: generated from the registry', () => {
  it('lists every command once, in the registry order, with its usage and description', () => {
    const lines = helpLines(COMMANDS);
    expect(lines).toHaveLength(COMMANDS.length + 1);
    COMMANDS.forEach((c, i) => {
      expect(lines[i + 1]).toMatch(new RegExp(`^  ${c.usage.replace(/[[\]|]/gu, '\\$&')} +`));
      expect(lines[i + 1]!.endsWith(c.description)).toBe(true);
    });
  });

  it('pads usages to a short column, so descriptions stay readable in an 80-column pane', () => {
    // Padded to the longest usage (/add's, 54 characters), an 80-column pane
    // had one word of each description beside its usage.
    const lines = helpLines(COMMANDS);
    COMMANDS.forEach((c, i) => {
      const start = lines[i + 1]!.length - c.description.length;
      expect(start).toBeLessThanOrEqual(Math.max(2 + c.usage.length + 2, 32));
    });
  });

  it('one command: its usage line, then its aliases', () => {
    expect(helpLines(COMMANDS, 'quit')).toEqual(['/quit  leave the chat', '  also /exit']);
    expect(helpLines(COMMANDS, 'msg')).toEqual([
      '/msg <nick> <text>  send a private message to one peer',
    ]);
  });
});
