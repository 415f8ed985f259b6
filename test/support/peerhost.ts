import { randomBytes } from 'node:crypto';
import type { Addr } from '../../source/net/core/address.js';
import type { BadPacket } from '../../source/net/core/errors.js';
import type { EndpointEvent } from '../../source/net/core/events.js';
import type { PeerHost } from '../../source/net/core/peers/peer.js';

/**
 * What a Peer asks of its endpoint, recorded for unit tests: every event,
 * every datagram (a copy: packets come from a shared slab) and where it
 * went, every drop by reason, and the reassembly memory reserved (always
 * granted).
 */
export class RecordingPeerHost implements PeerHost {
  readonly events: EndpointEvent[] = [];
  readonly sent: Buffer[] = [];
  readonly sentTo: Addr[] = [];
  readonly drops: string[] = [];
  reserved = 0;
  emit(e: EndpointEvent): void {
    this.events.push(e);
  }
  transmit(to: Addr, data: Buffer): void {
    this.sent.push(Buffer.from(data));
    this.sentTo.push(to);
  }
  forgetSession(): void {}
  countDrop(reason: BadPacket['reason']): void {
    this.drops.push(reason);
  }
  reserveReassembly(delta: number): boolean {
    this.reserved += delta;
    return true;
  }
  random(n: number): Buffer {
    return randomBytes(n);
  }
}
