import { describe, expect, it } from 'vitest';
import { FakeNetwork } from '../support/fakenet.js';
import { MESH_CONDITIONS, simMesh } from '../support/simnode.js';

/**
 * The protocol on a virtual clock over a hostile network: 30% loss, 5%
 * duplication, jittered delay that reorders. Every message must arrive exactly
 * once, in order per sender. The seed is printed on failure.
 */
describe('chaos: 3 peers over a lossy, duplicating, reordering network', () => {
  const seed = Number(process.env.CHAOS_SEED ?? 20261125);
  const PER_DIRECTION = 10_000;

  it(`delivers ${PER_DIRECTION} messages each way between every pair exactly once, in order (seed ${seed})`, () => {
    const net = new FakeNetwork({ seed, conditions: { ...MESH_CONDITIONS } });
    const names = ['alice', 'bob', 'carol'] as const;
    const nodes = simMesh(net);
    const [_alice, _bob, _carol] = nodes;
    const allUp = () =>
      nodes.every(
        (n) => n.endpoint.peers().filter((p) => p.state.kind === 'connected').length === 2,
      );
    expect(net.runUntilTrue(allUp, 60_000), `seed ${seed}: mesh did not come up`).toBe(true);

    // Send in bursts, as an application would, while the network misbehaves.
    const ids: number[][] = nodes.map(() => []);
    for (let i = 0; i < PER_DIRECTION; i++) {
      for (const [k, node] of nodes.entries()) {
        const others = node.endpoint.peers().map((p) => p.nick);
        for (const to of others) ids[k]!.push(node.send([to], `${names[k]}→${to}#${i}`));
      }
      if (i % 100 === 99) net.run(50);
    }
    const done = () => nodes.every((n) => n.received.length === 2 * PER_DIRECTION);
    expect(net.runUntilTrue(done, 600_000), `seed ${seed}: not everything arrived`).toBe(true);
    net.run(5_000);

    for (const node of nodes) {
      const bySender = new Map<string, string[]>();
      for (const m of node.received) {
        const list = bySender.get(m.nick) ?? [];
        list.push(m.data.toString());
        bySender.set(m.nick, list);
      }
      expect(bySender.size).toBe(2);
      for (const [sender, texts] of bySender) {
        const me = node.endpoint.local.nick;
        const senderNode = nodes.find(
          (n) =>
            n.endpoint.peer(me) && n.endpoint.local.nick.toLowerCase() === sender.toLowerCase(),
        );
        expect(senderNode, `seed ${seed}: unknown sender ${sender}`).toBeDefined();
        const expected = Array.from(
          { length: PER_DIRECTION },
          (_, i) => `${senderNode!.endpoint.local.nick}→${me}#${i}`,
        );
        expect(texts.length, `seed ${seed}: count from ${sender}`).toBe(PER_DIRECTION);
        expect(texts, `seed ${seed}: order from ${sender}`).toEqual(expected);
      }
    }
    // Every message was acknowledged to its sender, and the loss was real.
    for (const [k, node] of nodes.entries()) {
      expect(
        ids[k]!.every((id) => node.delivered.get(id)?.length === 1),
        `seed ${seed}: acks`,
      ).toBe(true);
    }
    expect(net.stats.dropped).toBeGreaterThan(net.stats.sent * 0.2);
    const lost = nodes
      .flatMap((n) => n.endpoint.peers())
      .reduce((a, p) => a + p.stats.packetsLost, 0);
    expect(lost).toBeGreaterThan(0);
    // Duplication happened (5 % of what got through) and every copy was
    // dropped as a replay at its receiver, never delivered twice.
    expect(net.stats.duplicated).toBeGreaterThan(0.03 * (net.stats.sent - net.stats.dropped));
    for (const node of nodes) expect(node.endpoint.stats.dropped.replay).toBeGreaterThan(0);
  });
});
