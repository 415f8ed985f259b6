import { describe, expect, it } from 'vitest';
import { addrKey, normalizeIp, parseHostPort, sameAddr } from '../../../source/net/core/address.js';
import { UsageError } from '../../../source/net/core/errors.js';

describe('parseHostPort', () => {
  it.each([
    ['127.0.0.1:9000', '127.0.0.1', 9000],
    ['example.com:1', 'example.com', 1],
    ['[::1]:9002', '::1', 9002],
    ['localhost:65535', 'localhost', 65535],
    ['[fe80::1:2]:443', 'fe80::1:2', 443],
    ['  10.0.0.1:80  ', '10.0.0.1', 80],
    ['my-host.example.org:00080', 'my-host.example.org', 80],
  ])('accepts %j', (text, host, port) => {
    expect(parseHostPort(text)).toEqual({ host, port });
  });

  it.each([
    ['missing port', 'example.com'],
    ['empty port', 'example.com:'],
    ['port 0', 'example.com:0'],
    ['port 65536', 'example.com:65536'],
    ['six-digit port', 'example.com:100000'],
    ['negative port', 'example.com:-1'],
    ['unbracketed IPv6', '::1:80'],
    ['unbracketed IPv6 without port', '::1'],
    ['bracketed IPv4', '[1.2.3.4]:5'],
    ['bracketed name', '[localhost]:5'],
    ['bracket without port', '[::1]'],
    ['bracket without close', '[::1:80'],
    ['empty', ''],
    ['only spaces', '   '],
    ['only a port', ':80'],
    ['space in host', 'exa mple.com:80'],
    ['space before port', 'example.com: 80'],
    ['space inside port', 'example.com:8 0'],
    ['non-numeric port', 'host:abc'],
    ['hex port', 'host:0x50'],
    ['fractional port', 'host:80.5'],
    ['scheme', 'udp://host:80'],
    ['IPv4 octet over 255', '999.1.1.1:80'],
    ['IPv4 with three parts', '10.0.1:80'],
  ])('rejects %s (%j) with UsageError', (_label, text) => {
    expect(() => parseHostPort(text)).toThrow(UsageError);
  });

  it('says a mistyped IPv4 address is one, instead of looking it up as a name', () => {
    expect(() => parseHostPort('999.1.1.1:47109')).toThrow(
      'bad address "999.1.1.1:47109": "999.1.1.1" is not an IPv4 address',
    );
    // A name with digits in it is still a name.
    expect(parseHostPort('10.example:1')).toEqual({ host: '10.example', port: 1 });
  });
});

describe('normalizeIp', () => {
  it('maps IPv4-mapped IPv6 addresses to plain IPv4', () => {
    expect(normalizeIp('::ffff:1.2.3.4')).toBe('1.2.3.4');
    expect(normalizeIp('::FFFF:192.168.0.1')).toBe('192.168.0.1');
  });

  it('leaves IPv4 alone and lowercases IPv6', () => {
    expect(normalizeIp('10.1.2.3')).toBe('10.1.2.3');
    expect(normalizeIp('2001:DB8::AbCd')).toBe('2001:db8::abcd');
    expect(normalizeIp('::1')).toBe('::1');
    // Not a mapped v4 address: only the ::ffff: prefix with a dotted quad qualifies.
    expect(normalizeIp('::ffff:abcd')).toBe('::ffff:abcd');
  });

  it('keeps the zone of a link-local address (it cannot be reached without it), drops others', () => {
    expect(normalizeIp('fe80::1%eth0')).toBe('fe80::1%eth0');
    expect(normalizeIp('FE80::A%En0')).toBe('fe80::a%En0');
    expect(normalizeIp('fe80::1%')).toBe('fe80::1');
    expect(normalizeIp('2001:db8::1%eth0')).toBe('2001:db8::1');
    expect(parseHostPort('[fe80::1%eth0]:9000')).toEqual({ host: 'fe80::1%eth0', port: 9000 });
    expect(addrKey({ address: normalizeIp('fe80::1%eth0'), port: 9000 })).toBe(
      '[fe80::1%eth0]:9000',
    );
  });

  it('is idempotent', () => {
    for (const ip of ['::ffff:1.2.3.4', 'FE80::1%eth0', '2001:DB8::1', '8.8.8.8']) {
      expect(normalizeIp(normalizeIp(ip))).toBe(normalizeIp(ip));
    }
  });
});

describe('addrKey', () => {
  it('brackets IPv6 and not IPv4', () => {
    expect(addrKey({ address: '::1', port: 9002 })).toBe('[::1]:9002');
    expect(addrKey({ address: 'fe80::1', port: 1 })).toBe('[fe80::1]:1');
    expect(addrKey({ address: '127.0.0.1', port: 9000 })).toBe('127.0.0.1:9000');
  });

  it('gives one key per peer once addresses are normalised', () => {
    const a = { address: normalizeIp('::ffff:1.2.3.4'), port: 5 };
    const b = { address: normalizeIp('1.2.3.4'), port: 5 };
    expect(addrKey(a)).toBe(addrKey(b));
    expect(sameAddr(a, b)).toBe(true);
    expect(sameAddr(a, { ...b, port: 6 })).toBe(false);
  });

  it('round-trips through parseHostPort', () => {
    for (const a of [
      { address: '::1', port: 9002 },
      { address: '10.0.0.1', port: 65535 },
      { address: '2001:db8::1', port: 1 },
    ]) {
      const parsed = parseHostPort(addrKey(a));
      expect({ address: parsed.host, port: parsed.port }).toEqual(a);
    }
  });
});
