import { performance } from 'node:perf_hooks';
import { type Addr, normalizeIp, parseHostPort } from '../core/address.js';
import type { Endpoint } from '../core/endpoint.js';
import { UsageError } from '../core/errors.js';
import type { PeerChange } from '../core/events.js';
import { fingerprint, parseFingerprint } from '../crypto/identity.js';
import { decodeInvite } from '../nat/invite.js';
import { BEACON_PORT } from './beacon.js';
import { Discovery, type DiscoveryHost, recordFromInvite } from './discovery.js';
import { lanIpv4, lanTransport } from './mdns.js';
import { type DiscoveryBindOptions, type DiscoveryEnv, discoverySettings } from './settings.js';

/**
 * Discovery as the socket (shell/socket.ts) uses it: what the socket lends
 * (its endpoint, invite, addresses, peer events) and the few calls it makes
 * (check, find, forget, stats, close), so the socket's own hook stays a few
 * lines.
 */

/** What the socket lends discovery. */
export interface SocketSide {
  readonly endpoint: Endpoint;
  pump(): void;
  isClosed(): boolean;
  /** Our invite code (nick, key, candidates, NAT mapping). */
  invite(): string;
  /** Whether STUN gave us a public address (then the invite's first address is it). */
  hasPublicAddress(): boolean;
  localAddress(): { address: string; port: number };
  /** This host's addresses, as the introduction policy sees them (shell/resolve.ts). */
  hostAddresses(): string[];
  /** The endpoint's clock (the socket's is performance.now(); tests pass a virtual one). */
  now?(): number;
  onPeer(
    listener: (
      info: { nick: string; fingerprint: string | undefined; address: string | undefined },
      change: PeerChange,
    ) => void,
  ): void;
}

export class SocketDiscovery {
  constructor(
    private readonly side: SocketSide,
    private readonly discovery: Discovery,
  ) {}

  /** A key-only entry must agree with a pin the name already has (before anything is added). */
  check(nick: string, key: Buffer): void {
    const pinned = this.side.endpoint.pinnedKey(nick);
    if (pinned && !pinned.equals(key)) {
      throw new UsageError(
        `${nick} is pinned to key ${fingerprint(pinned)}, but you gave ${fingerprint(key)}: if the key really changed, remove ${nick} first`,
      );
    }
  }

  find(nick: string, key: Buffer): void {
    this.discovery.find(nick, key);
  }

  forget(nick: string): boolean {
    return this.discovery.forget(nick);
  }

  /** Our candidates may have changed (STUN answered): publish at once if the record did. */
  refresh(): void {
    this.discovery.refresh();
  }

  stats(): ReturnType<Discovery['stats']> {
    return this.discovery.stats();
  }

  close(): Promise<void> {
    return this.discovery.close();
  }
}

/** Starts DHT and LAN discovery as `opts` and the environment ask; undefined when both are off. */
export async function attachDiscovery(
  side: SocketSide,
  opts: DiscoveryBindOptions,
  env: DiscoveryEnv,
): Promise<SocketDiscovery | undefined> {
  const settings = discoverySettings(opts, env);
  if (!settings.dht && !settings.mdns) return undefined;
  const bound = side.localAddress().address;
  // bittorrent-dht is IPv4: its socket binds the same IPv4 address as ours, or all.
  const dhtHost = bound.includes('.') && bound !== '0.0.0.0' ? bound : '0.0.0.0';
  const discovery = await Discovery.start(hostOf(side), settings, {
    dhtHost,
    mdnsTransport: lanTransport,
    beaconPort: BEACON_PORT,
  });
  side.onPeer((info, change) => {
    const key = info.fingerprint ? parseFingerprint(info.fingerprint) : undefined;
    discovery.onPeer(info.nick, key, change, addrOf(info.address));
  });
  return new SocketDiscovery(side, discovery);
}

/** The host discovery acts through (exported for tests: its dial is where a record reaches the dialer). */
export function hostOf(side: SocketSide): DiscoveryHost {
  const { endpoint } = side;
  const now = () => side.now?.() ?? performance.now();
  return {
    identity: endpoint.local.identity,
    record: () => recordFromInvite(decodeInvite(side.invite()), side.hasPublicAddress()),
    lanEndpoint: () => ({
      port: side.localAddress().port,
      ipv4: lanIpv4(decodeInvite(side.invite()).addrs),
    }),
    local: () => ({ addresses: side.hostAddresses() }),
    connected: (key) => {
      const fp = fingerprint(key);
      return endpoint.peers().some((p) => p.fingerprint === fp && p.state.kind === 'connected');
    },
    dial: (nick, key, addrs, nat, relayed) => {
      if (side.isClosed()) return;
      try {
        endpoint.addFoundPeer(nick, { addrs, key, nat, relayed }, now());
      } catch (err) {
        // The user re-pinned or removed the name meanwhile: the record no longer applies.
        if (err instanceof UsageError) return;
        throw err;
      }
      side.pump();
    },
    epochNow: () => Date.now(),
    now,
  };
}

/** A peer report's `host:port` back to an Addr (undefined for a form we do not re-parse). */
function addrOf(text: string | undefined): Addr | undefined {
  if (!text) return undefined;
  try {
    const { host, port } = parseHostPort(text);
    return { address: normalizeIp(host), port };
  } catch {
    return undefined; // e.g. a zoned link-local: no rename, no harm
  }
}
