import { EventEmitter } from 'node:events';
import type { Answer, Question } from 'dns-packet';
import type { MdnsPacket, MdnsTransport } from '../../../source/net/discovery/mdns.js';

/**
 * A LAN in memory for mDNS tests: every packet a member sends reaches every
 * member (itself too, as multicast loopback does), from the sender's address
 * on port 5353. Nothing touches a real interface.
 */
export class FakeLan {
  readonly members: FakeMdns[] = [];
  sent = 0;

  join(address: string): FakeMdns {
    const m = new FakeMdns(this, address);
    this.members.push(m);
    return m;
  }

  deliver(from: FakeMdns, kind: 'query' | 'response', packet: MdnsPacket): void {
    this.sent++;
    for (const m of this.members) {
      if (!m.closed) m.emit(kind, packet, { address: from.address, port: 5353 });
    }
  }
}

export class FakeMdns extends EventEmitter implements MdnsTransport {
  closed = false;
  readonly sent: { kind: 'query' | 'response'; packet: MdnsPacket }[] = [];

  constructor(
    private readonly lan: FakeLan,
    readonly address: string,
  ) {
    super();
  }

  query(packet: { questions: Question[] }): void {
    this.sent.push({ kind: 'query', packet });
    this.lan.deliver(this, 'query', packet);
  }

  respond(packet: { answers: Answer[]; additionals?: Answer[] }): void {
    this.sent.push({ kind: 'response', packet });
    this.lan.deliver(this, 'response', packet);
  }

  destroy(cb?: () => void): void {
    this.closed = true;
    cb?.();
  }
}
