import { describe, expect, it } from 'vitest';
import { FakeNetwork, type NatKind } from '../../support/fakenet.js';
import { FakeRelay } from '../../support/fakerelay.js';
import { SimPeer } from '../../support/simnode.js';

const RELAY_IP = '198.51.100.1';

/** A node behind its own NAT (public address 203.0.113.n), optionally with an allocation on `relay`. */
function natted(
  net: FakeNetwork,
  nick: string,
  n: number,
  kind: NatKind,
  relay?: FakeRelay,
  password = 'secret',
): SimPeer {
  const p = new SimPeer(net, { address: `10.0.${n}.2`, port: 4000 + n }, { nick }, net.rng, {
    kind,
    publicAddress: `203.0.113.${n}`,
  });
  if (relay) {
    p.endpoint.startRelay([{ server: relay.addr, username: relay.username, password }], net.now);
    net.poke(p.addr);
  }
  return p;
}

describe('relay allocation (core/relay.ts)', () => {
  it('allocates on the shared socket and reports it in stats', () => {
    const net = new FakeNetwork({ seed: 1, conditions: { delay: 10 } });
    const relay = new FakeRelay(net, RELAY_IP);
    const alice = natted(net, 'alice', 1, 'port-restricted', relay);
    net.run(500);
    const st = alice.endpoint.relayStats();
    expect(st.state).toBe('allocated');
    expect(st.server).toEqual(relay.addr);
    expect(st.relayed?.address).toBe(RELAY_IP);
    expect(alice.endpoint.relayedAddress()).toEqual(st.relayed);
    expect(alice.events).toContainEqual({
      type: 'relay',
      state: 'allocated',
      relayed: st.relayed,
      server: relay.addr,
    });
    // The relay's own IP is permitted at once (peers on the same relay come from it).
    const [alloc] = relay.list();
    expect(alloc?.client.address).toBe('203.0.113.1');
    expect([...(alloc?.permissions ?? [])]).toEqual([RELAY_IP]);
    // The TURN traffic is counted as STUN, not as drops.
    const s = alice.endpoint.stats;
    expect(Object.values(s.dropped).reduce((a, b) => a + b, 0)).toBe(0);
    expect(s.stun).toBeGreaterThanOrEqual(3); // 401, Allocate success, CreatePermission success
  });

  it('wrong credentials: the allocation fails with a reason, counted, no crash', () => {
    const net = new FakeNetwork({ seed: 2, conditions: { delay: 10 } });
    const relay = new FakeRelay(net, RELAY_IP);
    const alice = natted(net, 'alice', 1, 'port-restricted', relay, 'wrong');
    net.run(60_000);
    expect(alice.endpoint.relayStats().state).toBe('failed');
    expect(alice.endpoint.relayedAddress()).toBeUndefined();
    const err = alice.errors().find((e) => e.type === 'error' && e.code === 'relay');
    expect(err?.type === 'error' && err.message).toMatch(/allocate failed \(401\)/);
  });
});
