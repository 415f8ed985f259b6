import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../../source/chat/commands/index.js';
import { errorOf } from './helpers.js';

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
