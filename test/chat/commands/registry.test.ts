import { describe, expect, it } from 'vitest';
import { COMMANDS, parseCommand } from '../../../source/chat/commands/index.js';
import { INVITE } from './helpers.js';

describe('COMMANDS', () => {
  it('has a usage and a description for every command, each starting with its name', () => {
    const names = COMMANDS.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.sort()).toEqual(
      [
        'add',
        'bell',
        'block',
        'clear',
        'help',
        'invite',
        'join',
        'list',
        'load',
        'msg',
        'quit',
        'remove',
        'save',
        'trust',
        'unblock',
        'wait',
        'whois',
      ].sort(),
    );
    for (const c of COMMANDS) {
      expect(c.usage.startsWith(`/${c.name}`)).toBe(true);
      expect(c.description.length).toBeGreaterThan(0);
    }
  });

  it('each usage line parses when its placeholders are filled in', () => {
    const fill = (usage: string) =>
      usage
        .replace('<nick|fingerprint>', 'bob')
        .replace('<nick>', 'bob')
        .replace('<host:port>', '127.0.0.1:9000')
        .replace('<host:port|code|fingerprint>', '127.0.0.1:9000')
        .replace('<text>', 'hello')
        .replace('<file>', 'peers.json')
        .replace('<code>', INVITE)
        .replace(/ \[[a-z]+\]/u, '');
    for (const c of COMMANDS) {
      const a = parseCommand(fill(c.usage));
      expect(a.type).toBe(c.name);
    }
  });
});
