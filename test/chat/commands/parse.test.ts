import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Action,
  COMMANDS,
  MAX_INPUT_BYTES,
  parseCommand,
} from '../../../source/chat/commands/index.js';
import { errorOf, hasControl } from './helpers.js';

describe('parseCommand: messages', () => {
  it('a plain line is a broadcast, kept as typed', () => {
    expect(parseCommand('hello world')).toEqual({ type: 'broadcast', text: 'hello world' });
    expect(parseCommand('  indented  ')).toEqual({ type: 'broadcast', text: '  indented  ' });
    expect(parseCommand('héllo 世界 👋🏽 مرحبا')).toEqual({
      type: 'broadcast',
      text: 'héllo 世界 👋🏽 مرحبا',
    });
  });

  it('// sends a line that starts with a slash', () => {
    expect(parseCommand('//help')).toEqual({ type: 'broadcast', text: '/help' });
    expect(parseCommand('  //etc/passwd is a path')).toEqual({
      type: 'broadcast',
      text: '/etc/passwd is a path',
    });
  });

  it('one trailing line terminator is dropped; TAB becomes a space', () => {
    expect(parseCommand('hi\n')).toEqual({ type: 'broadcast', text: 'hi' });
    expect(parseCommand('hi\r\n')).toEqual({ type: 'broadcast', text: 'hi' });
    expect(parseCommand('a\tb')).toEqual({ type: 'broadcast', text: 'a b' });
  });

  it('empty and whitespace-only lines are none', () => {
    for (const line of ['', ' ', '\t', '   \t  ', '\n', '\r\n']) {
      expect(parseCommand(line)).toEqual({ type: 'none' });
    }
  });

  it('control characters in a message are refused, named visibly', () => {
    expect(errorOf('hi \u001b[31mred')).toMatch(/control character \\x1b/);
    expect(errorOf('ring \u0007')).toMatch(/\\x07/);
    expect(errorOf('a\rb')).toMatch(/\\x0d/);
    expect(errorOf('a\nb')).toMatch(/\\x0a/);
    expect(errorOf('del\u007f')).toMatch(/\\x7f/);
    expect(errorOf('c1 \u009b31m')).toMatch(/\\x9b/);
    expect(errorOf('bidi \u202eevil')).toMatch(/\\u202e/);
    expect(errorOf('//x\u001b')).toMatch(/\\x1b/);
  });

  it('NUL anywhere is refused', () => {
    expect(errorOf('a\u0000b')).toMatch(/NUL/);
    expect(errorOf('/msg bob a\u0000b')).toMatch(/NUL/);
    expect(errorOf('/add bo\u0000b 1.2.3.4:5')).toMatch(/NUL/);
  });

  it('unpaired surrogates (not Unicode) are refused', () => {
    expect(errorOf('bad \ud800 high')).toMatch(/Unicode/);
    expect(errorOf('bad \udc00 low')).toMatch(/Unicode/);
    expect(errorOf('/msg bob \ud83d')).toMatch(/Unicode/);
    expect(parseCommand('ok 😀')).toEqual({ type: 'broadcast', text: 'ok 😀' });
  });

  it('input over 64 KiB (in UTF-8 bytes) is refused; exactly 64 KiB is not', () => {
    expect(parseCommand('a'.repeat(MAX_INPUT_BYTES)).type).toBe('broadcast');
    expect(errorOf('a'.repeat(MAX_INPUT_BYTES + 1))).toMatch(/too long/);
    // 3 bytes each in UTF-8: under the limit in characters, over it in bytes.
    expect(errorOf('世'.repeat(Math.ceil(MAX_INPUT_BYTES / 3) + 1))).toMatch(/too long/);
    expect(errorOf(`/msg bob ${'x'.repeat(MAX_INPUT_BYTES)}`)).toMatch(/too long/);
  });
});

describe('parseCommand: unknown and malformed commands', () => {
  it('an unknown command says so and points at /help', () => {
    expect(errorOf('/nope')).toBe('unknown command "/nope": type /help for the list');
    expect(errorOf('/nope with args')).toMatch(/unknown command "\/nope"/);
  });

  it('an empty command name is an error', () => {
    expect(errorOf('/')).toMatch(/empty command/);
    expect(errorOf('/ help')).toMatch(/empty command/);
  });

  it('control characters and huge names are echoed inert and short', () => {
    expect(errorOf('/he\u001blp')).toMatch(/control character \\x1b/);
    const msg = errorOf(`/${'x'.repeat(60_000)}`);
    expect(msg.length).toBeLessThan(200);
  });

  it('never throws, whatever the input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 200 }),
          fc
            .tuple(
              fc.constantFrom(...COMMANDS.map((c) => `/${c.name}`)),
              fc.string({ maxLength: 80 }),
            )
            .map(([c, rest]) => `${c} ${rest}`),
        ),
        (line) => {
          const a: Action = parseCommand(line);
          expect(typeof a.type).toBe('string');
          if (a.type === 'error') expect(hasControl(a.message)).toBe(false);
        },
      ),
      { numRuns: 2000 },
    );
    // Not even for non-strings smuggled past the types.
    expect(parseCommand(undefined as unknown as string).type).toBe('error');
  });
});
