import { describe, expect, it } from 'vitest';
import { generateIdentity } from '../../../source/net/crypto/identity.js';
import { hostOf, type SocketSide } from '../../../source/net/discovery/attach.js';
import { CONTROL_STREAM, encodeIntroduction } from '../../../source/net/nat/introduce.js';
import { LEARNED_DIALS_PER_MINUTE } from '../../../source/net/nat/introductions.js';
import { PacketType } from '../../../source/net/wire/packet.js';
import { FakeNetwork } from '../../support/fakenet.js';
import { SimPeer } from '../../support/simnode.js';

/**
 * Security issue item 5: "a node-wide budget for all traffic that an
 * introduction (or, later, a DHT record) triggers, across all peers". A
 * record is signed by a key the user asked for, but whoever holds that key
 * chooses its addresses; found addresses are dialed like given ones (a
 * record is how a friend who moved is found again), so every INIT to one
 * spends the same node-wide budget as an introduced address (burst 64, then
 * LEARNED_DIALS_PER_MINUTE), whatever mix of records and introductions aims
 * at a victim. Records reach the endpoint through the socket's discovery
 * host (discovery/attach.ts hostOf), called here as discovery calls it.
 */

const ALICE = { address: '203.0.113.1', port: 1000 };
const VICTIM = '203.0.113.99';
const BURST = 64;

function aliceWithDiscovery(seed: number) {
  const net = new FakeNetwork({ seed });
  const alice = new SimPeer(net, ALICE, { nick: 'alice' }, net.rng);
  const side = {
    endpoint: alice.endpoint,
    pump: () => net.poke(ALICE),
    isClosed: () => false,
    now: () => net.now,
  } as unknown as SocketSide;
  const host = hostOf(side);
  let initsToVictim = 0;
  net.tap = (d) => {
    if (d.to.address === VICTIM && d.data[1] === PacketType.Init) initsToVictim++;
    return undefined;
  };
  return { net, alice, host, inits: () => initsToVictim };
}

describe('what DHT records make us send counts against the node-wide third-party budget', () => {
  it('records of 40 looked-up keys all naming a victim: INITs there stay within the budget', () => {
    const { net, alice, host, inits } = aliceWithDiscovery(160);
    const keys = Array.from({ length: 40 }, () => generateIdentity().publicKey);
    const start = net.now;
    // Every key's record, fresh every 15 s for two minutes (the policy's own
    // per-key and per-node re-dial limits would let through far fewer; this
    // asks what the dialer does with the ones it lets through).
    for (let round = 0; round < 8; round++) {
      for (const [i, key] of keys.entries()) {
        const addrs = [0, 1, 2, 3].map((p) => ({ address: VICTIM, port: 9000 + 4 * i + p }));
        host.dial(`k${i}`, key, addrs, 'unknown', []);
      }
      net.run(15_000);
    }
    const minutes = (net.now - start) / 60_000;
    expect(inits()).toBeGreaterThan(0);
    expect(inits()).toBeLessThanOrEqual(Math.ceil(BURST + LEARNED_DIALS_PER_MINUTE * minutes));
    expect(alice.endpoint.introductionStats().refusedDials).toBeGreaterThan(0);
    // The budget spent (one more round of records, at once), what the user
    // names is still dialed at once, even an address a record named first
    // (k0's): it is the user's now.
    const refused = alice.endpoint.introductionStats().refusedDials;
    for (const [i, key] of keys.entries()) {
      const addrs = [0, 1, 2, 3].map((p) => ({ address: VICTIM, port: 9000 + 4 * i + p }));
      host.dial(`k${i}`, key, addrs, 'unknown', []);
    }
    expect(alice.endpoint.introductionStats().refusedDials).toBeGreaterThan(refused);
    const mine = { address: VICTIM, port: 9000 };
    let toMine = 0;
    net.tap = (d) => {
      if (d.to.port === mine.port && d.data[1] === PacketType.Init) toMine++;
      return undefined;
    };
    alice.endpoint.addPeer('k0', { addrs: [mine], key: keys[0] }, net.now);
    net.poke(ALICE);
    net.run(10);
    expect(toMine).toBe(1);
  });

  it('records and introductions together share one budget', () => {
    const { net, alice, host, inits } = aliceWithDiscovery(161);
    const mallory = new SimPeer(net, { address: '203.0.113.66', port: 6666 }, { nick: 'm' });
    mallory.add('alice', alice);
    expect(net.runUntilTrue(() => alice.endpoint.connectedNicks().length === 1, 5000)).toBe(true);
    const start = net.now;
    for (let round = 0; round < 6; round++) {
      for (let k = 0; k < 30; k++) {
        const intro = encodeIntroduction({
          identity: generateIdentity().publicKey,
          nick: 'x',
          addrs: [0, 1, 2, 3].map((p) => ({ address: VICTIM, port: 8000 + p })),
        });
        mallory.endpoint.sendMessage(['alice'], intro, net.now, CONTROL_STREAM);
      }
      net.poke(mallory.addr);
      for (let i = 0; i < 10; i++) {
        const addrs = [0, 1, 2, 3].map((p) => ({ address: VICTIM, port: 9000 + 4 * i + p }));
        host.dial(`r${round}k${i}`, generateIdentity().publicKey, addrs, 'unknown', []);
      }
      net.run(10_000);
    }
    const minutes = (net.now - start) / 60_000;
    expect(inits()).toBeLessThanOrEqual(Math.ceil(BURST + LEARNED_DIALS_PER_MINUTE * minutes));
  });
});
