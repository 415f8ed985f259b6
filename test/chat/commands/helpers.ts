import { expect, it } from 'vitest';
import { parseCommand } from '../../../source/chat/commands/index.js';
import { encodeInvite } from '../../../source/net/nat/invite.js';

/** Shared by the per-command parser tests (one file per command, as in source/chat/commands/). */

/** Any C0/C1 control or DEL (checked by code, independently of the code under test). */
export function hasControl(text: string): boolean {
  return [...text].some((ch) => {
    const c = ch.codePointAt(0) ?? 0;
    return c <= 0x1f || (c >= 0x7f && c <= 0x9f);
  });
}

export const FP = 'rhpvxvglnj77cxqvsswne6u3qob37r5fjkzxqh6fcnytl4mjweza';

export function errorOf(line: string): string {
  const a = parseCommand(line);
  if (a.type !== 'error')
    throw new Error(`expected an error for ${JSON.stringify(line)}, got ${a.type}`);
  return a.message;
}

/** A well-formed invite code (key, nick "alice", one address). */
export const INVITE = encodeInvite({
  identity: Buffer.alloc(32, 1),
  nick: 'alice',
  addrs: [{ address: '127.0.0.1', port: 9000 }],
});

/** A command without arguments: any case and spacing; an argument is a usage error. */
export function itTakesNoArguments(name: 'list' | 'quit' | 'clear'): void {
  it(`/${name}`, () => {
    expect(parseCommand(`/${name}`)).toEqual({ type: name });
    expect(parseCommand(`  /${name}  `)).toEqual({ type: name });
    expect(parseCommand(`/${name.toUpperCase()}`)).toEqual({ type: name });
    expect(errorOf(`/${name} extra`)).toBe(`usage: /${name}`);
  });
}

/** A command taking exactly one nick. */
export function itTakesANick(name: 'remove' | 'whois' | 'trust'): void {
  it(`/${name} <nick>`, () => {
    expect(parseCommand(`/${name} bob`)).toEqual({ type: name, nick: 'bob' });
    expect(errorOf(`/${name}`)).toBe(`usage: /${name} <nick>`);
    expect(errorOf(`/${name} bob carol`)).toBe(`usage: /${name} <nick>`);
    expect(errorOf(`/${name} b!b`)).toMatch(/bad nickname/);
    expect(errorOf(`/${name} ${FP}`)).toMatch(/bad nickname/);
    expect(errorOf(`/${name} b\u009bb`)).toMatch(/bad nickname "b\\x9bb"/);
  });
}

/** A command taking a nick or a fingerprint. */
export function itTakesANickOrFingerprint(name: 'block' | 'unblock'): void {
  it(`/${name} <nick|fingerprint>`, () => {
    expect(parseCommand(`/${name} bob`)).toEqual({ type: name, nick: 'bob' });
    expect(parseCommand(`/${name} ${FP}`)).toEqual({ type: name, nick: FP });
    expect(errorOf(`/${name}`)).toBe(`usage: /${name} <nick|fingerprint>`);
    expect(errorOf(`/${name} bob carol`)).toBe(`usage: /${name} <nick|fingerprint>`);
    expect(errorOf(`/${name} b!b`)).toMatch(/bad nickname/);
  });
}

/** A command taking a file name (the rest of the line). */
export function itTakesAFile(name: 'save' | 'load'): void {
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
