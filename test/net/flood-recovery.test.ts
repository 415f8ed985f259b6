import { describe, expect, it } from 'vitest';
import { MAX_PTO } from '../../source/net/core/conn/session.js';
import { MAX_RTT_EXCESS } from '../../source/net/recovery/rtt.js';
import { decodePacket, PacketType } from '../../source/net/wire/packet.js';
import { type Addr, FakeNetwork } from '../support/fakenet.js';
import { HOSTILE_KINDS, hostileDatagram } from '../support/hostile.js';
import { SimPeer, simPair } from '../support/simnode.js';

/**
 * A node whose event loop is busy (a flood) until `stallUntil`: it reads
 * nothing and runs no timer; then it handles the backlog all at once, stamped
 * with the time it got around to it — what a busy Node process does.
 */
class StallingPeer extends SimPeer {
  stallUntil = 0;
  private backlog: { data: Buffer; from: Addr }[] | undefined;
  override handleDatagram(data: Buffer, from: Addr, now: number): void {
    if (now < this.stallUntil) {
      this.backlog ??= [];
      this.backlog.push({ data, from });
      return;
    }
    super.handleDatagram(data, from, now);
  }
  override handleTimeout(now: number): void {
    if (now < this.stallUntil) return;
    const backlog = this.backlog ?? [];
    this.backlog = undefined;
    for (const d of backlog) super.handleDatagram(d.data, d.from, now);
    super.handleTimeout(now);
  }
  override nextDeadline(): number | undefined {
    const d = super.nextDeadline();
    if (this.backlog !== undefined || this.net.now < this.stallUntil) {
      return Math.max(this.stallUntil, d ?? 0);
    }
    return d;
  }
  stall(ms: number): void {
    this.stallUntil = this.net.now + ms;
    this.net.poke(this.addr);
  }
}

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

  it('keeps idle sessions alive at fractional times: a timer due "now" is never left due', () => {
    // Real clocks are fractional. The deadline was lastSent + 15 s, but the
    // check was now - lastSent >= 15 s, which rounding can make 14999.999…:
    // no keepalive, the same deadline, and the timer fired back to back.
    for (let i = 0; i < 100; i++) {
      const net = new FakeNetwork({
        seed: 500 + i,
        conditions: { delay: 5 },
        startTime: 1_000_000 + ((i * 7919) % 100_000) + i / 101 + 0.123456789,
      });
      const { alice, bob } = simPair(net);
      bob.add('alice', alice);
      expect(net.runUntilTrue(() => alice.connected('bob'), 5_000)).toBe(true);
      net.run(1_000);
      const sent = net.stats.sent;
      net.run(40_000); // keepalives on both sides, nothing else
      expect(net.stats.sent - sent, `start ${net.now}`).toBeGreaterThanOrEqual(4);
      expect(net.stats.sent - sent).toBeLessThan(40);
      expect(bob.connected('alice') && alice.connected('bob')).toBe(true);
    }
  });

  for (const seed of [1, 6, 8, 11]) {
    it(`survives a flood that stalls the receiver for seconds under 30 % loss, then answers at once (seed ${seed})`, () => {
      const net = new FakeNetwork({ seed, conditions: { delay: 5, jitter: 5 } });
      const alice = new StallingPeer(
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
      bob.add('alice', alice);
      expect(net.runUntilTrue(() => bob.connected('alice') && alice.connected('bob'), 5_000)).toBe(
        true,
      );
      // Alice's first RTT sample measures the path (≈ 10 ms), not a stall.
      const hello = alice.send(['bob'], 'hello');
      expect(net.runUntilTrue(() => alice.delivered.has(hello), 1_000)).toBe(true);
      const pathRtt = alice.endpoint.peer('bob')!.stats.minRtt!;
      expect(pathRtt).toBeLessThan(100);
      // Past the warm-up, whose median (recovery/rtt.ts) would pass over a
      // few stalled samples: from here each one reaches the estimate.
      net.run(5_000);
      // Genuine bob→alice datagrams, for the attacker to replay from elsewhere.
      const genuine: Buffer[] = [];
      let bobSent = 0;
      net.tap = (d) => {
        if (d.to.port === alice.addr.port) {
          bobSent++;
          if (genuine.length < 4096) genuine.push(Buffer.from(d.data));
        }
        return undefined;
      };
      net.conditions = { delay: 5, jitter: 5, loss: 0.3, duplicate: 0.1, reorder: 0.05 };
      for (let i = 0; i < 2000; i++) bob.send(['alice'], `m${i}`);
      const evil: Addr = { address: '198.51.100.9', port: 666 };
      // 40 s of flood: alice's loop is busy 1-7 s at a time, 8 s apart.
      const floodEnd = net.now + 40_000;
      let peakSrtt = 0;
      let round = 0;
      while (net.now < floodEnd) {
        // Alice writes just before her loop stalls: bob's ACK for it is read
        // seconds late, as the flooded node read them (srtt 0.5-1.1 s).
        alice.send(['bob'], `a${round++}`);
        alice.stall(1_000 + net.rng.int(6_000));
        for (let k = 0; k < 500; k++) {
          const base = genuine[net.rng.int(genuine.length)] ?? Buffer.alloc(64);
          const kind = HOSTILE_KINDS[k % HOSTILE_KINDS.length]!;
          net.inject(hostileDatagram(net.rng, base, kind), evil, alice.addr, net.rng.int(8_000));
        }
        net.run(8_000);
        peakSrtt = Math.max(peakSrtt, alice.endpoint.peer('bob')!.stats.smoothedRtt!);
      }
      // The network is well again; alice's estimate stayed bounded despite
      // seconds-late ACKs: never past the path's RTT + MAX_RTT_EXCESS.
      net.conditions = { delay: 5, jitter: 5 };
      alice.stallUntil = 0;
      const aliceView = alice.endpoint.peer('bob')!.stats;
      expect(aliceView.minRtt!).toBeLessThanOrEqual(pathRtt);
      expect(peakSrtt).toBeGreaterThan(2 * pathRtt); // the stalls did reach the estimate
      expect(peakSrtt).toBeLessThanOrEqual(pathRtt + MAX_RTT_EXCESS);
      expect(aliceView.smoothedRtt!).toBeLessThanOrEqual(pathRtt + MAX_RTT_EXCESS);
      expect(net.runUntilTrue(() => alice.received.length === 2000, 5_000)).toBe(true);
      // A fresh round trip completes within a few seconds of virtual time.
      const t0 = net.now;
      const ping = bob.send(['alice'], 'fresh');
      expect(net.runUntilTrue(() => bob.delivered.has(ping), 3_000)).toBe(true);
      const pong = alice.send(['bob'], 'pong');
      expect(net.runUntilTrue(() => alice.delivered.has(pong), 3_000)).toBe(true);
      expect(net.now - t0).toBeLessThan(3_000);
      expect(bob.connected('alice') && alice.connected('bob')).toBe(true);

      // Silence: 10 s of blackout with data waiting. Probes keep going at least
      // once per MAX_PTO (never backed off past it), one count per expiry, two
      // probes each; and the first probe after the blackout gets through.
      const before = bob.endpoint.peer('alice')!.stats.ptoCount;
      const sentBefore = bobSent;
      net.conditions = { delay: 5, jitter: 5, blackout: true };
      const late = bob.send(['alice'], 'after the blackout');
      net.run(10_000);
      const ptos = bob.endpoint.peer('alice')!.stats.ptoCount - before;
      const probes = bobSent - sentBefore;
      // Doubling from a few ms reaches MAX_PTO after ~8 expiries; then one per MAX_PTO.
      expect(ptos).toBeGreaterThanOrEqual(10_000 / MAX_PTO - 1);
      expect(ptos).toBeLessThanOrEqual(10_000 / MAX_PTO + 10);
      expect(probes).toBeLessThanOrEqual(2 * ptos + 2);
      net.conditions = { delay: 5, jitter: 5 };
      const back = net.now;
      expect(net.runUntilTrue(() => bob.delivered.has(late), 3_000)).toBe(true);
      expect(net.now - back).toBeLessThanOrEqual(MAX_PTO + 100);
    });
  }
});
