import { randomBytes } from 'node:crypto';
import { type Addr, addrKey, normalizeIp } from '../core/address.js';
import { BadPacket, UsageError } from '../core/errors.js';
import {
  decodeStunMessage,
  encodeBindingRequest,
  STUN_TRANSACTION_ID_LENGTH,
  type StunMessage,
  StunMethod,
} from './stun-codec.js';

/**
 * A STUN Binding client (RFC 8489), only what a peer needs to learn its
 * public address, on the codec in stun-codec.ts. Sans I/O: `StunClient` runs
 * one Binding transaction per server, retransmitting per §6.2.1, on a clock
 * its caller supplies, and compares what the servers saw (mapping behaviour,
 * RFC 4787 §4.1).
 */

export interface StunClientOptions {
  /** Initial retransmission timeout in ms (RFC 8489 §6.2.1: 500). */
  rto?: number;
  /** Transmissions per server before giving up (Rc, default 7). */
  maxTransmits?: number;
  /** After the last transmission wait this many RTOs for an answer (Rm, default 16). */
  lastWaitFactor?: number;
  /** Append FINGERPRINT to requests (default true: servers echo it, and it aids demultiplexing). */
  fingerprint?: boolean;
  /** Source of transaction ids (tests make it deterministic). */
  randomBytes?: (n: number) => Buffer;
}

const STUN_DEFAULT_RTO = 500;
const STUN_DEFAULT_MAX_TRANSMITS = 7;
const STUN_DEFAULT_LAST_WAIT_FACTOR = 16;

export type StunResult =
  | { server: Addr; kind: 'mapped'; mapped: Addr; rtt: number; transmits: number }
  | { server: Addr; kind: 'timeout'; transmits: number; badResponses: number }
  | { server: Addr; kind: 'error'; code: number; reason: string }
  | { server: Addr; kind: 'bad-response'; reason: string };

/**
 * How the NAT maps us: 'endpoint-independent' when every server that
 * answered saw the same address (a cone NAT, or no NAT), 'endpoint-dependent'
 * when they saw different ones (a symmetric NAT: punching to the address a
 * STUN server saw will not work), 'unknown' with fewer than two answers.
 */
export type MappingBehaviour = 'endpoint-independent' | 'endpoint-dependent' | 'unknown';

export interface StunSummary {
  /** All transactions finished (answered, failed or timed out). */
  done: boolean;
  /** The first reflexive address learned, if any. */
  mapped: Addr | undefined;
  behaviour: MappingBehaviour;
  results: StunResult[];
}

interface Transaction {
  server: Addr;
  id: Buffer;
  request: Buffer;
  transmits: number;
  firstSent: number;
  lastSent: number;
  rto: number;
  deadline: number;
  badResponses: number;
}

/** What `handleResponse` did with a datagram. */
export type StunHandled =
  /** A response to one of our transactions (a result is now available). */
  | 'answered'
  /** STUN, but not for us (unknown transaction, wrong source, a request...) or broken. */
  | 'ignored';

/**
 * Sans-I/O STUN Binding client. `start()` opens one transaction per server;
 * feed every datagram that `isStun` (stun-codec.ts) accepts to
 * `handleResponse`, which does not sniff again (one check per datagram), call
 * `handleTimeout` at `nextDeadline()`, and send what `pollTransmit` returns.
 * Results arrive through `pollResult()` and `summary()`. Nothing the network
 * does makes it throw.
 */
export class StunClient {
  private readonly rto: number;
  private readonly maxTransmits: number;
  private readonly lastWait: number;
  private readonly fingerprint: boolean;
  private readonly random: (n: number) => Buffer;
  private readonly pending = new Map<string, Transaction>();
  private readonly transmits: { to: Addr; data: Buffer }[] = [];
  private readonly finished: StunResult[] = [];
  private readonly unread: StunResult[] = [];
  /** Responses dropped, by why. */
  readonly dropped = { malformed: 0, unknownTransaction: 0, wrongSource: 0, notResponse: 0 };

  constructor(opts: StunClientOptions = {}) {
    this.rto = opts.rto ?? STUN_DEFAULT_RTO;
    this.maxTransmits = opts.maxTransmits ?? STUN_DEFAULT_MAX_TRANSMITS;
    this.lastWait = opts.lastWaitFactor ?? STUN_DEFAULT_LAST_WAIT_FACTOR;
    this.fingerprint = opts.fingerprint ?? true;
    this.random = opts.randomBytes ?? randomBytes;
    if (!(this.rto > 0)) throw new UsageError('STUN rto must be positive');
    if (!Number.isInteger(this.maxTransmits) || this.maxTransmits < 1) {
      throw new UsageError('STUN maxTransmits must be a positive integer');
    }
    if (!(this.lastWait > 0)) throw new UsageError('STUN lastWaitFactor must be positive');
  }

  /** Asks every server (duplicates once) for our address; forgets any earlier round. */
  start(servers: readonly Addr[], now: number): void {
    this.pending.clear();
    this.transmits.length = 0;
    this.finished.length = 0;
    this.unread.length = 0;
    const seen = new Set<string>();
    for (const s of servers) {
      const server = { address: normalizeIp(s.address), port: s.port };
      const key = addrKey(server);
      if (seen.has(key)) continue;
      seen.add(key);
      let id = this.random(STUN_TRANSACTION_ID_LENGTH);
      while (this.pending.has(id.toString('hex'))) id = this.random(STUN_TRANSACTION_ID_LENGTH);
      const request = encodeBindingRequest(id, { fingerprint: this.fingerprint });
      const tx: Transaction = {
        server,
        id: Buffer.from(id),
        request,
        transmits: 0,
        firstSent: now,
        lastSent: now,
        rto: this.rto,
        deadline: now,
        badResponses: 0,
      };
      this.pending.set(tx.id.toString('hex'), tx);
      this.send(tx, now);
    }
  }

  /** Stops every transaction without a result. */
  cancel(): void {
    this.pending.clear();
    this.transmits.length = 0;
  }

  pollTransmit(): { to: Addr; data: Buffer } | undefined {
    return this.transmits.shift();
  }

  pollResult(): StunResult | undefined {
    return this.unread.shift();
  }

  /** The earliest retransmission or give-up time, or undefined when idle. */
  nextDeadline(): number | undefined {
    let at: number | undefined;
    for (const tx of this.pending.values())
      if (at === undefined || tx.deadline < at) at = tx.deadline;
    return at;
  }

  get done(): boolean {
    return this.pending.size === 0;
  }

  handleTimeout(now: number): void {
    for (const [key, tx] of [...this.pending]) {
      if (now < tx.deadline) continue;
      if (tx.transmits < this.maxTransmits) {
        tx.rto *= 2;
        this.send(tx, now);
      } else {
        this.pending.delete(key);
        this.finish({
          server: tx.server,
          kind: 'timeout',
          transmits: tx.transmits,
          badResponses: tx.badResponses,
        });
      }
    }
  }

  handleResponse(buf: Uint8Array, from: Addr, now: number): StunHandled {
    const source = { address: normalizeIp(from.address), port: from.port };
    let msg: StunMessage;
    try {
      msg = decodeStunMessage(buf);
    } catch (err) {
      if (!(err instanceof BadPacket)) throw err;
      this.dropped.malformed++;
      // It may have been meant for us: remember it against the sender's
      // transaction so a later timeout can say the server answered badly.
      for (const tx of this.pending.values()) {
        if (addrKey(tx.server) === addrKey(source)) tx.badResponses++;
      }
      return 'ignored';
    }
    const key = msg.transactionId.toString('hex');
    const tx = this.pending.get(key);
    if (!tx) {
      this.dropped.unknownTransaction++;
      return 'ignored';
    }
    if (addrKey(tx.server) !== addrKey(source)) {
      this.dropped.wrongSource++;
      return 'ignored';
    }
    if (msg.method !== StunMethod.Binding || (msg.class !== 'success' && msg.class !== 'error')) {
      this.dropped.notResponse++;
      return 'ignored';
    }
    this.pending.delete(key);
    if (msg.class === 'error') {
      const e = msg.errorCode;
      this.finish({
        server: tx.server,
        kind: 'error',
        code: e?.code ?? 0,
        reason: e?.reason ?? 'error response without ERROR-CODE',
      });
    } else if (!msg.mappedAddress) {
      this.finish({
        server: tx.server,
        kind: 'bad-response',
        reason: 'success response without XOR-MAPPED-ADDRESS or MAPPED-ADDRESS',
      });
    } else {
      this.finish({
        server: tx.server,
        kind: 'mapped',
        mapped: msg.mappedAddress,
        // Karn: an RTT is only unambiguous after a single transmission.
        rtt: tx.transmits === 1 ? now - tx.firstSent : now - tx.lastSent,
        transmits: tx.transmits,
      });
    }
    return 'answered';
  }

  summary(): StunSummary {
    const results = [...this.finished];
    return {
      done: this.done,
      mapped: mappedOf(results)[0],
      behaviour: mappingBehaviour(results),
      results,
    };
  }

  private send(tx: Transaction, now: number): void {
    tx.transmits++;
    tx.lastSent = now;
    tx.deadline = now + (tx.transmits < this.maxTransmits ? tx.rto : this.rto * this.lastWait);
    this.transmits.push({ to: tx.server, data: tx.request });
  }

  private finish(result: StunResult): void {
    this.finished.push(result);
    this.unread.push(result);
  }
}

function mappedOf(results: readonly StunResult[]): Addr[] {
  const out: Addr[] = [];
  for (const r of results) if (r.kind === 'mapped') out.push(r.mapped);
  return out;
}

/** Compares the addresses the servers saw (see MappingBehaviour). */
export function mappingBehaviour(results: readonly StunResult[]): MappingBehaviour {
  const seen = mappedOf(results);
  if (seen.length < 2) return 'unknown';
  const firstKey = addrKey(seen[0]!);
  return seen.every((a) => addrKey(a) === firstKey) ? 'endpoint-independent' : 'endpoint-dependent';
}
