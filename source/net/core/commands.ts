import type { Birthday, ProbingStats } from '../nat/birthday.js';
import type { IntroductionPolicy } from '../nat/introductions.js';
import type { StunClientOptions, StunSummary } from '../nat/stun.js';
import type { Addr } from './address.js';
import type { PeerSpec } from './config.js';
import { MAX_MESSAGE_SIZE } from './conn/streamlimits.js';
import { UsageError } from './errors.js';
import type { Handshakes } from './handshake/handshakes.js';
import type { DirtyPeers } from './peers/dirty.js';
import type { Peer } from './peers/peer.js';
import type { PeerRegistry } from './peers/registry.js';
import type { Trust } from './peers/trust.js';
import type { PublicAddress } from './publicaddr.js';
import type { Relay, RelayServer, RelayStats } from './relay.js';
import { type PeerSnapshot, snapshot } from './stats.js';

/** A send's recipients as a list: one nick may come as itself (no array per unicast). */
export function nickList(recipients: string | readonly string[]): readonly string[] {
  return typeof recipients === 'string' ? [recipients] : recipients;
}

/** The error for a send naming peers we do not have ("unknown peers: a, b"). */
export function unknownPeers(
  recipients: string | readonly string[],
  has: (nick: string) => boolean,
): UsageError {
  const unknown = nickList(recipients).filter((n) => !has(n));
  return new UsageError(`unknown peer${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`);
}

/**
 * The endpoint's user surface: commands (peers, keys, messages) and queries
 * (snapshots, counters). Each is a short call into a room; the demux, the
 * timers and the poll loop are in endpoint.ts, which extends this class and
 * supplies the rooms.
 */
export abstract class EndpointCommands {
  /** The latest `now` any call passed (for work a later poll does). */
  protected lastNow = 0;
  protected nextMessageId = 1;
  protected abstract readonly registry: PeerRegistry;
  protected abstract readonly names: Trust;
  protected abstract readonly handshakes: Handshakes;
  protected abstract readonly birthday: Birthday;
  protected abstract readonly introPolicy: IntroductionPolicy;
  protected abstract readonly publicAddress: PublicAddress;
  protected abstract readonly relay: Relay;
  /** Peers whose packets and deadline the next poll recomputes. */
  protected abstract readonly dirty: DirtyPeers;

  // ---- peers and keys ----------------------------------------------------------

  /**
   * Adds (or re-addresses) a peer under a name the user chose; see
   * peers/trust.ts for the rules. Every check runs before anything changes.
   */
  addPeer(nick: string, spec: PeerSpec, now: number): void {
    this.lastNow = now;
    // What the user names is the user's, even where a record named it first
    // (before the add: it dials at once).
    this.registry.get(nick)?.dialing.markFound(specAddrs(spec), false);
    this.names.add(nick, spec, now);
  }

  /**
   * As addPeer, for what a DHT or LAN record (discovery/) found for a key the
   * user asked for: whoever holds that key chose these addresses, so each
   * INIT to one spends the node-wide third-party budget, as an introduced
   * address does (nat/introductions.ts).
   */
  addFoundPeer(nick: string, spec: PeerSpec, now: number): void {
    this.lastNow = now;
    const named = specAddrs(spec);
    this.introPolicy.withFound(named, () => this.names.add(nick, spec, now));
    this.registry.get(nick)?.dialing.markFound(named, true);
  }

  /** Forgets a peer the user removed, its pin included. */
  removePeer(nick: string, now: number): void {
    this.lastNow = now;
    this.names.remove(nick, now);
  }

  /** Refuses this key from now on; a connected peer with it is dropped. */
  block(key: Uint8Array, now: number): void {
    this.names.block(key, now);
  }

  unblock(key: Uint8Array): void {
    this.registry.unblock(key);
  }

  isBlocked(key: Uint8Array): boolean {
    return this.registry.isBlocked(key);
  }

  /** The key pinned for a name (trust store or first use), if any. */
  pinnedKey(nick: string): Buffer | undefined {
    return this.registry.pinnedKey(nick);
  }

  /** Accepts a changed key for a pinned name (after the user compared fingerprints). */
  trust(nick: string, key: Uint8Array, now: number): void {
    this.names.trust(nick, key, now);
  }

  /** Pins the key of a peer bound unconfirmed (its session came from the given IP on another port). */
  confirm(nick: string): void {
    this.names.confirm(nick);
  }

  // ---- messages ----------------------------------------------------------------

  /**
   * Queues one message for each recipient (a nick or nicks; undefined = every
   * connected peer). Unknown nicks reject the whole call before anything is queued.
   */
  sendMessage(
    recipients: string | readonly string[] | undefined,
    data: Uint8Array,
    now: number,
    streamId = 0,
  ): { id: number; peers: { id: number; nick: string }[] } {
    this.lastNow = now;
    if (data.length > MAX_MESSAGE_SIZE) {
      throw new UsageError(
        `message of ${data.length} bytes exceeds the maximum of ${MAX_MESSAGE_SIZE}`,
      );
    }
    // The common unicast: no array of targets, and the peer's own recipient
    // record (Peer.recipient) instead of a new one and a map() per message.
    // (One nick may come as itself: no array per send for the usual unicast.)
    const only =
      typeof recipients === 'string'
        ? this.registry.get(recipients)
        : recipients?.length === 1
          ? this.registry.get(recipients[0]!)
          : undefined;
    if (only) {
      const id = this.nextMessageId++;
      only.queueMessage(id, streamId, data);
      this.dirty.add(only);
      return { id, peers: [only.recipient] };
    }
    const targets = this.recipients(recipients === undefined ? undefined : nickList(recipients));
    const id = this.nextMessageId++;
    for (const peer of targets) {
      peer.queueMessage(id, streamId, data);
      this.dirty.add(peer);
    }
    return { id, peers: targets.map((p) => p.recipient) };
  }

  private recipients(recipients: readonly string[] | undefined): Peer[] {
    if (recipients === undefined) return [...this.registry.values()].filter((p) => p.connected);
    if (!recipients.every((n) => this.registry.has(n)))
      throw unknownPeers(recipients, (n) => this.registry.has(n));
    return [...new Set(recipients)].map((n) => this.registry.get(n)!);
  }

  /** Bytes queued for a peer and not yet acknowledged (0 for an unknown nick). */
  queuedBytes(nick: string): number {
    return this.registry.get(nick)?.unacknowledgedBytes ?? 0;
  }

  /** Unacknowledged bytes queued for all peers together. */
  totalQueuedBytes(): number {
    let n = 0;
    for (const p of this.registry.values()) n += p.unacknowledgedBytes;
    return n;
  }

  // ---- queries -----------------------------------------------------------------

  connectedNicks(): string[] {
    const out: string[] = [];
    for (const p of this.registry.values()) if (p.connected) out.push(p.nick);
    return out;
  }

  peers(): PeerSnapshot[] {
    return [...this.registry.values()].map(snapshot);
  }

  hasPeer(nick: string): boolean {
    return this.registry.has(nick);
  }

  peer(nick: string): PeerSnapshot | undefined {
    const p = this.registry.get(nick);
    return p && snapshot(p);
  }

  /** Half-open handshakes held (bounded; see MAX_RESPONDING). */
  get halfOpenCount(): number {
    return this.handshakes.halfOpen;
  }

  // ---- NAT ---------------------------------------------------------------------

  /**
   * Asks STUN servers (RFC 8489 Binding) for our public address, from the
   * same socket as the peer traffic (publicaddr.ts).
   */
  startStun(servers: Addr[], now: number, opts: StunClientOptions = {}): void {
    this.lastNow = now;
    this.publicAddress.start(servers, now, opts);
  }

  /** What STUN has told us so far (undefined before any STUN round). */
  stunSummary(): StunSummary | undefined {
    return this.publicAddress.summary();
  }

  /**
   * Allocates on TURN relays (RFC 8656) from the peer socket; the first to
   * answer is kept. Its relayed address becomes one more candidate (relay.ts).
   */
  startRelay(servers: readonly RelayServer[], now: number): void {
    this.lastNow = now;
    if (this.relay.configured) throw new UsageError('relays are already configured');
    this.relay.start(servers, now);
  }

  /** The shell's TCP/TLS connection to relay `server` broke or never opened: `reason` says why. */
  relayLinkDown(server: Addr, reason: string, now: number): void {
    this.lastNow = now;
    this.relay.linkDown(server, reason, now);
  }

  /** Our allocation: relay, state, relayed address, bytes relayed. */
  relayStats(): RelayStats {
    return this.relay.stats();
  }

  /** Our relayed transport address, once allocated (for invite codes). */
  relayedAddress(): Addr | undefined {
    return this.relay.relayed;
  }

  /** Many-port probing's counters (birthday.ts). */
  probingStats(): ProbingStats {
    return this.birthday.stats();
  }

  /** Third-party dials and targets refused by the introduction policy. */
  introductionStats(): { refusedDials: number; refusedTargets: number } {
    return {
      refusedDials: this.introPolicy.refusedDials,
      refusedTargets: this.introPolicy.refusedTargets,
    };
  }

  /** This host's addresses (the shell learns them from the OS). */
  setLocalAddresses(addresses: readonly string[]): void {
    this.introPolicy.setLocalAddresses(addresses);
  }
}

function specAddrs(spec: PeerSpec): Addr[] {
  return [...spec.addrs, ...(spec.relayed ?? [])];
}
