import { describe, expect, it } from 'vitest';
import { CLOSE_DRAIN_MS } from '../../../../source/net/core/conn/closing.js';
import { PacketType } from '../../../../source/net/wire/packet.js';
import { FakeNetwork } from '../../../support/fakenet.js';
import { SimPeer } from '../../../support/simnode.js';

/** alice connected to bob and carol; everyone idle. */
function trio(seed: number) {
  const net = new FakeNetwork({ seed, conditions: { delay: 20 } });
  const alice = new SimPeer(
    net,
    { address: '203.0.113.1', port: 1000 },
    { nick: 'alice' },
    net.rng,
  );
  const bob = new SimPeer(net, { address: '203.0.113.2', port: 2000 }, { nick: 'bob' }, net.rng);
  const carol = new SimPeer(
    net,
    { address: '203.0.113.3', port: 3000 },
    { nick: 'carol' },
    net.rng,
  );
  alice.add('bob', bob);
  alice.add('carol', carol);
  expect(net.runUntilTrue(() => bob.connected('alice') && carol.connected('alice'), 10_000)).toBe(
    true,
  );
  // Past the sessions' warm-up PINGs (conn/pings.ts WARMUP_SAMPLES): idle
  // from here on, but for keepalives every 15 s.
  net.run(5000);
  return { net, alice, bob, carol };
}

const gone = (p: SimPeer) => p.endpoint.peer('alice')?.state.kind === 'disconnected';

describe('a clean close reaches every connected peer (the closing state)', () => {
  it('a lost CLOSE is sent again: every peer sees the closer gone within 1 s', () => {
    const { net, alice, bob, carol } = trio(150);
    let dropped = 0;
    net.tap = (d) => {
      // The first DATA alice sends bob after closing (her CLOSE) is lost.
      if (d.to.port === 2000 && d.data[1] === PacketType.Data && dropped === 0) {
        dropped++;
        return null;
      }
      return undefined;
    };
    const closedAt = net.now;
    alice.endpoint.close(net.now);
    net.poke(alice.addr);
    expect(net.runUntilTrue(() => gone(bob) && gone(carol), 1000)).toBe(true);
    expect(dropped).toBe(1);
    expect(net.now - closedAt).toBeLessThan(1000);
    const state = bob.endpoint.peer('alice')?.state;
    expect(state?.kind === 'disconnected' ? state.cause : undefined).toEqual({
      kind: 'remote',
      code: 0,
    });
    // Both answered with their own CLOSE: the closing state ends before its limit.
    expect(net.runUntilTrue(() => !alice.endpoint.closingPending, CLOSE_DRAIN_MS)).toBe(true);
  });

  it('a peer that never answers holds the closing state for CLOSE_DRAIN_MS at most, with a bounded number of resends', () => {
    const { net, alice, bob } = trio(151);
    let toBob = 0;
    net.tap = (d) => {
      // Only alice's: carol and bob go on talking (carol's warm-up PINGs).
      if (d.to.port === 2000 && d.from.address === alice.addr.address) {
        toBob++;
        return null; // bob hears nothing from now on
      }
      return undefined;
    };
    alice.endpoint.close(net.now);
    net.poke(alice.addr);
    net.run(CLOSE_DRAIN_MS + 100);
    expect(alice.endpoint.closingPending).toBe(false);
    // The CLOSE and three resends, nothing more.
    expect(toBob).toBe(4);
    expect(bob.connected('alice')).toBe(true); // it never heard: the idle timeout will tell it
  });

  it('after a simultaneous open (two sessions each way), the peer sees the closer gone within 1 s', () => {
    for (let seed = 160; seed < 166; seed++) {
      const net = new FakeNetwork({ seed, conditions: { delay: 20 } });
      const alice = new SimPeer(
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
      // Both dial at once, as introduced peers do: each may keep the other's session as current.
      alice.add('bob', bob);
      bob.add('alice', alice);
      expect(net.runUntilTrue(() => alice.connected('bob') && bob.connected('alice'), 10_000)).toBe(
        true,
      );
      net.run(2000);
      alice.endpoint.close(net.now);
      net.poke(alice.addr);
      expect(
        net.runUntilTrue(() => bob.endpoint.peer('alice')?.state.kind === 'disconnected', 1000),
        `seed ${seed}`,
      ).toBe(true);
    }
  });
});

describe('a newcomer that closes soon after joining a mesh', () => {
  // Seen once by hand (issue 15 item 4, real sockets): a library peer that
  // closed about 2 s after being introduced stayed "connected" at one member
  // for the 45 s idle timeout. Here on the virtual clock, at 82 close times
  // from 0 to 3 s after it joined (introductions and their handshakes still
  // in flight in the first ones): every member that saw it connected sees it
  // gone within 1 s, though a fifth of the datagrams from the close on are lost.
  it('is gone at every member within 1 s, whenever it closes', () => {
    const late: string[] = [];
    const seen: number[] = [];
    for (let closeAfter = 0; closeAfter <= 3000; closeAfter += 37) {
      const net = new FakeNetwork({ seed: 900 + closeAfter, conditions: { delay: 1 } });
      const lossy = () => {
        net.conditions.loss = 0.2; // from the close on: the CLOSE itself may be lost
      };
      const mk = (nick: string, i: number) =>
        new SimPeer(net, { address: `203.0.113.${i}`, port: 1000 * i }, { nick }, net.rng);
      const alice = mk('alice', 1);
      const bob = mk('bob', 2);
      const carol = mk('carol', 3);
      bob.add('alice', alice);
      carol.add('alice', alice);
      // alice introduces bob and carol to each other.
      expect(net.runUntilTrue(() => bob.connected('carol') && carol.connected('bob'), 10_000)).toBe(
        true,
      );
      const la = mk('la', 4);
      la.add('alice', alice);
      expect(net.runUntilTrue(() => la.connected('alice'), 5000)).toBe(true);
      for (let t = 0; t < closeAfter; t += 100) {
        la.send(undefined, `m${t}`);
        net.run(Math.min(100, closeAfter - t));
      }
      const members = [alice, bob, carol].filter(
        (p) => p.endpoint.peer('la')?.state.kind === 'connected',
      );
      seen.push(members.length);
      lossy();
      la.endpoint.close(net.now);
      net.poke(la.addr);
      net.run(1000);
      for (const [i, p] of members.entries()) {
        if (p.endpoint.peer('la')?.state.kind === 'connected') late.push(`${closeAfter} ms: #${i}`);
      }
    }
    expect(late).toEqual([]);
    // The schedule did reach the case it is about: all three members had it
    // connected at most close times (introductions done), and fewer at the first.
    expect(seen.filter((n) => n === 3).length).toBeGreaterThan(70);
    expect(Math.min(...seen)).toBeLessThan(3);
  });
});
