import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../source/net/core/errors.js';
import { parsePeerEntry } from '../../../source/net/core/peers/entry.js';
import {
  fingerprint,
  generateIdentity,
  parseFingerprint,
} from '../../../source/net/crypto/identity.js';
import { recordFromInvite } from '../../../source/net/discovery/discovery.js';
import { discoverySettings, PUBLIC_ROUTERS } from '../../../source/net/discovery/settings.js';
import { encodeInvite } from '../../../source/net/nat/invite.js';

describe('discoverySettings', () => {
  it('is off by default, like STUN', () => {
    expect(discoverySettings({}, {})).toEqual({ dht: undefined, mdns: false });
    expect(discoverySettings({ dht: false, mdns: false }, {})).toEqual({
      dht: undefined,
      mdns: false,
    });
  });

  it('dht: true means the public routers, publishing on; SRMUDP_DHT=none turns it off or names others', () => {
    expect(discoverySettings({ dht: true }, {}).dht).toEqual({
      bootstrap: [...PUBLIC_ROUTERS],
      publish: true,
    });
    expect(discoverySettings({ dht: true }, { SRMUDP_DHT: 'none' }).dht).toBeUndefined();
    expect(
      discoverySettings({ dht: { publish: false } }, { SRMUDP_DHT: ' NONE ' }).dht,
    ).toBeUndefined();
    expect(
      discoverySettings({ dht: true }, { SRMUDP_DHT: '10.0.0.1:6881, 10.0.0.2:6881' }).dht,
    ).toEqual({
      bootstrap: ['10.0.0.1:6881', '10.0.0.2:6881'],
      publish: true,
    });
  });

  it('an explicit bootstrap (a private DHT) is kept even with SRMUDP_DHT=none', () => {
    const dht = { bootstrap: ['127.0.0.1:7000'], publish: false };
    expect(discoverySettings({ dht }, { SRMUDP_DHT: 'none' }).dht).toEqual(dht);
  });

  it('SRMUDP_MDNS=off wins over mdns: true', () => {
    expect(discoverySettings({ mdns: true }, {}).mdns).toBe(true);
    expect(discoverySettings({ mdns: true }, { SRMUDP_MDNS: 'off' }).mdns).toBe(false);
  });

  it('bad options are UsageErrors', () => {
    const bad: unknown[] = [
      { bootstrap: [] },
      { bootstrap: ['nohost'] },
      { bootstrap: ['[::1]:6881'] },
      { bootstrap: [42] },
      { publish: 'yes' },
      'on',
    ];
    for (const dht of bad)
      expect(() => discoverySettings({ dht: dht as never }, {})).toThrow(UsageError);
  });
});

describe('addPeers entries by key (entry.ts)', () => {
  const fp = fingerprint(generateIdentity().publicKey);

  it('a bare fingerprint string is a key, not a host', () => {
    const e = parsePeerEntry('bob', fp, { discovery: true });
    expect(e.byKey).toBe(true);
    expect(fingerprint(e.key!)).toBe(fp);
    expect(e.hosts).toEqual([]);
    // Grouped or upper-cased as people copy it.
    const grouped = fp.toUpperCase().replace(/(.{4})/g, '$1-');
    expect(parsePeerEntry('bob', grouped, { discovery: true }).byKey).toBe(true);
  });

  it('without discovery a key alone is a UsageError that says what is missing', () => {
    expect(() => parsePeerEntry('bob', fp)).toThrow(/needs discovery/);
    expect(() => parsePeerEntry('bob', { fingerprint: fp })).toThrow(/needs discovery/);
  });

  it('a key-only invite code is a key: looked up with discovery, a UsageError without', () => {
    const key = parseFingerprint(fp);
    const code = encodeInvite({ identity: key, nick: 'bob', addrs: [] });
    const e = parsePeerEntry('bob', code, { discovery: true });
    expect(e.byKey).toBe(true);
    expect(e.key!.equals(key)).toBe(true);
    expect(() => parsePeerEntry('bob', code)).toThrow(/key-only invite code\) needs discovery/);
    // With the fingerprint too, they must agree.
    const other = fingerprint(generateIdentity().publicKey);
    expect(() => parsePeerEntry('bob', { address: code, fingerprint: other })).toThrow(UsageError);
  });

  it('with an address as well, it is not by key', () => {
    expect(
      parsePeerEntry('bob', { address: '127.0.0.1:5', fingerprint: fp }, { discovery: true }).byKey,
    ).toBe(false);
    expect(() => parsePeerEntry('bob', 'nonsense', { discovery: true })).toThrow(UsageError);
    expect(() => parsePeerEntry('bob', { fingerprint: 'short' }, { discovery: true })).toThrow(
      UsageError,
    );
  });
});

describe('recordFromInvite', () => {
  it('marks the first address reflexive only when STUN gave one', () => {
    const invite = {
      identity: generateIdentity().publicKey,
      nick: 'al',
      addrs: [
        { address: '203.0.113.1', port: 1 },
        { address: '192.168.0.2', port: 2 },
      ],
      nat: 'endpoint-independent' as const,
    };
    expect(recordFromInvite(invite, true).candidates.map((c) => c.kind)).toEqual([
      'reflexive',
      'host',
    ]);
    expect(recordFromInvite(invite, false).candidates.map((c) => c.kind)).toEqual(['host', 'host']);
    expect(recordFromInvite({ ...invite, nat: undefined }, false).nat).toBe('unknown');
    const relayed = { ...invite, relayed: [{ address: '198.18.0.2', port: 49152 }] };
    expect(recordFromInvite(relayed, true).candidates.map((c) => c.kind)).toEqual([
      'reflexive',
      'host',
      'relayed',
    ]);
  });
});
