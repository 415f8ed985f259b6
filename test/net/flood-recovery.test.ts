import { describe, expect, it } from 'vitest';
import { decodePacket, PacketType } from '../../source/net/wire/packet.js';
import { type Addr, FakeNetwork } from '../support/fakenet.js';
import { SimPeer, simPair } from '../support/simnode.js';

/** Counts timer fires: a deadline that stays due makes a real socket spin. */
class CountingPeer extends SimPeer {
  fires = 0;
  override handleTimeout(now: number): void {
    this.fires++;
    super.handleTimeout(now);
  }
}

/** The packet type of a datagram, or undefined for one that does not decode. */
function typeOf(data: Buffer): number | undefined {
  try {
    return decodePacket(data).type;
  } catch {
    return undefined;
  }
}

describe('a session that always recovers (security issue item 9)', () => {
  it('DATA that overtakes a lost FINISH draws no stateless reset: the session being born survives', () => {
    // Found by the flood: the initiator may send DATA right after FINISH; when
    // FINISH is lost (or stuck behind a flood), the responder only holds a
    // half-open handshake for that index. Answering the DATA with a RESET —
    // whose token the responder itself announced for that very session —
    // made the initiator drop a session the responder was about to adopt.
    const net = new FakeNetwork({ seed: 91, conditions: { delay: 5 } });
    const { alice, bob } = simPair(net);
    let holdFinish = true;
    let resetsFromAlice = 0;
    net.tap = (d) => {
      const type = typeOf(d.data);
      if (type === PacketType.Reset && d.to.port === bob.addr.port) resetsFromAlice++;
      if (type === PacketType.Finish && holdFinish) return null;
      return undefined;
    };
    bob.add('alice', alice);
    expect(net.runUntilTrue(() => bob.connected('alice'), 5_000)).toBe(true);
    bob.send(['alice'], 'early');
    net.run(500);
    expect(resetsFromAlice).toBe(0);
    expect(bob.connected('alice')).toBe(true);
    expect(alice.endpoint.stats.dropped['unknown-session']).toBeGreaterThan(0);
    holdFinish = false;
    expect(net.runUntilTrue(() => alice.received.length === 1, 5_000)).toBe(true);
    expect(alice.received[0]?.data.toString()).toBe('early');
    expect(bob.events.some((e) => e.type === 'peer' && e.change === 'disconnected')).toBe(false);
    expect(resetsFromAlice).toBe(0);
  });

  it('a replayed packet from a new address on the non-current session leaves no timer due forever', () => {
    // Found by the flood: a replay of a genuine packet the receiver never saw
    // is "newest" and starts path validation on whatever session it belongs to.
    // Only the current session sends PATH_CHALLENGEs, so on the other one the
    // challenge deadline stayed due: the timer fired back to back until that
    // session idled out 45 s later (a busy loop in the real socket).
    for (const seed of [1, 2, 3, 4]) {
      const net = new FakeNetwork({ seed, conditions: { delay: 5 } });
      const alice = new CountingPeer(
        net,
        { address: '203.0.113.1', port: 1000 },
        { nick: 'alice' },
        net.rng,
      );
      const bob = new SimPeer(
        net,
        { address: '203.0.113.2', port: 2000 },
        { nick: 'bob' },
        net.rng,
      );
      const held: Buffer[] = [];
      let hold = false;
      net.tap = (d) => {
        if (!hold || d.to.port !== alice.addr.port || typeOf(d.data) !== PacketType.Data)
          return undefined;
        held.push(Buffer.from(d.data));
        return null;
      };
      // Both dial at once: each side ends up with a current and an other session.
      hold = true;
      alice.add('bob', bob);
      bob.add('alice', alice);
      // Data in flight while the tie-break settles: each session carries some.
      for (let i = 0; i < 3; i++) {
        alice.send(['bob'], `a${i}`);
        net.run(2);
      }
      expect(net.runUntilTrue(() => alice.connected('bob') && bob.connected('alice'), 5_000)).toBe(
        true,
      );
      net.run(300);
      hold = false;
      const evil: Addr = { address: '198.51.100.7', port: 4444 };
      for (const d of held) net.inject(d, evil, alice.addr, 1);
      const before = alice.fires;
      net.run(5_000);
      // A few timers a second (ACKs, probes to the evil address, keepalives), never a spin.
      expect(alice.fires - before, `seed ${seed}`).toBeLessThan(100);
      bob.send(['alice'], 'still here');
      expect(net.runUntilTrue(() => alice.received.length === 1, 5_000)).toBe(true);
    }
  });
});
