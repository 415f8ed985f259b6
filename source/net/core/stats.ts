import { fingerprint } from '../crypto/identity.js';
import type { Addr } from './address.js';
import type { DropReason } from './errors.js';
import type { PeerState } from './events.js';
import type { Peer, PeerTotals } from './peers/peer.js';

export interface PeerStats extends PeerTotals {
  smoothedRtt: number | undefined;
  minRtt: number | undefined;
  rttVariance: number | undefined;
  lossRate: number;
  congestionWindow: number | undefined;
  bytesInFlight: number;
  recoveries: number;
  /** Datagram size in use on the current session's path (1200 until a larger probe is acked). */
  mtu: number | undefined;
  lastSeen: number | undefined;
  /** How the current session reaches the peer: straight, through a TURN relay, or not at all. */
  path: 'direct' | 'relay' | 'none';
  /** Moves of the session between the relay and a direct path (upgrades and fallbacks). */
  pathSwitches?: number;
}

export interface PeerSnapshot {
  id: number;
  nick: string;
  /** The user chose this name (addPeers); otherwise it is the peer's announced nick. */
  pinned: boolean;
  announcedNick: string | undefined;
  /** The nick of the peer whose introduction brought this one, if one did. */
  introducedBy?: string;
  /** Taken as the user's name from the given IP on another port, its key not pinned (peers/peer.ts). */
  unconfirmed?: { from: Addr };
  address: Addr | undefined;
  fingerprint: string | undefined;
  state: PeerState;
  stats: PeerStats;
}

export type DropCounts = Record<DropReason, number>;

export interface EndpointStats {
  datagramsIn: number;
  datagramsOut: number;
  bytesIn: number;
  bytesOut: number;
  dropped: DropCounts;
  /** Handshake-layer packets (INIT, RESP, FINISH, COOKIE, RESET, REJECT) accepted for processing. */
  handshakePackets: number;
  /** STUN messages seen on the socket (answered by the STUN layer, when there is one). */
  stun: number;
}

export function emptyDrops(): DropCounts {
  return {
    truncated: 0,
    malformed: 0,
    version: 0,
    'unknown-type': 0,
    'unknown-session': 0,
    decrypt: 0,
    replay: 0,
    handshake: 0,
    'rate-limited': 0,
    blocked: 0,
    stranger: 0,
    protocol: 0,
  };
}

export function emptyEndpointStats(): EndpointStats {
  return {
    datagramsIn: 0,
    datagramsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    dropped: emptyDrops(),
    handshakePackets: 0,
    stun: 0,
  };
}

/** What the library shows of one peer: a copy, safe to keep. */
export function snapshot(p: Peer): PeerSnapshot {
  const s = p.current;
  const totals = p.totals();
  const rtt = s?.loss.rtt;
  return {
    id: p.id,
    nick: p.nick,
    pinned: p.pinned,
    announcedNick: p.announcedNick,
    ...(p.introducedBy !== undefined ? { introducedBy: p.introducedBy } : {}),
    ...(p.unconfirmed ? { unconfirmed: { from: p.unconfirmed.from } } : {}),
    address: p.address,
    fingerprint: p.key ? fingerprint(p.key) : undefined,
    state: p.state,
    stats: {
      ...totals,
      smoothedRtt: rtt?.hasSample ? rtt.smoothedRtt : undefined,
      minRtt: rtt?.hasSample ? rtt.minRtt : undefined,
      rttVariance: rtt?.hasSample ? rtt.rttVar : undefined,
      lossRate: totals.packetsSent > 0 ? totals.packetsLost / totals.packetsSent : 0,
      congestionWindow: s?.loss.cc.congestionWindow,
      bytesInFlight: s?.loss.cc.bytesInFlight ?? 0,
      recoveries: s?.loss.cc.recoveryCount ?? 0,
      mtu: s?.pmtu.size,
      lastSeen: p.lastSeen,
      path: s ? (p.relayed ? 'relay' : 'direct') : 'none',
      pathSwitches: p.pathSwitches,
    },
  };
}
