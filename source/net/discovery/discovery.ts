import type { Addr } from '../core/address.js';
import type { NatMapping } from '../core/events.js';
import type { Identity } from '../crypto/identity.js';
import type { Introduction } from '../nat/introduce.js';
import type { LocalView } from '../nat/targets.js';
import { BroadcastBeacon } from './beacon.js';
import { DhtNode } from './dht.js';
import { MdnsDiscovery, type MdnsStats, type MdnsTransport } from './mdns.js';
import {
  REJECT_REASONS,
  RecordPolicy,
  type RejectReason,
  Sequencer,
  type SignedItem,
  signItem,
  type Verdict,
} from './policy.js';
import { type DiscoveryRecord, encodeRecord } from './record.js';
import type { DiscoverySettings } from './settings.js';

/**
 * Finding peers by key: keeps our record published (DHT) and announced
 * (mDNS), looks up the keys the user added without an address, and dials
 * what an accepted record gives, through the policy's bounds. The socket
 * (shell/socket.ts) is its host: it supplies our record and local view and
 * performs the dial (addPeer, which pins the key for that name first).
 */

/** How often our record is rebuilt and compared (candidates change when STUN answers). */
export const REFRESH_INTERVAL = 5_000;
/**
 * Republish even when nothing changed: BEP 44 items are dropped by nodes
 * after a while (libtorrent keeps them about 2 hours), so well inside that.
 */
export const REPUBLISH_INTERVAL = 30 * 60_000;
/** A DHT publish that no node took (no route yet, bootstrap down) is tried again after this. */
export const PUBLISH_RETRY = 30_000;
/** Lookups for a key not yet connected back off from this … */
export const LOOKUP_RETRY_MIN = 2_000;
/** … to this; a connected key is looked up again at this pace (did it move?). */
export const LOOKUP_RETRY_MAX = 60_000;
export const LOOKUP_CONNECTED = 5 * 60_000;

export interface DiscoveryHost {
  readonly identity: Identity;
  /** Our record as of now (from the invite: nick, candidates, NAT mapping). */
  record(): DiscoveryRecord;
  /** UDP port of the peer socket and our IPv4 addresses (mDNS SRV and A records). */
  lanEndpoint(): { port: number; ipv4: string[] };
  local(): LocalView;
  connected(key: Buffer): boolean;
  /** Add (or re-address) `nick` pinned to `key` and dial `addrs`. */
  /** Direct candidates in `addrs`, TURN-relayed ones (dialed after them) in `relayed`. */
  dial(nick: string, key: Buffer, addrs: Addr[], nat: NatMapping, relayed?: Addr[]): void;
  /** Wall clock (ms since the epoch) for seq; monotonic ms for budgets. */
  epochNow(): number;
  now(): number;
}

/** The I/O discovery may use: where the DHT binds, how mDNS is reached, the beacon's port. */
export interface DiscoveryIo {
  /** IPv4 address for the DHT's own UDP socket. */
  dhtHost: string;
  /** multicast-dns, or a test's fake LAN; undefined: no mDNS. */
  mdnsTransport?: (() => MdnsTransport) | undefined;
  /** Broadcast beacon port; undefined: no beacon. */
  beaconPort?: number | undefined;
  /** DHT query timeout (ms; default bittorrent-dht's 2000). */
  dhtTimeout?: number;
  /** Shorter intervals for tests on real sockets. */
  timing?: { refresh?: number; publishRetry?: number };
}

export interface DiscoveryStats {
  dht: boolean;
  mdns: boolean;
  /** Versions of our record signed (at start, on change, and periodically). */
  versions: number;
  /** Our record stored in the DHT (times), and attempts no node took. */
  publishes: number;
  publishFailures: number;
  /** mDNS announcements and answers sent. */
  announces: number;
  lookups: number;
  accepted: number;
  rejected: Record<RejectReason, number>;
  /** Broadcast beacons (the LAN fallback where multicast is blocked): sent, received. */
  beaconsSent: number;
  beaconsReceived: number;
  /** Dials started from records, by where the record came from (lan = mDNS). */
  dials: { dht: number; lan: number; broadcast: number };
  /** Candidates not dialled (bad target or past the per-record cap). */
  refusedTargets: number;
  /** Names looked up by key, and where each was last found ('dht', 'lan' = mDNS, 'broadcast'), if yet (for /whois). */
  lookingFor: Record<string, DialSource | undefined>;
  /** Malformed DHT messages and mDNS packets, counted and dropped. */
  badMessages: number;
}

export type DialSource = 'dht' | 'lan' | 'broadcast';

interface Want {
  nick: string;
  key: Buffer;
  timer: NodeJS.Timeout | undefined;
  inFlight: boolean;
  failures: number;
  /** When we last dialled from a record (host.now()); undefined = never. */
  dialedAt: number | undefined;
  /**
   * The seq of the record we last dialled from. A newer record is news even
   * if the policy's budget refused its first sighting: "seen" is not
   * "dialled", or a move soon after a connect waited a minute.
   */
  dialedSeq: number | undefined;
  foundBy: DialSource | undefined;
}

export class Discovery {
  private readonly seqs = new Sequencer();
  private published: { bytes: Buffer; item: SignedItem; at: number } | undefined;
  private readonly wants = new Map<string, Want>();
  private readonly refreshTimer: NodeJS.Timeout;
  private readonly dials = { dht: 0, lan: 0, broadcast: 0 };
  private beacon: BroadcastBeacon | undefined;
  private versions = 0;
  /** Whether the last DHT publish reached any node (undefined: none yet, or in flight). */
  private dhtStored: boolean | undefined;
  private closed = false;
  private readonly mdns: MdnsDiscovery | undefined;

  /**
   * Starts what `settings` ask for: the DHT node (its own UDP socket on
   * `dhtHost`, IPv4) and mDNS over `mdnsTransport` (multicast-dns, or a
   * test's fake LAN).
   */
  static async start(
    host: DiscoveryHost,
    settings: DiscoverySettings,
    io: DiscoveryIo,
  ): Promise<Discovery> {
    const { dhtHost, mdnsTransport, beaconPort } = io;
    const policy = new RecordPolicy();
    const dht = settings.dht
      ? await DhtNode.start(policy, {
          bootstrap: settings.dht.bootstrap,
          host: dhtHost,
          waitReady: false,
          ...(io.dhtTimeout !== undefined ? { timeout: io.dhtTimeout } : {}),
        })
      : undefined;
    const transport = settings.mdns && mdnsTransport ? mdnsTransport() : undefined;
    const timing = { refresh: REFRESH_INTERVAL, publishRetry: PUBLISH_RETRY, ...io.timing };
    const d = new Discovery(host, policy, dht, settings.dht?.publish ?? false, transport, timing);
    if (settings.mdns && beaconPort !== undefined) {
      // The broadcast fallback is best effort: a port in use leaves mDNS alone.
      const found = (k: Buffer, v: Extract<Verdict, { ok: true }>, via: Addr) =>
        d.act(k, v, via, 'broadcast');
      const beacon = await BroadcastBeacon.start(policy, found, () => host.now(), beaconPort).catch(
        () => undefined,
      );
      if (beacon) d.attachBeacon(beacon);
    }
    return d;
  }

  private attachBeacon(beacon: BroadcastBeacon): void {
    if (this.closed) {
      void beacon.close();
      return;
    }
    this.beacon = beacon;
    if (this.published) beacon.announce(this.published.item);
    for (const w of this.wants.values()) beacon.want(w.key);
  }

  private constructor(
    private readonly host: DiscoveryHost,
    readonly policy: RecordPolicy,
    private readonly dht: DhtNode | undefined,
    private readonly publishDht: boolean,
    transport: MdnsTransport | undefined,
    private readonly timing: { refresh: number; publishRetry: number },
  ) {
    this.mdns = transport
      ? new MdnsDiscovery(
          transport,
          policy,
          (k, v, via) => this.act(k, v, via, 'lan'),
          () => host.now(),
        )
      : undefined;
    this.refreshTimer = setInterval(() => this.refresh(), timing.refresh);
    this.refreshTimer.unref();
    this.refresh();
  }

  /** Looks `key` up for `nick` (DHT and LAN) until forgotten; dials what it finds. */
  find(nick: string, key: Buffer): void {
    this.forget(nick); // a name looks for one key: the latest the user gave
    const id = key.toString('hex');
    const old = this.wants.get(id);
    if (old) clearTimeout(old.timer);
    const want: Want = {
      nick,
      key,
      timer: undefined,
      inFlight: false,
      failures: 0,
      dialedAt: undefined,
      dialedSeq: undefined,
      foundBy: undefined,
    };
    this.wants.set(id, want);
    this.mdns?.want(key); // asks the LAN at once
    this.beacon?.want(key);
    if (this.dht) void this.lookup(id, false);
    else this.schedule(want);
  }

  /** Stops looking for whatever `nick` was looking for; whether it was. */
  forget(nick: string): boolean {
    let found = false;
    for (const [id, w] of this.wants) {
      if (w.nick !== nick) continue;
      clearTimeout(w.timer);
      this.wants.delete(id);
      this.mdns?.unwant(w.key);
      this.beacon?.unwant(w.key);
      found = true;
    }
    return found;
  }

  /**
   * What the socket saw of a peer. A wanted key that connected under
   * another name (it dialled us first, as a stranger) takes the name we
   * gave it, pinned, at the address it is already talking from; a wanted
   * name that disconnected is looked up again at once (did it move?).
   */
  onPeer(nick: string, key: Buffer | undefined, change: string, address: Addr | undefined): void {
    if (this.closed) return;
    if (change === 'connected' && key && address) {
      const want = this.wants.get(key.toString('hex'));
      if (want && want.nick !== nick) this.host.dial(want.nick, key, [address], 'unknown');
      return;
    }
    if (change !== 'disconnected') return;
    for (const [id, want] of this.wants) {
      if (want.nick !== nick) continue;
      clearTimeout(want.timer);
      want.failures = 0;
      void this.lookup(id, true);
    }
  }

  /**
   * Rebuilds our record; publishes and announces it when it changed or the
   * last publish is getting old.
   */
  refresh(): void {
    if (this.closed) return;
    const bytes = encodeRecord(this.host.record());
    const now = this.host.now();
    const p = this.published;
    const retry = this.dhtStored === false && now - (p?.at ?? 0) >= this.timing.publishRetry;
    if (p?.bytes.equals(bytes) && now - p.at < REPUBLISH_INTERVAL && !retry) return;
    const item = signItem(this.host.identity, bytes, this.seqs.next(this.host.epochNow()));
    this.published = { bytes, item, at: now };
    this.versions++;
    if (this.dht && this.publishDht) {
      this.dhtStored = undefined; // in flight
      void this.dht.publish(item).then((n) => {
        if (this.published?.item === item) this.dhtStored = n > 0;
      });
    }
    this.beacon?.announce(item);
    if (this.mdns) {
      const lan = this.host.lanEndpoint();
      this.mdns.announce({
        key: Buffer.from(item.k),
        v: bytes,
        seq: item.seq,
        sig: Buffer.from(item.sig),
        ...lan,
      });
    }
  }

  stats(): DiscoveryStats {
    const d = this.dht?.stats;
    const m: MdnsStats | undefined = this.mdns?.stats;
    const rejected = Object.fromEntries(
      REJECT_REASONS.map((r) => [r, this.policy.rejected[r]]),
    ) as Record<RejectReason, number>;
    return {
      dht: this.dht !== undefined,
      mdns: this.mdns !== undefined,
      versions: this.versions,
      publishes: d?.publishes ?? 0,
      publishFailures: d?.publishFailures ?? 0,
      announces: m?.announces ?? 0,
      lookups: (d?.lookups ?? 0) + (m?.queries ?? 0),
      accepted: this.policy.accepted,
      rejected,
      beaconsSent: this.beacon?.stats.sent ?? 0,
      beaconsReceived: this.beacon?.stats.received ?? 0,
      dials: { ...this.dials },
      refusedTargets: this.policy.refusedTargets,
      lookingFor: Object.fromEntries([...this.wants.values()].map((w) => [w.nick, w.foundBy])),
      badMessages:
        (d?.badMessages ?? 0) + (m?.malformed ?? 0) + (this.beacon?.stats.malformed ?? 0),
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.refreshTimer);
    for (const w of this.wants.values()) clearTimeout(w.timer);
    this.wants.clear();
    await Promise.all([this.dht?.close(), this.mdns?.close(), this.beacon?.close()]);
  }

  /** A DHT lookup (if on), and on retries a LAN browse too (if on). */
  private async lookup(id: string, browse: boolean): Promise<void> {
    const want = this.wants.get(id);
    if (!want || want.inFlight || this.closed) return;
    want.timer = undefined;
    if (browse) {
      this.mdns?.browse();
      this.beacon?.query(want.key);
    }
    if (this.dht) {
      want.inFlight = true;
      const found = await this.dht.resolve(want.key);
      want.inFlight = false;
      if (this.closed || this.wants.get(id) !== want) return;
      if (found) this.act(want.key, found, undefined, 'dht');
      want.failures = found ? 0 : want.failures + 1;
    } else want.failures++;
    this.schedule(want);
  }

  /** Next lookup: the first retry after LOOKUP_RETRY_MIN, doubling per miss up to LOOKUP_RETRY_MAX. */
  private schedule(want: Want): void {
    const delay = this.host.connected(want.key)
      ? LOOKUP_CONNECTED
      : Math.min(
          LOOKUP_RETRY_MAX,
          LOOKUP_RETRY_MIN * 2 ** Math.max(0, Math.min(want.failures - 1, 10)),
        );
    const id = want.key.toString('hex');
    want.timer = setTimeout(() => void this.lookup(id, true), delay);
    want.timer.unref();
  }

  /**
   * A fresh record is dialled (bob moved); the same record again only
   * while not connected and not dialled within LOOKUP_RETRY_MAX (the
   * dialer is still trying those addresses). All within the policy's bounds.
   */
  private act(
    key: Buffer,
    verdict: Extract<Verdict, { ok: true }>,
    via: Addr | undefined,
    source: DialSource,
  ): void {
    const want = this.wants.get(key.toString('hex'));
    if (!want || this.closed) return;
    const now = this.host.now();
    const fresh = want.dialedSeq === undefined || verdict.seq > want.dialedSeq;
    if (!fresh) {
      if (this.host.connected(key)) return;
      if (want.dialedAt !== undefined && now - want.dialedAt < LOOKUP_RETRY_MAX) return;
    }
    const targets = this.policy.dialTargets(key, verdict.record, via, this.host.local(), now);
    if (targets.length === 0) return;
    want.dialedAt = now;
    want.dialedSeq = verdict.seq;
    want.foundBy = source;
    this.dials[source]++;
    const plain = (c: Addr) => ({ address: c.address, port: c.port });
    const direct = targets.filter((c) => c.kind !== 'relayed').map(plain);
    const relayed = targets.filter((c) => c.kind === 'relayed').map(plain);
    this.host.dial(want.nick, key, direct, verdict.record.nat, relayed);
  }
}

/** Our record from what an invite code holds (the reflexive address, if any, is first there). */
export function recordFromInvite(invite: Introduction, reflexive: boolean): DiscoveryRecord {
  return {
    nick: invite.nick,
    nat: invite.nat ?? 'unknown',
    candidates: [
      ...invite.addrs.map((a, i) => ({
        kind: reflexive && i === 0 ? ('reflexive' as const) : ('host' as const),
        address: a.address,
        port: a.port,
      })),
      // Lowest priority (host > reflexive > relayed, as ICE): last in the list.
      ...(invite.relayed ?? []).map((a) => ({
        kind: 'relayed' as const,
        address: a.address,
        port: a.port,
      })),
    ],
  };
}
