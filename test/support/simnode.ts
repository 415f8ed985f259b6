import { Endpoint, type EndpointConfig } from '../../source/net/core/endpoint.js';
import type { EndpointEvent } from '../../source/net/core/events.js';
import { generateIdentity, type Identity } from '../../source/net/crypto/identity.js';
import type { Addr, FakeNetwork, NatOptions, SimNode } from './fakenet.js';
import type { Rng } from './rng.js';

/**
 * An Endpoint on the fake network: collects its events so tests can assert on
 * messages, deliveries and peer changes.
 */
export class SimPeer implements SimNode {
  readonly endpoint: Endpoint;
  readonly events: EndpointEvent[] = [];
  readonly received: { nick: string; data: Buffer }[] = [];
  readonly delivered = new Map<number, string[]>();
  addr: Addr;

  constructor(
    readonly net: FakeNetwork,
    addr: Addr,
    config: Partial<EndpointConfig> & { nick: string; identity?: Identity },
    rng?: Rng,
    nat?: NatOptions,
  ) {
    this.endpoint = new Endpoint({
      identity: config.identity ?? generateIdentity(),
      ...(rng ? { randomIndex: () => rng.u32(), randomUnit: () => rng.next() } : {}),
      ...config,
    });
    this.addr = net.attach(this, addr, nat ? { nat } : undefined);
  }

  handleDatagram(data: Buffer, from: Addr, now: number): void {
    this.endpoint.handleDatagram(data, from, now);
    this.drainEvents();
  }

  handleTimeout(now: number): void {
    this.endpoint.handleTimeout(now);
    this.drainEvents();
  }

  pollTransmit(): { to: Addr; data: Buffer } | undefined {
    return this.endpoint.pollTransmit();
  }

  nextDeadline(): number | undefined {
    return this.endpoint.nextDeadline();
  }

  protected drainEvents(): void {
    for (let e = this.endpoint.pollEvent(); e; e = this.endpoint.pollEvent()) {
      this.events.push(e);
      if (e.type === 'message') this.received.push({ nick: e.nick, data: e.data });
      if (e.type === 'delivered') {
        const list = this.delivered.get(e.id) ?? [];
        list.push(e.nick);
        this.delivered.set(e.id, list);
      }
    }
  }

  add(nick: string, other: SimPeer): void {
    this.endpoint.addPeer(nick, { addrs: [other.addr] }, this.net.now);
    this.net.poke(this.addr);
  }

  send(recipients: string[] | undefined, text: string | Uint8Array): number {
    const data = typeof text === 'string' ? Buffer.from(text) : text;
    const { id } = this.endpoint.sendMessage(recipients, data, this.net.now);
    this.net.poke(this.addr);
    return id;
  }

  connected(nick: string): boolean {
    return this.endpoint.peer(nick)?.state.kind === 'connected';
  }

  errors(): EndpointEvent[] {
    return this.events.filter((e) => e.type === 'error');
  }
}

/** alice at 203.0.113.1:1000 and bob at 203.0.113.2:2000 on `net`, seeded by its RNG. */
export function simPair(net: FakeNetwork): { alice: SimPeer; bob: SimPeer } {
  const alice = new SimPeer(
    net,
    { address: '203.0.113.1', port: 1000 },
    { nick: 'alice' },
    net.rng,
  );
  const bob = new SimPeer(net, { address: '203.0.113.2', port: 2000 }, { nick: 'bob' }, net.rng);
  return { alice, bob };
}

/** The chaos mesh's conditions: 30 % loss, 5 % duplication, 20 ± 20 ms, some reordering. */
export const MESH_CONDITIONS = { loss: 0.3, duplicate: 0.05, delay: 20, jitter: 20, reorder: 0.02 };

/** alice, bob and carol at 203.0.113.1-3, each adding the next (a ring: every pair meets). */
export function simMesh(net: FakeNetwork): [SimPeer, SimPeer, SimPeer] {
  const nodes = (['alice', 'bob', 'carol'] as const).map(
    (nick, i) =>
      new SimPeer(net, { address: `203.0.113.${i + 1}`, port: 4000 + i }, { nick }, net.rng),
  );
  const [alice, bob, carol] = nodes as [SimPeer, SimPeer, SimPeer];
  alice.add('bob', bob);
  bob.add('carol', carol);
  carol.add('alice', alice);
  return [alice, bob, carol];
}
