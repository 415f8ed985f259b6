import { natFromFlags } from '../nat/mesh.js';
import { StunClient, type StunClientOptions, type StunSummary } from '../nat/stun.js';
import { HelloFlag } from '../wire/hello.js';
import { type Addr, addrKey } from './address.js';
import type { Transmit } from './config.js';
import type { EndpointEvent, NatMapping } from './events.js';
import type { LocalNode } from './handshake/handshake.js';

/** What the public-address room needs from the endpoint. */
export interface PublicAddressHost {
  local: LocalNode;
  emit(event: EndpointEvent): void;
  /** Our mapping behaviour changed: connected peers hear it (nat/mesh.ts). */
  mappingChanged(): void;
}

/**
 * Our public address and NAT mapping as STUN servers see them (RFC 8489
 * Binding, from the same socket as the peer traffic so the mapping is the
 * one peers see; two or more servers also tell a symmetric NAT from a cone
 * one). What it learns goes into our Hello flags and out as 'stun' events.
 */
export class PublicAddress {
  private stun: StunClient | undefined;

  constructor(private readonly host: PublicAddressHost) {}

  start(servers: Addr[], now: number, opts: StunClientOptions): void {
    this.stun = new StunClient(opts);
    this.stun.start(servers, now);
  }

  /** What STUN has told us so far (undefined before any STUN round). */
  summary(): StunSummary | undefined {
    return this.stun?.summary();
  }

  mapping(): NatMapping {
    return this.stun?.summary().behaviour ?? 'unknown';
  }

  /** A STUN message on the socket (RFC 7983 §7): answers to our Binding requests. */
  handle(data: Buffer, from: Addr, now: number): void {
    if (this.stun?.handleResponse(data, from, now) === 'answered') this.drain();
  }

  nextDeadline(): number | undefined {
    return this.stun?.nextDeadline();
  }

  handleTimeout(now: number): void {
    const at = this.stun?.nextDeadline();
    if (at === undefined || at > now) return;
    this.stun!.handleTimeout(now);
    this.drain();
  }

  pollTransmit(): Transmit | undefined {
    return this.stun?.pollTransmit();
  }

  private drain(): void {
    const stun = this.stun;
    if (!stun) return;
    let changed = false;
    for (let r = stun.pollResult(); r; r = stun.pollResult()) {
      changed = true;
      if (r.kind !== 'mapped') {
        const why =
          r.kind === 'timeout'
            ? `no answer after ${r.transmits} tries`
            : r.kind === 'error'
              ? `error ${r.code} ${r.reason}`
              : r.reason;
        this.host.emit({
          type: 'error',
          code: 'stun',
          message: `STUN server ${addrKey(r.server)}: ${why}`,
          address: r.server,
        });
      }
    }
    if (!changed) return;
    const sum = stun.summary();
    const local = this.host.local;
    const before = natFromFlags(local.flags);
    // Our Hello tells peers how our NAT maps us, so introducers can pass it on.
    const natBits =
      sum.behaviour === 'endpoint-independent'
        ? HelloFlag.NatIndependent
        : sum.behaviour === 'endpoint-dependent'
          ? HelloFlag.NatDependent
          : 0;
    local.flags = (local.flags & ~(HelloFlag.NatIndependent | HelloFlag.NatDependent)) | natBits;
    // Peers that connected before this was known heard "unknown" (or an older
    // answer) in our Hello: tell them now, once per change.
    if (sum.behaviour !== before) this.host.mappingChanged();
    this.host.emit({
      type: 'stun',
      publicAddress: sum.mapped,
      mapping: sum.behaviour,
      done: sum.done,
    });
  }
}
