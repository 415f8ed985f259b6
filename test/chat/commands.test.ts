import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Action,
  COMMANDS,
  completeCommand,
  MAX_INPUT_BYTES,
  parseCommand,
  WAIT_DEFAULT_SECONDS,
  WAIT_MAX_SECONDS,
} from '../../source/chat/commands.js';
import { encodeInvite } from '../../source/net/nat/invite.js';

/** Any C0/C1 control or DEL (checked by code, independently of the code under test). */
function hasControl(text: string): boolean {
  return [...text].some((ch) => {
    const c = ch.codePointAt(0) ?? 0;
    return c <= 0x1f || (c >= 0x7f && c <= 0x9f);
  });
}

const FP = 'rhpvxvglnj77cxqvsswne6u3qob37r5fjkzxqh6fcnytl4mjweza';

function errorOf(line: string): string {
  const a = parseCommand(line);
  if (a.type !== 'error')
    throw new Error(`expected an error for ${JSON.stringify(line)}, got ${a.type}`);
  return a.message;
}

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

describe('parseCommand: /help and /wait', () => {
  it('/help alone or with one command name, with or without its slash', () => {
    expect(parseCommand('/help')).toEqual({ type: 'help' });
    expect(parseCommand('/HELP  ')).toEqual({ type: 'help' });
    expect(parseCommand('/help msg')).toEqual({ type: 'help', command: 'msg' });
    expect(parseCommand('/help /exit')).toEqual({ type: 'help', command: 'quit' });
    expect(errorOf('/help nope')).toBe('unknown command "/nope": type /help for the list');
    expect(errorOf('/help msg list')).toBe('usage: /help [command]');
  });

  it('/wait <nick> [seconds]', () => {
    expect(parseCommand('/wait bob')).toEqual({
      type: 'wait',
      nick: 'bob',
      seconds: WAIT_DEFAULT_SECONDS,
    });
    expect(parseCommand('/wait bob 10')).toEqual({ type: 'wait', nick: 'bob', seconds: 10 });
    expect(parseCommand('/wait bob 0.5')).toEqual({ type: 'wait', nick: 'bob', seconds: 0.5 });
    expect(errorOf('/wait')).toBe('usage: /wait <nick> [seconds]');
    expect(errorOf('/wait bob 1 2')).toBe('usage: /wait <nick> [seconds]');
    for (const bad of ['0', '-1', 'ten', '1e3', `${WAIT_MAX_SECONDS + 1}`]) {
      expect(errorOf(`/wait bob ${bad}`)).toMatch(/^bad number of seconds/);
    }
    expect(errorOf('/wait b@d')).toMatch(/^bad nickname/);
  });
});

describe('parseCommand: commands without arguments', () => {
  for (const name of ['list', 'quit', 'clear'] as const) {
    it(`/${name}`, () => {
      expect(parseCommand(`/${name}`)).toEqual({ type: name });
      expect(parseCommand(`  /${name}  `)).toEqual({ type: name });
      expect(parseCommand(`/${name.toUpperCase()}`)).toEqual({ type: name });
      expect(errorOf(`/${name} extra`)).toBe(`usage: /${name}`);
    });
  }

  it('/exit is /quit', () => {
    expect(parseCommand('/exit')).toEqual({ type: 'quit' });
  });
});

describe('parseCommand: /add', () => {
  it('takes a nick and a host:port', () => {
    expect(parseCommand('/add bob 127.0.0.1:9000')).toEqual({
      type: 'add',
      nick: 'bob',
      address: '127.0.0.1:9000',
    });
    expect(parseCommand('/add   bob\t [::1]:9000  ')).toEqual({
      type: 'add',
      nick: 'bob',
      address: '[::1]:9000',
    });
    expect(parseCommand('/add Zoë example.org:1')).toEqual({
      type: 'add',
      nick: 'Zoë',
      address: 'example.org:1',
    });
  });

  it('wrong arity says the usage', () => {
    for (const line of ['/add', '/add bob', '/add bob 1.2.3.4:5 extra']) {
      expect(errorOf(line)).toBe('usage: /add <nick> <host:port>');
    }
  });

  it('a bad address is refused with the reason', () => {
    expect(errorOf('/add bob 127.0.0.1')).toMatch(/bad address.*host:port/);
    expect(errorOf('/add bob 127.0.0.1:0')).toMatch(/port/);
    expect(errorOf('/add bob 127.0.0.1:65536')).toMatch(/port/);
    expect(errorOf('/add bob 127.0.0.1:abc')).toMatch(/port/);
    expect(errorOf('/add bob ::1:9000')).toMatch(/\[addr\]:port/);
    expect(errorOf('/add bob [nope]:9000')).toMatch(/IPv6/);
    expect(errorOf('/add bob ex_ample!.org:9000')).toMatch(/host/);
    expect(errorOf(`/add bob ${'a'.repeat(5000)}:1`)).toMatch(/too long/);
    expect(errorOf('/add bob 1.2.3.4:5\u0085')).toMatch(/control character \\x85/);
  });

  it('a bad nick is refused, before the address is looked at', () => {
    expect(errorOf('/add b@d 1.2.3.4:5')).toMatch(/bad nickname "b@d"/);
    expect(errorOf(`/add ${'n'.repeat(33)} 1.2.3.4:5`)).toMatch(/bad nickname/);
    expect(errorOf('/add b\u001bd 1.2.3.4:5')).toMatch(/bad nickname "b\\x1bd"/);
    expect(errorOf('/add b\ufffdd 1.2.3.4:5')).toMatch(/bad nickname/);
    // A huge nick is echoed cut short.
    const msg = errorOf(`/add ${'n'.repeat(10_000)} 1.2.3.4:5`);
    expect(msg.length).toBeLessThan(200);
  });
});

describe('parseCommand: commands taking a nick', () => {
  for (const name of ['remove', 'whois', 'trust'] as const) {
    it(`/${name} <nick>`, () => {
      expect(parseCommand(`/${name} bob`)).toEqual({ type: name, nick: 'bob' });
      expect(errorOf(`/${name}`)).toBe(`usage: /${name} <nick>`);
      expect(errorOf(`/${name} bob carol`)).toBe(`usage: /${name} <nick>`);
      expect(errorOf(`/${name} b!b`)).toMatch(/bad nickname/);
      expect(errorOf(`/${name} ${FP}`)).toMatch(/bad nickname/);
      expect(errorOf(`/${name} b\u009bb`)).toMatch(/bad nickname "b\\x9bb"/);
    });
  }

  for (const name of ['block', 'unblock'] as const) {
    it(`/${name} <nick|fingerprint>`, () => {
      expect(parseCommand(`/${name} bob`)).toEqual({ type: name, nick: 'bob' });
      expect(parseCommand(`/${name} ${FP}`)).toEqual({ type: name, nick: FP });
      expect(errorOf(`/${name}`)).toBe(`usage: /${name} <nick|fingerprint>`);
      expect(errorOf(`/${name} bob carol`)).toBe(`usage: /${name} <nick|fingerprint>`);
      expect(errorOf(`/${name} b!b`)).toMatch(/bad nickname/);
    });
  }
});

describe('parseCommand: /msg', () => {
  it('takes a nick and the rest of the line', () => {
    expect(parseCommand('/msg bob hi there  you')).toEqual({
      type: 'msg',
      nick: 'bob',
      text: 'hi there  you',
    });
    expect(parseCommand('/msg bob /not a command')).toEqual({
      type: 'msg',
      nick: 'bob',
      text: '/not a command',
    });
  });

  it('needs both', () => {
    for (const line of ['/msg', '/msg bob', '/msg bob    ', '/msg   ']) {
      expect(errorOf(line)).toBe('usage: /msg <nick> <text>');
    }
  });

  it('refuses a bad nick and control characters in the text', () => {
    expect(errorOf('/msg b!b hi')).toMatch(/bad nickname/);
    expect(errorOf('/msg bob \u001b]52;c;aGk=\u0007')).toMatch(/control character \\x1b/);
    expect(parseCommand('/msg bob a\tb')).toEqual({ type: 'msg', nick: 'bob', text: 'a b' });
  });
});

describe('parseCommand: /save and /load', () => {
  for (const name of ['save', 'load'] as const) {
    it(`/${name} <file>`, () => {
      expect(parseCommand(`/${name} peers.json`)).toEqual({ type: name, file: 'peers.json' });
      expect(parseCommand(`/${name}   my peers.json  `)).toEqual({
        type: name,
        file: 'my peers.json',
      });
      expect(errorOf(`/${name}`)).toBe(`usage: /${name} <file>`);
      expect(errorOf(`/${name}    `)).toBe(`usage: /${name} <file>`);
      expect(errorOf(`/${name} a\u001bb`)).toMatch(/control character \\x1b/);
      expect(errorOf(`/${name} evil\u202etxt.json`)).toMatch(/\\u202e/);
      expect(errorOf(`/${name} ${'f'.repeat(5000)}`)).toMatch(/too long/);
    });
  }
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

/** A well-formed invite code (key, nick "alice", one address). */
const INVITE = encodeInvite({
  identity: Buffer.alloc(32, 1),
  nick: 'alice',
  addrs: [{ address: '127.0.0.1', port: 9000 }],
});

describe('completeCommand', () => {
  const nicks = ['alice', 'Albert', 'bob'];

  it('completes command names', () => {
    expect(completeCommand('/', nicks)).toHaveLength(COMMANDS.length);
    expect(completeCommand('/h', nicks)).toEqual(['/help ']);
    expect(completeCommand('/help m', nicks)).toEqual(['/help msg']);
    expect(completeCommand('/wait a', nicks)).toEqual(['/wait Albert ', '/wait alice ']);
    expect(completeCommand('/l', nicks)).toEqual(['/list', '/load ']);
    expect(completeCommand('/M', nicks)).toEqual(['/msg ']);
    expect(completeCommand('/zz', nicks)).toEqual([]);
  });

  it('completes a nick where a command takes one', () => {
    expect(completeCommand('/msg al', nicks)).toEqual(['/msg Albert ', '/msg alice ']);
    expect(completeCommand('/msg b', nicks)).toEqual(['/msg bob ']);
    expect(completeCommand('/whois ', nicks)).toEqual([
      '/whois Albert',
      '/whois alice',
      '/whois bob',
    ]);
    expect(completeCommand('/block bo', nicks)).toEqual(['/block bob']);
    expect(completeCommand('/MSG bo', nicks)).toEqual(['/msg bob ']);
  });

  it('does not complete other arguments', () => {
    expect(completeCommand('/msg bob hel', nicks)).toEqual([]);
    expect(completeCommand('/add al', nicks)).toEqual([]);
    expect(completeCommand('/save al', nicks)).toEqual([]);
    expect(completeCommand('/nope al', nicks)).toEqual([]);
  });

  it('completes the last word of a message as a nick', () => {
    expect(completeCommand('hi bo', nicks)).toEqual(['hi bob']);
    expect(completeCommand('AL', nicks)).toEqual(['Albert', 'alice']);
    expect(completeCommand('hi ', nicks)).toEqual([]);
    expect(completeCommand('', nicks)).toEqual([]);
  });
});
