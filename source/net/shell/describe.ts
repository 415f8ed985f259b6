import { addrKey } from '../core/address.js';
import type { PeerSnapshot } from '../core/endpoint.js';
import type { PeerState } from '../core/events.js';
import { shortFingerprint } from '../crypto/identity.js';
import type { PeerInfo } from './types.js';

/**
 * A peer's state in words, for people: the one wording the library uses in
 * its own errors (waitForPeer) and the chat shows, so the two never differ.
 */
export function describeState(s: PeerState): string {
  switch (s.kind) {
    case 'connecting':
      return s.attempt > 0 ? `connecting (attempt ${s.attempt})` : 'connecting';
    case 'connected':
      return 'connected';
    case 'looking-up':
      return 'looking up its key (DHT, LAN)';
    case 'unreachable':
      return `unreachable: ${s.reason}`;
    case 'disconnected':
      return `disconnected: ${s.reason}`;
    case 'key-mismatch':
      return `KEY CHANGED: expected ${shortFingerprint(s.expected)}, got ${shortFingerprint(s.got)}`;
  }
}

/**
 * What the API reports of a peer. The endpoint runs on a monotonic clock;
 * users get epoch milliseconds (`epochOffset` = Date.now() - performance.now()).
 */
export function peerInfo(p: PeerSnapshot, epochOffset: number): PeerInfo {
  return {
    nick: p.nick,
    address: p.address ? addrKey(p.address) : undefined,
    fingerprint: p.fingerprint,
    pinned: p.pinned,
    announcedNick: p.announcedNick,
    ...(p.introducedBy !== undefined ? { introducedBy: p.introducedBy } : {}),
    ...(p.unconfirmed ? { unconfirmed: { from: addrKey(p.unconfirmed.from) } } : {}),
    state: { ...p.state, since: p.state.since + epochOffset },
    stats: {
      ...p.stats,
      lastSeen: p.stats.lastSeen === undefined ? undefined : p.stats.lastSeen + epochOffset,
    },
  };
}
