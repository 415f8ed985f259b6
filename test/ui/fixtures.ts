import type { DiscoveryStats, RelayInfo } from '../../source/index.js';
import type { PeerState } from '../../source/net/core/events.js';
import type { PeerInfo, SocketStats } from '../../source/net/shell/socket.js';

/** Plain data for the panes and the chat, as the transport reports it. */

export const FP_ALICE = 'rifscdkkk36owu3anqizq3sclmeco7a6vvawxkyfg5p74itegl4q';
export const FP_BOB = 'o4omc4sfghbnrgzdrhp7xp4r4lrqzgadppi3ql4sfn72o3eqvpxq';

export function peer(
  nick: string,
  over: Partial<PeerInfo> = {},
  stats: Partial<PeerInfo['stats']> = {},
): PeerInfo {
  const state: PeerState = { kind: 'connected', since: 1 };
  return {
    nick,
    address: '127.0.0.1:9000',
    fingerprint: FP_BOB,
    pinned: true,
    announcedNick: nick,
    state,
    ...over,
    stats: {
      packetsSent: 10,
      packetsReceived: 9,
      bytesSent: 1000,
      bytesReceived: 900,
      packetsLost: 1,
      retransmits: 2,
      ptoCount: 0,
      smoothedRtt: 1.25,
      minRtt: 0.5,
      rttVariance: 0.1,
      lossRate: 0.031,
      congestionWindow: 12000,
      bytesInFlight: 0,
      recoveries: 0,
      mtu: 1452,
      lastSeen: 0,
      path: 'direct',
      ...stats,
    },
  };
}

export function socketStats(over: Partial<SocketStats> = {}): SocketStats {
  // Only what the panes read; the transport keeps adding fields the chat does
  // not show, and this fixture should not break each time.
  const base = {
    datagramsIn: 120,
    datagramsOut: 118,
    bytesIn: 14_200,
    bytesOut: 13_900,
    dropped: { truncated: 1, malformed: 2, version: 0, decrypt: 3 } as SocketStats['dropped'],
    handshakePackets: 4,
    stun: 0,
    localAddress: '127.0.0.1:47001',
    fingerprint: FP_ALICE,
    receiveBufferSize: 425984,
    sendBufferSize: 425984,
    queueDropped: 0,
    queueDroppedBytes: 0,
    queuedMessages: 0,
    queuedBytes: 0,
    sendErrors: 0,
    uptime: 83_000,
  } as SocketStats;
  return { ...base, ...over };
}

/** Every kind of hostile text the panes must render inert. */
export const HOSTILE: Record<string, string> = {
  'ANSI CSI (colour, clear screen)': 'a\x1b[31mred\x1b[2Jb',
  'OSC 52 (write the clipboard)': 'c\x1b]52;c;ZXZpbA==\x07d',
  'OSC title with ST': 'e\x1b]0;pwned\x1b\\f',
  'C0 (BEL, BS, CR, LF)': 'g\x07\x08\r\nh',
  'C1 (8-bit CSI, OSC)': 'i\u009b31m\u009d0;t\u009cj',
  DEL: 'k\x7fl',
  'bidi overrides': 'm\u202egnp.exe\u202c\u2066n\u2069',
};

/** True when `frame` holds none of the raw characters sanitize must escape. */
export function inert(frame: string): boolean {
  // Ink itself emits no escapes in ink-testing-library frames when colour is off,
  // so any ESC, control, C1 or bidi character here came from the hostile text.
  const bidi = [
    0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069,
  ];
  for (const ch of frame) {
    const c = ch.codePointAt(0)!;
    if (c === 0x0a) continue; // rows
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || bidi.includes(c)) return false;
  }
  return true;
}

/** stats().discovery with both DHT and mDNS on, a little traffic. */
export function discoveryStats(over: Partial<DiscoveryStats> = {}): DiscoveryStats {
  return {
    dht: true,
    mdns: true,
    versions: 1,
    publishes: 3,
    publishFailures: 0,
    announces: 2,
    lookups: 4,
    accepted: 1,
    rejected: {
      signature: 0,
      'foreign-key': 0,
      salt: 0,
      stale: 0,
      oversized: 0,
      malformed: 0,
      'rate-limited': 0,
    },
    beaconsSent: 0,
    beaconsReceived: 0,
    dials: { dht: 1, lan: 0, broadcast: 0 },
    refusedTargets: 0,
    lookingFor: {},
    badMessages: 0,
    ...over,
  };
}

export const relayInfo = (over: Partial<RelayInfo> = {}): RelayInfo => ({
  server: '198.18.0.9:3478',
  state: 'allocated',
  transport: 'udp',
  reason: undefined,
  relayed: '198.18.0.9:49152',
  bytesSent: 2500,
  bytesReceived: 120,
  dropped: 0,
  droppedBy: {},
  ...over,
});
