import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../../source/chat/commands/index.js';
import { errorOf, FP, INVITE } from './helpers.js';

describe('/add', () => {
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
    for (const line of ['/add', '/add bob', `/add bob 1.2.3.4:5 ${FP} extra`]) {
      expect(errorOf(line)).toBe('usage: /add <nick> <host:port|code|fingerprint> [fingerprint]');
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

  it('a nick with a space is named as the problem, not the address after it', () => {
    expect(errorOf('/add bad nick! 1.2.3.4:5')).toBe(
      'a nickname is one word: "bad nick!" has a space',
    );
    expect(errorOf(`/add my friend ${INVITE}`)).toMatch(/one word: "my friend"/);
    // Three words whose third is no address either: the second is judged as one.
    expect(errorOf('/add bob nowhere nothing')).toMatch(/bad address|host:port/);
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

describe('/add by key', () => {
  it('takes a nick and a fingerprint alone (found by the DHT or on the LAN)', () => {
    expect(parseCommand(`/add bob ${FP}`)).toEqual({ type: 'add', nick: 'bob', fingerprint: FP });
    // Upper case and the grouped form (dashes) are the same key.
    expect(parseCommand(`/add bob ${FP.toUpperCase()}`)).toMatchObject({ fingerprint: FP });
    const grouped = FP.match(/.{1,4}/g)!.join('-');
    expect(parseCommand(`/add bob ${grouped}`)).toMatchObject({ fingerprint: FP });
  });

  it('takes an address and the key it must prove', () => {
    expect(parseCommand(`/add bob 127.0.0.1:9000 ${FP}`)).toEqual({
      type: 'add',
      nick: 'bob',
      address: '127.0.0.1:9000',
      fingerprint: FP,
    });
    expect(parseCommand(`/add bob ${INVITE} ${FP}`)).toMatchObject({ address: INVITE });
  });

  it('a bad fingerprint is a clear message naming it, not an address error', () => {
    expect(errorOf(`/add bob ${FP.slice(0, 51)}`)).toMatch(
      /^bad fingerprint ".*": a fingerprint has 52 base32 characters/,
    );
    expect(errorOf(`/add bob ${FP.slice(0, 51)}1`)).toMatch(/^bad fingerprint .*"1" is not/);
    expect(errorOf(`/add bob 127.0.0.1:9000 nope`)).toMatch(/^bad fingerprint "nope"/);
    expect(errorOf(`/add bob ${FP} ${FP}`)).toMatch(/^bad address/);
    // Something that is neither says all three forms.
    expect(errorOf('/add bob nowhere')).toMatch(
      /host:port, an invite code or a 52-character fingerprint/,
    );
  });
});
