import { EventEmitter } from 'node:events';
import type { DiscoveryStats, PeerAddress, SocketStats } from '../../source/index.js';
import { TransportError, UsageError } from '../../source/net/core/errors.js';
import type {
  PeerInfo,
  SendOptions,
  SocketEvents,
  StunInfo,
} from '../../source/net/shell/socket.js';
import { discoveryStats, FP_ALICE, peer, socketStats } from '../ui/fixtures.js';

/**
 * The chat's socket faked for the controller's tests and line mode's
 * (test/app/linemode.test.ts): records what the chat asks of it, and each
 * send settles when the test says.
 */

export const FP_BOB = 'rhpvxvglnj77cxqvsswne6u3qob37r5fjkzxqh6fcnytl4mjweza';
export const FP_EVE = 'hoedrikisoul3m6khpwsumlphenbfvvnw5gvu6gityzcxqzy4daq';

/** A peer as a freshly added one looks (no traffic yet). */
export function info(nick: string, over: Partial<PeerInfo> = {}): PeerInfo {
  return peer(
    nick,
    { fingerprint: FP_BOB, state: { kind: 'connected', since: 0 }, ...over },
    {
      packetsSent: 0,
      packetsReceived: 0,
      bytesSent: 0,
      bytesReceived: 0,
      packetsLost: 0,
      retransmits: 0,
      smoothedRtt: undefined,
      minRtt: undefined,
      rttVariance: undefined,
      lossRate: 0,
      congestionWindow: undefined,
      mtu: undefined,
      lastSeen: undefined,
    },
  );
}

/** Just enough of MultiHolepunchSocket, recording what the chat asks of it. */
export class FakeSocket extends EventEmitter<SocketEvents> {
  readonly fingerprint = FP_ALICE;
  list: PeerInfo[] = [];
  sent: { content: Buffer; opts: SendOptions | undefined; settle: (err?: Error) => void }[] = [];
  added: Record<string, PeerAddress>[] = [];
  removed: string[] = [];
  blocked: string[] = [];
  unblocked: string[] = [];
  /** The transport's pins: the one truth the chat asks. */
  pins = new Map<string, string>();
  trusted: string[] = [];
  closed = false;
  stun: StunInfo | undefined;
  invitesMade = 0;
  /** stats().discovery: undefined = the DHT and mDNS off, as the library reports it. */
  discovery: DiscoveryStats | undefined;
  relay: SocketStats['relay'];

  /** Turns discovery on (as bind({ dht, mdns }) would), looking for no one yet. */
  discover(over: Partial<DiscoveryStats> = {}): DiscoveryStats {
    this.discovery = discoveryStats({ lookingFor: {}, ...over });
    return this.discovery;
  }
  stats(): SocketStats {
    return socketStats({ discovery: this.discovery, relay: this.relay });
  }

  send(content: string | Uint8Array, opts?: SendOptions): Promise<void> {
    return new Promise((resolve, reject) => {
      this.sent.push({
        content: Buffer.from(content),
        opts,
        settle: (err) => (err ? reject(err) : resolve()),
      });
    });
  }
  peers(): PeerInfo[] {
    return this.list;
  }
  async addPeers(peers: Record<string, PeerAddress>): Promise<void> {
    if (Object.keys(peers).includes('unresolvable')) throw new UsageError('cannot resolve "x"');
    for (const [nick, a] of Object.entries(peers)) {
      const fp = typeof a === 'string' ? undefined : a.fingerprint;
      const pin = this.pins.get(nick);
      if (fp && pin && pin !== fp) throw new UsageError(`${nick} is pinned to key ${pin}`);
    }
    this.added.push(peers);
    for (const [nick, a] of Object.entries(peers)) {
      // A key alone is looked up, as the library does: no peer until found.
      if (typeof a !== 'string' && a.address === undefined) {
        if (!this.discovery) throw new UsageError(`${nick}: a fingerprint alone needs discovery`);
        this.discovery.lookingFor[nick] = undefined;
        continue;
      }
      // A record of that name (a stranger connected from there) is pinned in place.
      const held = this.list.findIndex((p) => p.nick === nick);
      if (held >= 0) this.list[held] = { ...this.list[held]!, pinned: true };
      else this.list.push(info(nick, { state: { kind: 'connecting', since: 0, attempt: 0 } }));
    }
  }
  removePeer(nick: string): void {
    this.removed.push(nick);
    if (this.discovery) delete this.discovery.lookingFor[nick];
    this.list = this.list.filter((p) => p.nick !== nick);
  }
  block(fp: string): void {
    this.blocked.push(fp);
  }
  unblock(fp: string): void {
    this.unblocked.push(fp);
  }
  isBlocked(fp: string): boolean {
    return (
      this.blocked.filter((b) => b === fp).length > this.unblocked.filter((b) => b === fp).length
    );
  }
  pinnedFingerprint(nick: string): string | undefined {
    return this.pins.get(nick);
  }
  async trustNewKey(nick: string): Promise<void> {
    this.trusted.push(nick);
  }
  stunInfo(): StunInfo | undefined {
    return this.stun;
  }
  invite(): string {
    this.invitesMade++;
    return `srmudp1:code-${this.stun?.publicAddress ?? 'local'}`;
  }
  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.sent) s.settle(new TransportError('socket closed', 'closed'));
  }
}
