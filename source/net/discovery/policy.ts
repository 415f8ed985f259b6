import type { Addr } from '../core/address.js';
import { BadPacket } from '../core/errors.js';
import { TokenBucket } from '../core/handshake/cookies.js';
import { type Identity, signDetached, verifyDetached } from '../crypto/identity.js';
import { type LocalView, thirdPartyTargetAllowed } from '../nat/targets.js';
import { type Candidate, type DiscoveryRecord, decodeRecord, MAX_RECORD_BYTES } from './record.js';

/**
 * What we accept from a discovery record, and what it may make us send.
 * Pure: the DHT and mDNS adapters hand items in with `now`.
 *
 * A record comes from strangers' machines (DHT nodes, anyone on the LAN),
 * so it is judged like an introduction (nat/introductions.ts): it must be
 * signed by the very key we asked for (BEP 44 §"Mutable items": the
 * signature covers `salt`, `seq` and `v`), newer than what we already saw
 * from that key (BEP 44's `seq`, replay protection), and what we dial from
 * it is capped in addresses and in re-dials a minute, so a record cannot
 * turn us into a packet cannon aimed at a victim (RFC 9000 §21.5).
 */

/** BEP 44 salt for our items: one key may publish other things under other salts. */
export const SALT = Buffer.from('srmudp1');
/** Candidates dialled from one record (an introduction's cap, nat/introduce.ts). */
export const MAX_DIALED_CANDIDATES = 4;
/** Re-dials one key's records may cause: a burst, then this many a minute. */
export const DIALS_PER_KEY_PER_MINUTE = 4;
const DIALS_PER_KEY_BURST = 2;
/** Re-dials all records together may cause: a burst, then this many a minute. */
export const DIALS_PER_MINUTE = 60;
const DIALS_BURST = 16;
/** Keys whose last seq we remember (peers asked for, LAN neighbours): oldest forgotten first. */
export const MAX_TRACKED_KEYS = 1024;

export type RejectReason =
  | 'signature'
  | 'foreign-key'
  | 'salt'
  | 'stale'
  | 'oversized'
  | 'malformed'
  | 'rate-limited';

export const REJECT_REASONS: readonly RejectReason[] = [
  'signature',
  'foreign-key',
  'salt',
  'stale',
  'oversized',
  'malformed',
  'rate-limited',
];

/** A BEP 44 mutable item as a DHT node returns it (all of it hostile). */
export interface SignedItem {
  k: Uint8Array;
  salt: Uint8Array | undefined;
  seq: number;
  v: Uint8Array;
  sig: Uint8Array;
}

export type Verdict =
  | { ok: true; record: DiscoveryRecord; seq: number; fresh: boolean }
  | { ok: false; reason: RejectReason };

/**
 * The bytes BEP 44 signs: the bencoded dictionary {salt, seq, v} without
 * its outer `d`…`e` (`4:salt<n>:<salt>3:seqi<seq>e1:v<n>:<v>`), salt
 * omitted when empty. Built here rather than taken from the DHT library so
 * we verify what we understand, not what a dependency hands us.
 */
export function bep44SignedData(salt: Uint8Array | undefined, seq: number, v: Uint8Array): Buffer {
  const parts: Buffer[] = [];
  if (salt && salt.length > 0) parts.push(Buffer.from(`4:salt${salt.length}:`), Buffer.from(salt));
  parts.push(Buffer.from(`3:seqi${seq}e1:v${v.length}:`), Buffer.from(v));
  return Buffer.concat(parts);
}

/** Our own item: `v` signed under our identity key with BEP 44's salt/seq/v string. */
export function signItem(identity: Identity, v: Buffer, seq: number): SignedItem {
  return {
    k: identity.publicKey,
    salt: SALT,
    seq,
    v,
    sig: signDetached(identity, bep44SignedData(SALT, seq, v)),
  };
}

/**
 * BEP 44 seq for our items: milliseconds since the epoch, so it keeps
 * increasing across restarts, but strictly above the last one, so a
 * republish within one millisecond or after a clock step back still
 * supersedes it (nodes refuse a seq not above the one they hold).
 */
export class Sequencer {
  private last = 0;

  next(epochMs: number): number {
    this.last = Math.max(Math.floor(epochMs), this.last + 1);
    return this.last;
  }
}

export function validSeq(seq: unknown): seq is number {
  return typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0;
}

export class RecordPolicy {
  /** Last accepted seq per key (hex): Map order is insertion order, so the oldest goes first. */
  private readonly seen = new Map<string, number>();
  private readonly perKey = new Map<string, TokenBucket>();
  private readonly all = new TokenBucket(DIALS_PER_MINUTE / 60, DIALS_BURST);
  accepted = 0;
  readonly rejected: Record<RejectReason, number> = Object.fromEntries(
    REJECT_REASONS.map((r) => [r, 0]),
  ) as Record<RejectReason, number>;
  /** Candidates not dialled: not a permitted target, or past the per-record cap. */
  refusedTargets = 0;

  /** Judges an item found while looking up `asked`; counts the outcome. */
  judge(asked: Uint8Array, item: SignedItem): Verdict {
    const reason = this.check(asked, item);
    if (reason) return this.reject(reason);
    let record: DiscoveryRecord;
    try {
      record = decodeRecord(item.v);
    } catch (err) {
      if (err instanceof BadPacket) return this.reject('malformed');
      throw err;
    }
    const id = Buffer.from(asked).toString('hex');
    const last = this.seen.get(id);
    this.seen.delete(id);
    this.seen.set(id, item.seq);
    if (this.seen.size > MAX_TRACKED_KEYS) this.seen.delete(this.seen.keys().next().value!);
    this.accepted++;
    return { ok: true, record, seq: item.seq, fresh: last === undefined || item.seq > last };
  }

  /** Only the key asked for may answer, and only with a valid signature (cheap checks first). */
  private check(asked: Uint8Array, item: SignedItem): RejectReason | undefined {
    if (!Buffer.from(item.k).equals(Buffer.from(asked))) return 'foreign-key';
    if (!item.salt || !SALT.equals(Buffer.from(item.salt))) return 'salt';
    if (item.v.length > MAX_RECORD_BYTES) return 'oversized';
    if (!validSeq(item.seq)) return 'malformed';
    if (!verifyDetached(item.k, bep44SignedData(item.salt, item.seq, item.v), item.sig))
      return 'signature';
    const last = this.seen.get(Buffer.from(asked).toString('hex'));
    if (last !== undefined && item.seq < last) return 'stale';
    return undefined;
  }

  /** Counts a rejection seen elsewhere (the DHT library's own checks, see dht.ts). */
  reject(reason: RejectReason): Verdict {
    this.rejected[reason]++;
    return { ok: false, reason };
  }

  /**
   * The addresses an accepted record may make us dial now: permitted
   * targets only (nat/targets.ts; `via` is who told us, for mDNS the LAN
   * host that answered), at most MAX_DIALED_CANDIDATES, and none when the
   * key or the node has spent its re-dial budget (counted 'rate-limited').
   */
  dialTargets(
    key: Uint8Array,
    record: DiscoveryRecord,
    via: Addr | undefined,
    local: LocalView,
    now: number,
  ): Candidate[] {
    const allowed = record.candidates.filter((c) => thirdPartyTargetAllowed(c, via, local));
    const targets = allowed
      .slice(0, MAX_DIALED_CANDIDATES)
      .map((c) => ({ kind: c.kind, address: c.address, port: c.port }));
    this.refusedTargets += record.candidates.length - targets.length;
    if (targets.length === 0) return [];
    const id = Buffer.from(key).toString('hex');
    let bucket = this.perKey.get(id);
    if (!bucket) {
      bucket = new TokenBucket(DIALS_PER_KEY_PER_MINUTE / 60, DIALS_PER_KEY_BURST);
      this.perKey.set(id, bucket);
      if (this.perKey.size > MAX_TRACKED_KEYS) this.perKey.delete(this.perKey.keys().next().value!);
    }
    // Both budgets must allow it; the node-wide one is spent only if the key's was.
    if (!bucket.take(now) || !this.all.take(now)) {
      this.rejected['rate-limited']++;
      return [];
    }
    return targets;
  }
}
