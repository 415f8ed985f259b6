import { describe, expect, it } from 'vitest';
import {
  discoveryStartLine,
  discoverySummary,
  foundBy,
  lookingUp,
  relaySummary,
  unconfirmedNote,
} from '../../source/chat/netformat.js';
import { discoveryStats, relayInfo as relay } from '../ui/fixtures.js';

describe('relaySummary', () => {
  it('names the relay, the relayed address and the bytes relayed', () => {
    expect(relaySummary(relay())).toBe(
      'relay on 198.18.0.9:3478: allocated, relayed address 198.18.0.9:49152, relayed 2.5 kB out, 120 B in',
    );
    expect(relaySummary(relay({ dropped: 3 }))).toMatch(/, 3 dropped$/);
    expect(
      relaySummary(relay({ dropped: 3, droppedBy: { noPermission: 2, unknownChannel: 1 } })),
    ).toMatch(/, 3 dropped \(2 from a peer without permission, 1 on an unknown channel\)$/);
    expect(relaySummary(relay(), false)).toBe(
      'relay on 198.18.0.9:3478: allocated, relayed address 198.18.0.9:49152',
    );
  });

  it('says allocating and failed; nothing without a relay', () => {
    expect(relaySummary(relay({ state: 'allocating', relayed: undefined }))).toBe(
      'relay on 198.18.0.9:3478: allocating',
    );
    expect(relaySummary(relay({ state: 'failed' }))).toMatch(/^relay on .*: failed/);
    expect(relaySummary(undefined)).toBeUndefined();
    expect(relaySummary(relay({ state: 'none' }))).toBeUndefined();
  });
});

describe('discovery lines', () => {
  it('the start line says what is on, what is published and how to turn it off', () => {
    expect(discoveryStartLine(undefined)).toMatch(/^finding peers by key is off/);
    expect(discoveryStartLine(discoveryStats())).toMatch(
      /Mainline DHT .*--no-dht.*mDNS.*--no-mdns/,
    );
    expect(discoveryStartLine(discoveryStats({ dht: false }))).not.toMatch(/DHT/);
  });

  it('the pane row counts publishes, lookups, accepted and rejected by reason', () => {
    const row = discoverySummary(
      discoveryStats({
        rejected: { ...discoveryStats().rejected, stale: 2, signature: 1 },
        lookingFor: { bob: undefined, carol: 'dht' },
      }),
    );
    expect(row).toBe(
      'discovery (DHT, mDNS):  looking up bob  3 published  4 lookups  1 records accepted  3 rejected (1 signature, 2 stale)  dials 1 DHT, 0 LAN, 0 broadcast',
    );
    expect(discoverySummary(undefined)).toBeUndefined();
  });

  it('lookingUp lists only the names no record answered yet', () => {
    expect(
      lookingUp(discoveryStats({ lookingFor: { z: undefined, a: undefined, b: 'lan' } })),
    ).toEqual(['a', 'z']);
  });
});

describe('foundBy', () => {
  const d = discoveryStats({ lookingFor: { bob: 'dht', dan: 'lan', eve: 'broadcast' } });
  it('discovery first, then an introduction, then how the user added it', () => {
    expect(foundBy({ nick: 'bob' }, d, 'key')).toBe('DHT');
    expect(foundBy({ nick: 'dan' }, d, 'key')).toBe('LAN');
    expect(foundBy({ nick: 'eve' }, d, undefined)).toBe('LAN broadcast');
    expect(foundBy({ nick: 'carol', introducedBy: 'bob' }, d, undefined)).toBe('introduction');
    expect(foundBy({ nick: 'carol' }, d, 'invite')).toBe('invite');
    expect(foundBy({ nick: 'carol' }, undefined, 'address')).toBe('address');
    expect(foundBy({ nick: 'stranger' }, d, undefined)).toBeUndefined();
  });
});

describe('unconfirmedNote (issue 17 item 7)', () => {
  it('names where the unconfirmed peer answered and how to pin it; nothing for any other peer', () => {
    expect(unconfirmedNote({ nick: 'bob', unconfirmed: { from: '198.51.100.7:41234' } })).toBe(
      'unconfirmed: answered from 198.51.100.7:41234, /trust bob to pin',
    );
    expect(unconfirmedNote({ nick: 'bob' })).toBeUndefined();
  });
});
