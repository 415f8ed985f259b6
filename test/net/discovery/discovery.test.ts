import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Addr } from '../../../source/net/core/address.js';
import type { NatMapping } from '../../../source/net/core/events.js';
import { generateIdentity } from '../../../source/net/crypto/identity.js';
import {
  Discovery,
  type DiscoveryHost,
  REFRESH_INTERVAL,
  REPUBLISH_INTERVAL,
} from '../../../source/net/discovery/discovery.js';
import { DIALS_PER_KEY_PER_MINUTE } from '../../../source/net/discovery/policy.js';
import type { DiscoveryRecord } from '../../../source/net/discovery/record.js';
import { FakeLan } from './fakelan.js';

/** A socket stand-in: its record can change, and it notes every dial. */
function fakeHost(address: string, port: number) {
  const identity = generateIdentity();
  const dials: { nick: string; key: Buffer; addrs: Addr[]; nat: NatMapping; relayed?: Addr[] }[] =
    [];
  const state = {
    record: {
      nick: 'n',
      nat: 'unknown',
      candidates: [{ kind: 'host', address, port }],
    } as DiscoveryRecord,
    connected: false,
  };
  const host: DiscoveryHost = {
    identity,
    record: () => state.record,
    lanEndpoint: () => ({ port, ipv4: [address] }),
    local: () => ({ addresses: [address] }),
    connected: () => state.connected,
    dial: (nick, key, addrs, nat, relayed) => dials.push({ nick, key, addrs, nat, relayed }),
    epochNow: () => Date.now(),
    now: () => Date.now(),
  };
  return { host, identity, dials, state };
}

async function lanNode(lan: FakeLan, address: string, port: number) {
  const h = fakeHost(address, port);
  const d = await Discovery.start(
    h.host,
    { dht: undefined, mdns: true },
    { dhtHost: '0.0.0.0', mdnsTransport: () => lan.join(address) },
  );
  return { ...h, d };
}

describe('Discovery over an in-memory LAN (mDNS only, virtual clock)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_764_000_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('finds a key on the LAN and dials the addresses its record gives, under the chosen name', async () => {
    const lan = new FakeLan();
    const bob = await lanNode(lan, '192.168.7.2', 41000);
    const alice = await lanNode(lan, '192.168.7.3', 41001);
    alice.d.find('bobby', bob.identity.publicKey);
    expect(alice.dials).toHaveLength(1);
    expect(alice.dials[0]).toMatchObject({
      nick: 'bobby',
      addrs: [{ address: '192.168.7.2', port: 41000 }],
      nat: 'unknown',
    });
    expect(alice.dials[0]!.key.equals(bob.identity.publicKey)).toBe(true);
    expect(alice.d.stats()).toMatchObject({
      mdns: true,
      dht: false,
      accepted: 1,
      dials: { lan: 1, dht: 0 },
    });
    expect(alice.d.stats().lookingFor).toEqual({ bobby: 'lan' });
    await Promise.all([alice.d.close(), bob.d.close()]);
  });

  it("dials a record's relayed candidate as relayed (after the direct ones), not as a direct address", async () => {
    const lan = new FakeLan();
    const bob = await lanNode(lan, '192.168.7.2', 41000);
    bob.state.record = {
      ...bob.state.record,
      candidates: [
        { kind: 'host', address: '192.168.7.2', port: 41000 },
        { kind: 'relayed', address: '192.168.7.9', port: 49152 },
      ],
    };
    bob.d.refresh();
    const alice = await lanNode(lan, '192.168.7.3', 41001);
    alice.d.find('bobby', bob.identity.publicKey);
    expect(alice.dials).toHaveLength(1);
    expect(alice.dials[0]).toMatchObject({
      addrs: [{ address: '192.168.7.2', port: 41000 }],
      relayed: [{ address: '192.168.7.9', port: 49152 }],
    });
    await Promise.all([alice.d.close(), bob.d.close()]);
  });

  it('republishes when the record changes, and the peer redials the new address (bob moved)', async () => {
    const lan = new FakeLan();
    const bob = await lanNode(lan, '192.168.7.2', 41000);
    const alice = await lanNode(lan, '192.168.7.3', 41001);
    alice.d.find('bob', bob.identity.publicKey);
    expect(bob.d.stats().versions).toBe(1);
    // Nothing changed: the refresh timer signs nothing new, and the same record is not redialled.
    await vi.advanceTimersByTimeAsync(REFRESH_INTERVAL);
    expect(bob.d.stats().versions).toBe(1);
    expect(alice.dials).toHaveLength(1);
    bob.state.record = {
      ...bob.state.record,
      candidates: [{ kind: 'host', address: '192.168.7.2', port: 42000 }],
    };
    alice.state.connected = true; // even while connected, a fresh record redials (the old path may be dead)
    await vi.advanceTimersByTimeAsync(REFRESH_INTERVAL);
    expect(bob.d.stats().versions).toBe(2);
    expect(alice.dials.map((d) => d.addrs[0]!.port)).toEqual([41000, 42000]);
    await Promise.all([alice.d.close(), bob.d.close()]);
  });

  it('republishes periodically even when nothing changed (BEP 44 items expire)', async () => {
    const lan = new FakeLan();
    const bob = await lanNode(lan, '192.168.7.2', 41000);
    const first = bob.d.stats().announces;
    await vi.advanceTimersByTimeAsync(REPUBLISH_INTERVAL - REFRESH_INTERVAL);
    expect(bob.d.stats()).toMatchObject({ versions: 1, announces: first });
    await vi.advanceTimersByTimeAsync(2 * REFRESH_INTERVAL);
    expect(bob.d.stats()).toMatchObject({ versions: 2, announces: first + 1 });
    await bob.d.close();
  });

  it('a key that changes its record every refresh gets a bounded number of dials', async () => {
    const lan = new FakeLan();
    const bob = await lanNode(lan, '192.168.7.2', 41000);
    const alice = await lanNode(lan, '192.168.7.3', 41001);
    alice.d.find('bob', bob.identity.publicKey);
    for (let i = 0; i < 120; i++) {
      bob.state.record = {
        ...bob.state.record,
        candidates: [{ kind: 'host', address: '192.168.7.2', port: 1000 + i }],
      };
      await vi.advanceTimersByTimeAsync(REFRESH_INTERVAL);
    }
    // 10 minutes of a new record every 5 s: 120 fresh records, at most burst + rate x 10 dials.
    expect(alice.d.stats().accepted).toBeGreaterThanOrEqual(120);
    expect(alice.dials.length).toBeLessThanOrEqual(2 + DIALS_PER_KEY_PER_MINUTE * 10);
    expect(alice.d.stats().rejected['rate-limited']).toBeGreaterThan(0);
    await Promise.all([alice.d.close(), bob.d.close()]);
  });

  it('retries a key not found after 2 s, then backs off to one lookup a minute', async () => {
    const lan = new FakeLan();
    const alice = await lanNode(lan, '192.168.7.3', 41001);
    const transport = lan.members[0]!;
    const queries = () => transport.sent.filter((p) => p.kind === 'query').length;
    alice.d.find('ghost', generateIdentity().publicKey);
    const at: number[] = [];
    for (let s = 0; s <= 600; s++) {
      const before = queries();
      if (s > 0) await vi.advanceTimersByTimeAsync(1000);
      if (queries() > before || s === 0) at.push(s);
    }
    expect(at.slice(0, 6)).toEqual([0, 2, 4, 8, 16, 32]);
    // Then at most one a minute: 10 minutes cost ~15 queries, not hundreds.
    expect(at.length).toBeLessThanOrEqual(6 + 10);
    await alice.d.close();
  });

  it('a name looks for one key: giving it another replaces the first', async () => {
    const lan = new FakeLan();
    const bob = await lanNode(lan, '192.168.7.2', 41000);
    const carol = await lanNode(lan, '192.168.7.4', 41002);
    const alice = await lanNode(lan, '192.168.7.3', 41001);
    alice.d.find('friend', generateIdentity().publicKey); // nobody has this key
    expect(alice.d.stats().lookingFor).toEqual({ friend: undefined });
    alice.d.find('friend', bob.identity.publicKey);
    expect(alice.dials.map((d) => d.addrs[0]!.port)).toEqual([41000]);
    alice.d.find('friend', carol.identity.publicKey);
    bob.state.record = {
      ...bob.state.record,
      candidates: [{ kind: 'host', address: '192.168.7.2', port: 9 }],
    };
    await vi.advanceTimersByTimeAsync(REFRESH_INTERVAL);
    // Bob's new record is no longer wanted; only Carol's was dialled since.
    expect(alice.dials.map((d) => d.addrs[0]!.port)).toEqual([41000, 41002]);
    expect(alice.d.forget('friend')).toBe(true);
    expect(alice.d.forget('friend')).toBe(false);
    await Promise.all([alice.d.close(), bob.d.close(), carol.d.close()]);
  });

  it('forgets a name: no more dials for that key', async () => {
    const lan = new FakeLan();
    const bob = await lanNode(lan, '192.168.7.2', 41000);
    const alice = await lanNode(lan, '192.168.7.3', 41001);
    alice.d.find('bob', bob.identity.publicKey);
    expect(alice.d.forget('bob')).toBe(true);
    expect(alice.d.forget('bob')).toBe(false);
    bob.state.record = {
      ...bob.state.record,
      candidates: [{ kind: 'host', address: '192.168.7.2', port: 9 }],
    };
    await vi.advanceTimersByTimeAsync(REFRESH_INTERVAL);
    expect(alice.dials).toHaveLength(1);
    await Promise.all([alice.d.close(), bob.d.close()]);
  });
});
