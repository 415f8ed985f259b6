import { isIP } from 'node:net';
import type { Answer, Question } from 'dns-packet';
import multicastDns from 'multicast-dns';
import type { Addr } from '../core/address.js';
import { BadPacket, UsageError } from '../core/errors.js';
import { TokenBucket } from '../core/handshake/cookies.js';
import { fingerprint, parseFingerprint } from '../crypto/identity.js';
import { ipScope } from '../nat/targets.js';
import { type RecordPolicy, SALT, type Verdict } from './policy.js';

/**
 * LAN discovery over mDNS / DNS-SD (RFC 6762, RFC 6763): we announce the
 * service `_srmudp._udp.local` with one instance per node, named by its
 * fingerprint, and browse for the keys we are looking for.
 *
 * The instance's TXT record (RFC 6763 §6) carries the same signed item as
 * the DHT: `fp=` the fingerprint, `q=` the seq, `r=` the record bytes
 * (record.ts) and `s=` the Ed25519 signature over BEP 44's salt/seq/v
 * string — so the acceptance policy judges a LAN answer exactly like a DHT
 * one, and anyone on the LAN can claim a fingerprint but not sign for it.
 * Binary values are allowed in TXT (§6.5); each string is at most 255
 * bytes (§6.1), which the largest record (228 bytes) fits.
 *
 * Only keys we want are judged (others are counted and ignored), and we
 * answer queries at most once a second after a burst of two (§6 of RFC
 * 6762 limits multicast answers to one a second per record), so a LAN
 * host cannot make us verify or multicast without bound.
 */
export const SERVICE = '_srmudp._udp.local';
const TXT_TTL = 4500; // RFC 6762 §10: 75 minutes for records not tied to a host name
const HOST_TTL = 120; // RFC 6762 §10: 120 s for PTR/SRV/A tied to a host

/** The part of a multicast-dns instance we use, so tests can pass a fake LAN. */
export interface MdnsTransport {
  on(event: 'query' | 'response', listener: (packet: MdnsPacket, rinfo: Addr) => void): unknown;
  on(event: 'warning' | 'error', listener: (err: Error) => void): unknown;
  query(packet: { questions: Question[] }): void;
  respond(packet: { answers: Answer[]; additionals?: Answer[] }): void;
  destroy(cb?: () => void): void;
}

/** What a decoded mDNS packet holds, as far as we read it (hostile). */
export interface MdnsPacket {
  questions?: readonly { name?: unknown; type?: unknown }[];
  answers?: readonly unknown[];
  additionals?: readonly unknown[];
}

/** The signed item we announce: our key, and the record with its seq and signature. */
export interface LanItem {
  key: Buffer;
  v: Buffer;
  seq: number;
  sig: Buffer;
  /** UDP port of the peer socket (SRV), and IPv4 host addresses (A records). */
  port: number;
  ipv4: string[];
}

export interface MdnsStats {
  announces: number;
  queries: number;
  /** Queries we did not answer for want of budget. */
  throttled: number;
  /** Instances of keys we are not looking for. */
  ignored: number;
  /** Packets or TXT records we could not read (counted, dropped). */
  malformed: number;
}

export type LanFound = (key: Buffer, verdict: Extract<Verdict, { ok: true }>, via: Addr) => void;

export class MdnsDiscovery {
  readonly stats: MdnsStats = { announces: 0, queries: 0, throttled: 0, ignored: 0, malformed: 0 };
  private item: LanItem | undefined;
  private readonly wanted = new Set<string>();
  private readonly answerBudget = new TokenBucket(1, 2);

  constructor(
    private readonly transport: MdnsTransport,
    private readonly policy: RecordPolicy,
    private readonly found: LanFound,
    private readonly clock: () => number,
  ) {
    transport.on('query', (packet, rinfo) => this.guard(() => this.onQuery(packet, rinfo)));
    transport.on('response', (packet, rinfo) => this.guard(() => this.onResponse(packet, rinfo)));
    transport.on('warning', () => this.stats.malformed++);
    transport.on('error', () => this.stats.malformed++);
  }

  /** What we announce (undefined: browse only, announce nothing); announces at once. */
  announce(item: LanItem | undefined): void {
    this.item = item;
    if (item) this.send();
  }

  /** Starts looking for `key`: asks the LAN at once (later asks: `browse`). */
  want(key: Uint8Array): void {
    this.wanted.add(Buffer.from(key).toString('hex'));
    this.browse();
  }

  unwant(key: Uint8Array): void {
    this.wanted.delete(Buffer.from(key).toString('hex'));
  }

  get wanting(): number {
    return this.wanted.size;
  }

  /** One DNS-SD browse query (RFC 6763 §4.1: PTR for the service type). */
  browse(): void {
    this.stats.queries++;
    this.transport.query({ questions: [{ name: SERVICE, type: 'PTR' }] });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.transport.destroy(() => resolve()));
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (err instanceof BadPacket || err instanceof UsageError) {
        this.stats.malformed++;
        return;
      }
      throw err;
    }
  }

  private onQuery(packet: MdnsPacket, _rinfo: Addr): void {
    if (!this.item) return;
    const ours = instanceName(this.item.key);
    const asked = (packet.questions ?? []).some(
      (q) => typeof q.name === 'string' && [SERVICE, ours].includes(q.name.toLowerCase()),
    );
    if (!asked) return;
    if (!this.answerBudget.take(this.clock())) {
      this.stats.throttled++;
      return;
    }
    this.send();
  }

  private send(): void {
    if (!this.item) return;
    this.stats.announces++;
    const [ptr, ...rest] = lanAnswers(this.item);
    this.transport.respond({ answers: [ptr!], additionals: rest });
  }

  private onResponse(packet: MdnsPacket, rinfo: Addr): void {
    for (const rr of [...(packet.answers ?? []), ...(packet.additionals ?? [])]) {
      if (!isTxt(rr)) continue;
      const name = rr.name.toLowerCase();
      if (!name.endsWith(`.${SERVICE}`)) continue;
      const txt = parseLanTxt(rr.data);
      if (instanceName(txt.key) !== name) throw new BadPacket('malformed', 'instance name');
      if (!this.wanted.has(txt.key.toString('hex'))) {
        this.stats.ignored++;
        continue;
      }
      const verdict = this.policy.judge(txt.key, {
        k: txt.key,
        salt: SALT,
        seq: txt.seq,
        v: txt.v,
        sig: txt.sig,
      });
      if (verdict.ok) this.found(txt.key, verdict, { address: rinfo.address, port: rinfo.port });
    }
  }
}

/** The IPv4 addresses our A records name: never loopback, which means the answerer's own host. */
export function lanIpv4(addrs: readonly Addr[]): string[] {
  return addrs.map((a) => a.address).filter((a) => isIP(a) === 4 && ipScope(a) !== 'loopback');
}

/** `<fingerprint>._srmudp._udp.local`: the DNS-SD instance of a key (a 52-byte label, ≤ 63). */
export function instanceName(key: Uint8Array): string {
  return `${fingerprint(key)}.${SERVICE}`;
}

/** PTR first (the answer), then SRV, TXT and A (additionals, RFC 6763 §12.1). */
export function lanAnswers(item: LanItem): Answer[] {
  const instance = instanceName(item.key);
  const host = `${fingerprint(item.key)}.local`;
  const txt: Buffer[] = [
    Buffer.from('v=1'),
    Buffer.from(`fp=${fingerprint(item.key)}`),
    Buffer.from(`q=${item.seq}`),
    Buffer.concat([Buffer.from('r='), item.v]),
    Buffer.concat([Buffer.from('s='), item.sig]),
  ];
  if (txt.some((s) => s.length > 255))
    throw new UsageError('a LAN record must fit one 255-byte TXT string');
  return [
    { name: SERVICE, type: 'PTR', ttl: HOST_TTL, data: instance },
    { name: instance, type: 'SRV', ttl: HOST_TTL, data: { port: item.port, target: host } },
    { name: instance, type: 'TXT', ttl: TXT_TTL, data: txt },
    ...item.ipv4.map((a): Answer => ({ name: host, type: 'A', ttl: HOST_TTL, data: a })),
  ];
}

export interface LanTxt {
  key: Buffer;
  seq: number;
  v: Buffer;
  sig: Buffer;
}

/**
 * Reads our TXT strings (hostile). Keys are case-insensitive and the first
 * of a repeated key wins (RFC 6763 §6.4). Throws BadPacket.
 */
export function parseLanTxt(data: unknown): LanTxt {
  const strings = Array.isArray(data) ? data : [data];
  const fields = new Map<string, Buffer>();
  for (const s of strings) {
    const b = Buffer.isBuffer(s) ? s : typeof s === 'string' ? Buffer.from(s) : undefined;
    if (!b) throw new BadPacket('malformed', 'TXT string');
    const eq = b.indexOf(0x3d);
    if (eq <= 0) continue; // a boolean attribute or an empty string: not ours
    const key = b.subarray(0, eq).toString('latin1').toLowerCase();
    if (!fields.has(key)) fields.set(key, b.subarray(eq + 1));
  }
  if (fields.get('v')?.toString() !== '1') throw new BadPacket('version', 'LAN record version');
  const fp = fields.get('fp');
  const q = fields.get('q')?.toString('latin1');
  const v = fields.get('r');
  const sig = fields.get('s');
  if (!fp || !q || !v || !sig || !/^\d{1,16}$/.test(q))
    throw new BadPacket('malformed', 'LAN record fields');
  let key: Buffer;
  try {
    key = parseFingerprint(fp.toString('latin1'));
  } catch {
    throw new BadPacket('malformed', 'LAN record fingerprint');
  }
  return { key, seq: Number(q), v: Buffer.from(v), sig: Buffer.from(sig) };
}

function isTxt(rr: unknown): rr is { name: string; type: 'TXT'; data: unknown } {
  if (typeof rr !== 'object' || rr === null) return false;
  const r = rr as { name?: unknown; type?: unknown };
  return r.type === 'TXT' && typeof r.name === 'string';
}

/**
 * The real transport: multicast-dns on 224.0.0.251:5353 (all interfaces),
 * adapted to MdnsTransport. Its packets are dns-packet's decoding of
 * hostile bytes, read through the `unknown`-typed MdnsPacket.
 */
export function multicastTransport(make: () => MulticastLike): MdnsTransport {
  const m = make();
  return {
    on(event: string, listener: (...args: never[]) => void) {
      m.on(event, listener as (...args: unknown[]) => void);
      return undefined;
    },
    query: (packet) => m.query(packet),
    respond: (packet) => m.respond(packet),
    destroy: (cb) => m.destroy(cb),
  } as MdnsTransport;
}

/** What multicastTransport needs of a multicast-dns instance. */
export interface MulticastLike {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  query(packet: { questions: Question[] }): void;
  respond(packet: { answers: Answer[]; additionals?: Answer[] }): void;
  destroy(cb?: () => void): void;
}

/** mDNS on the host's interfaces (224.0.0.251:5353, our own packets looped back and ignored). */
export function lanTransport(): MdnsTransport {
  return multicastTransport(() => multicastDns({ loopback: true }) as unknown as MulticastLike);
}
