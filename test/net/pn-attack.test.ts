import { describe, expect, it } from 'vitest';
import { REPLAY_WINDOW } from '../../source/net/core/conn/replay.js';
import { DEFAULT_REKEY_INTERVAL, type Session } from '../../source/net/core/conn/session.js';
import type { Peer } from '../../source/net/core/peers/peer.js';
import { TAG_LENGTH } from '../../source/net/crypto/cipher.js';
import { MAX_ACK_RANGES, writePing } from '../../source/net/wire/frames.js';
import { DATA_HEADER_LENGTH } from '../../source/net/wire/packet.js';
import { FakeNetwork } from '../support/fakenet.js';
import { SimPeer } from '../support/simnode.js';

/**
 * Security issue item 2, the packet-number half: an authenticated peer
 * numbers its own packets, so it picks the order and the gaps. Through the
 * whole stack (sealed DATA on the fake network), whatever it picks, what
 * alice keeps for it — the ACK ranges she owes and the anti-replay window —
 * stays bounded in memory (MAX_ACK_RANGES ranges, a fixed bitmap) and in
 * work per packet (RangeSet.work, ReplayWindow.steps), and the session and
 * a well-behaved peer carry on.
 */

const ALICE = { address: '203.0.113.1', port: 1000 };
const BOB = { address: '203.0.113.2', port: 2000 };
const MALLORY = { address: '203.0.113.66', port: 6666 };
const PACKETS = 4000;
const REPLAY_WORDS = REPLAY_WINDOW / 32;
/** Keys change every DEFAULT_REKEY_INTERVAL packet numbers and a receiver follows one epoch at a time: the widest gaps a peer can use stay within one. */
const WIDEST_GAP = Math.floor((DEFAULT_REKEY_INTERVAL - 1) / PACKETS);

/** Orders mallory may number its packets in (all accepted: new, or within the window). */
const ORDERS: Record<string, (i: number) => number> = {
  // Every packet a new range far above the last (the whole bitmap cleared each time).
  'gaps as wide as an epoch allows': (i) => (i + 1) * WIDEST_GAP,
  // Every other number descending, then the ones between, descending (all within the window).
  'every other, descending': (i) =>
    1_000_000 + (i < PACKETS / 2 ? 2 * (PACKETS / 2 - i) : 2 * (PACKETS - i) - 1),
  // Just under a window apart: the most bitmap clearing a partial jump may cost.
  'jumps just under the window': (i) => i * (REPLAY_WINDOW - 1),
  // Far ahead, then filling in behind (the descending splice of the issue).
  interleaved: (i) => 1_000_000 + (i % 2 ? REPLAY_WINDOW - 1 - (i >> 1) : i >> 1),
};

interface SessionInside {
  nextPn: number;
  replay: { steps: number };
  toAck: { size: number };
}

function registryPeer(sim: SimPeer, nick: string): Peer {
  return (sim.endpoint as unknown as { registry: { get(n: string): Peer } }).registry.get(nick);
}

describe('packet numbers an authenticated peer chooses cost alice bounded memory and work', () => {
  for (const [name, pnOf] of Object.entries(ORDERS)) {
    it(`${name}: at most MAX_ACK_RANGES ranges, O(MAX_ACK_RANGES + window words) work a packet`, () => {
      const net = new FakeNetwork({ seed: 150 });
      const alice = new SimPeer(net, ALICE, { nick: 'alice' }, net.rng);
      const bob = new SimPeer(net, BOB, { nick: 'bob' }, net.rng);
      const mallory = new SimPeer(net, MALLORY, { nick: 'mallory' }, net.rng);
      bob.add('alice', alice);
      mallory.add('alice', alice);
      const up = () => alice.endpoint.peers().every((p) => p.state.kind === 'connected');
      expect(net.runUntilTrue(() => alice.endpoint.peers().length === 2 && up(), 10_000)).toBe(
        true,
      );
      const theirs = registryPeer(mallory, 'alice').current as Session;
      const theirPn = theirs as unknown as SessionInside;
      // From here only the crafted packets reach alice: mallory's endpoint
      // neither hears her ACKs nor gets its own packets through.
      net.detach(MALLORY);
      const victimPeer = alice.endpoint
        .peers()
        .find((p) => p.fingerprint === mallory.endpoint.fingerprint)!;
      const ours = registryPeer(alice, victimPeer.nick).current as Session;
      const inside = ours as unknown as SessionInside;
      const workBefore = ours.ackRangeWork;
      const stepsBefore = inside.replay.steps;
      let peakRanges = 0;
      let accepted = 0;
      const received = () => alice.endpoint.peer(victimPeer.nick)!.stats.packetsReceived;
      const buf = Buffer.alloc(64);
      for (let i = 0; i < PACKETS; i++) {
        const own = theirPn.nextPn;
        theirPn.nextPn = pnOf(i);
        const len = writePing(buf, DATA_HEADER_LENGTH) - DATA_HEADER_LENGTH;
        theirs.seal(buf, len, net.now);
        // Mallory's own sent log must keep rising (it is not the victim here).
        theirPn.nextPn = Math.max(own, theirPn.nextPn);
        const before = received();
        net.inject(
          Buffer.from(buf.subarray(0, DATA_HEADER_LENGTH + len + TAG_LENGTH)),
          MALLORY,
          ALICE,
        );
        net.run(1);
        if (received() > before) accepted++;
        peakRanges = Math.max(peakRanges, inside.toAck.size);
      }
      // Every crafted packet was genuine and new: all taken, none a replay.
      expect(accepted).toBe(PACKETS);
      expect(peakRanges).toBeLessThanOrEqual(MAX_ACK_RANGES);
      // Per packet: two searches and a bounded splice to insert, the same to
      // drop the oldest range (as session-acks.test.ts); the replay window
      // clears at most every bitmap word once, plus a partial word each end.
      expect(ours.ackRangeWork - workBefore).toBeLessThanOrEqual(
        PACKETS * (2 * MAX_ACK_RANGES + 32),
      );
      expect(inside.replay.steps - stepsBefore).toBeLessThanOrEqual(PACKETS * (REPLAY_WORDS + 2));
      // The session goes on, and so does a well-behaved peer.
      expect(alice.endpoint.peer(victimPeer.nick)?.state.kind).toBe('connected');
      bob.send(['alice'], 'still here');
      expect(
        net.runUntilTrue(
          () => alice.received.some((m) => m.data.toString() === 'still here'),
          5000,
        ),
      ).toBe(true);
    });
  }
});
