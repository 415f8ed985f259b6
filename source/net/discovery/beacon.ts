import dgram from 'node:dgram';
import { networkInterfaces } from 'node:os';
import type { Addr } from '../core/address.js';
import { BadPacket } from '../core/errors.js';
import { TokenBucket } from '../core/handshake/cookies.js';
import { ipToBytes } from '../wire/ip.js';
import { Reader } from '../wire/reader.js';
import { type RecordPolicy, SALT, type SignedItem, type Verdict } from './policy.js';
import { MAX_RECORD_BYTES } from './record.js';

/**
 * The LAN fallback where multicast is blocked (many Wi-Fi networks filter
 * it, so mDNS never arrives): a UDP broadcast beacon to each interface's
 * directed broadcast address (RFC 919 §7, RFC 922) on BEACON_PORT.
 *
 *   "SRMB" version:u8(1) type:u8
 *   type 1, announce: key:32 seq:u64 sig:64 length:u16 record
 *   type 2, query:    key:32            ("whoever holds this key, announce")
 *
 * An announcement is the DHT's signed item (key, seq, record, signature
 * over BEP 44's salt/seq/v), judged by the same policy. We announce every
 * BEACON_INTERVAL and when asked, answering queries at most once a second
 * after a burst of two; only keys we look for are judged.
 */
export const BEACON_PORT = 47913;
export const BEACON_INTERVAL = 30_000;
const MAGIC = Buffer.from('SRMB');
const VERSION = 1;
const ANNOUNCE = 1;
const QUERY = 2;

export type Beacon =
  | { type: 'announce'; item: SignedItem & { k: Buffer; v: Buffer; sig: Buffer } }
  | { type: 'query'; key: Buffer };

export function encodeBeacon(b: Beacon): Buffer {
  const head = Buffer.concat([
    MAGIC,
    Buffer.from([VERSION, b.type === 'announce' ? ANNOUNCE : QUERY]),
  ]);
  if (b.type === 'query') return Buffer.concat([head, b.key]);
  const { k, seq, sig, v } = b.item;
  const fixed = Buffer.alloc(8 + 2);
  fixed.writeBigUInt64BE(BigInt(seq), 0);
  fixed.writeUInt16BE(v.length, 8);
  return Buffer.concat([head, k, fixed.subarray(0, 8), sig, fixed.subarray(8), v]);
}

/** Decodes hostile bytes from the LAN; throws BadPacket only. */
export function decodeBeacon(data: Uint8Array): Beacon {
  const r = new Reader(data);
  if (!MAGIC.equals(Buffer.from(r.bytes(4, 'magic'))))
    throw new BadPacket('malformed', 'not a beacon');
  if (r.u8('version') !== VERSION) throw new BadPacket('version', 'beacon version');
  const type = r.u8('type');
  const key = Buffer.from(r.bytes(32, 'key'));
  if (type === QUERY) {
    if (r.remaining !== 0) throw new BadPacket('malformed', 'trailing bytes');
    return { type: 'query', key };
  }
  if (type !== ANNOUNCE) throw new BadPacket('unknown-type', 'beacon type');
  const seq = r.u64('seq');
  const sig = Buffer.from(r.bytes(64, 'signature'));
  const length = r.u8('length') * 256 + r.u8('length');
  if (length > MAX_RECORD_BYTES) throw new BadPacket('malformed', 'record too long');
  const v = Buffer.from(r.bytes(length, 'record'));
  if (r.remaining !== 0) throw new BadPacket('malformed', 'trailing bytes');
  return { type: 'announce', item: { k: key, salt: SALT, seq, v, sig } };
}

/** Directed broadcast addresses of this host's IPv4 interfaces (address | ~netmask). */
export function broadcastAddresses(): string[] {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) {
      if (i.family !== 'IPv4' || i.internal) continue;
      const a = ipToBytes(i.address);
      const m = ipToBytes(i.netmask);
      out.add([0, 1, 2, 3].map((n) => (a[n]! | (~m[n]! & 0xff)) & 0xff).join('.'));
    }
  }
  return [...out];
}

export interface BeaconStats {
  sent: number;
  received: number;
  malformed: number;
  throttled: number;
}

export type BeaconFound = (key: Buffer, verdict: Extract<Verdict, { ok: true }>, via: Addr) => void;

export class BroadcastBeacon {
  readonly stats: BeaconStats = { sent: 0, received: 0, malformed: 0, throttled: 0 };
  private ours: Buffer | undefined;
  private ourKey: Buffer | undefined;
  private readonly wanted = new Set<string>();
  private readonly answerBudget = new TokenBucket(1, 2);
  private readonly timer: NodeJS.Timeout;

  private constructor(
    private readonly socket: dgram.Socket,
    private readonly policy: RecordPolicy,
    private readonly found: BeaconFound,
    private readonly port: number,
    private readonly clock: () => number,
  ) {
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    socket.on('error', () => this.stats.malformed++);
    this.timer = setInterval(() => this.send(this.ours), BEACON_INTERVAL);
    this.timer.unref();
  }

  static async start(
    policy: RecordPolicy,
    found: BeaconFound,
    clock: () => number,
    port = BEACON_PORT,
  ): Promise<BroadcastBeacon> {
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.setBroadcast(true);
    return new BroadcastBeacon(socket, policy, found, port, clock);
  }

  /** Our signed item: broadcast now and every BEACON_INTERVAL. */
  announce(item: SignedItem): void {
    this.ourKey = Buffer.from(item.k);
    this.ours = encodeBeacon({
      type: 'announce',
      item: { ...item, k: Buffer.from(item.k), v: Buffer.from(item.v), sig: Buffer.from(item.sig) },
    });
    this.send(this.ours);
  }

  want(key: Uint8Array): void {
    this.wanted.add(Buffer.from(key).toString('hex'));
    this.query(key);
  }

  unwant(key: Uint8Array): void {
    this.wanted.delete(Buffer.from(key).toString('hex'));
  }

  query(key: Uint8Array): void {
    this.send(encodeBeacon({ type: 'query', key: Buffer.from(key) }));
  }

  close(): Promise<void> {
    clearInterval(this.timer);
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private send(datagram: Buffer | undefined): void {
    if (!datagram) return;
    for (const address of broadcastAddresses()) {
      this.stats.sent++;
      this.socket.send(datagram, this.port, address, () => undefined);
    }
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    this.stats.received++;
    let beacon: Beacon;
    try {
      beacon = decodeBeacon(msg);
    } catch (err) {
      if (!(err instanceof BadPacket)) throw err;
      this.stats.malformed++;
      return;
    }
    if (beacon.type === 'query') {
      if (!this.ourKey?.equals(beacon.key)) return;
      if (this.answerBudget.take(this.clock())) this.send(this.ours);
      else this.stats.throttled++;
      return;
    }
    const key = beacon.item.k;
    if (!this.wanted.has(key.toString('hex'))) return;
    const verdict = this.policy.judge(key, beacon.item);
    if (verdict.ok) this.found(key, verdict, { address: rinfo.address, port: rinfo.port });
  }
}
