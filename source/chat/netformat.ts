import type { DiscoveryStats, PeerInfo, RelayInfo } from '../index.js';

/**
 * How the chat words its relay (TURN allocation, issue 17) and its
 * discovery (DHT, mDNS, issue 18): the start-up lines, the stats pane's
 * rows and /whois's. Pure; the callers sanitize what they print.
 */

/** Where a name was found, for /whois (issue 18 item 4). */
export type FoundBy = 'address' | 'invite' | 'introduction' | 'DHT' | 'LAN' | 'LAN broadcast';

/** How the user added a name (the chat remembers; the transport does not say). */
export type AddedBy = 'address' | 'invite' | 'key';

function kb(n: number): string {
  if (n < 1000) return `${n} B`;
  return n < 1_000_000 ? `${(n / 1000).toFixed(1)} kB` : `${(n / 1_000_000).toFixed(1)} MB`;
}

/** Why the relay's datagrams were dropped, in words (RelayInfo.droppedBy). */
const DROP_WORDS: Record<keyof RelayInfo['droppedBy'], string> = {
  noPermission: 'from a peer without permission',
  unknownChannel: 'on an unknown channel',
  malformed: 'malformed',
  notForUs: 'not for us',
  wrongSource: 'from a wrong source',
};

function dropsInWords(r: RelayInfo): string {
  const parts = Object.entries(r.droppedBy)
    .filter(([, n]) => (n ?? 0) > 0)
    .map(([why, n]) => `${n} ${DROP_WORDS[why as keyof RelayInfo['droppedBy']] ?? why}`);
  return `, ${r.dropped} dropped${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`;
}

/** The allocation in one line, or undefined when no relay is configured. */
export function relaySummary(r: RelayInfo | undefined, traffic = true): string | undefined {
  if (!r || r.state === 'none') return undefined;
  const on = r.server ? ` on ${r.server}` : '';
  switch (r.state) {
    case 'allocated':
      return `relay${on}: allocated, relayed address ${r.relayed ?? '?'}${traffic ? `, relayed ${kb(r.bytesSent)} out, ${kb(r.bytesReceived)} in${r.dropped > 0 ? dropsInWords(r) : ''}` : ''}`;
    case 'failed':
      return `relay${on}: failed (peers no direct path reaches stay unreachable)`;
    default:
      return `relay${on}: ${r.state}`;
  }
}

/**
 * A peer taken as the user's name from the IP they gave but another port
 * (a symmetric NAT rewrote it; issue 17 item 7): its key is not pinned,
 * since anyone behind that NAT could claim the name. Undefined otherwise.
 */
export function unconfirmedNote(p: Pick<PeerInfo, 'nick' | 'unconfirmed'>): string | undefined {
  if (!p.unconfirmed) return undefined;
  return `unconfirmed: answered from ${p.unconfirmed.from}, /trust ${p.nick} to pin`;
}

/** The start-up line: what discovery runs, and how to turn it off. */
export function discoveryStartLine(d: DiscoveryStats | undefined): string {
  if (!d || (!d.dht && !d.mdns))
    return 'finding peers by key is off (no DHT, no mDNS): /add needs an address or an invite code';
  const on = [
    d.dht ? 'the Mainline DHT (publishing your nick and addresses under your key: --no-dht)' : '',
    d.mdns ? 'mDNS on the LAN (--no-mdns)' : '',
  ].filter(Boolean);
  return `finding peers by key through ${on.join(' and ')}`;
}

function total(rec: Record<string, number>): number {
  return Object.values(rec).reduce((a, b) => a + b, 0);
}

/** The stats pane's discovery row, or undefined when discovery is off. */
export function discoverySummary(d: DiscoveryStats | undefined): string | undefined {
  if (!d || (!d.dht && !d.mdns)) return undefined;
  const rejected = Object.entries(d.rejected)
    .filter(([, n]) => n > 0)
    .map(([why, n]) => `${n} ${why}`);
  // Who we are still looking for first: on a narrow pane the counts are cut, not that.
  const waiting = lookingUp(d);
  const parts = [
    `discovery (${[d.dht ? 'DHT' : '', d.mdns ? 'mDNS' : ''].filter(Boolean).join(', ')}):`,
    ...(waiting.length > 0 ? [`looking up ${waiting.join(', ')}`] : []),
    `${d.publishes} published${d.publishFailures > 0 ? ` (${d.publishFailures} failed)` : ''}`,
    `${d.lookups} lookups`,
    `${d.accepted} records accepted`,
    `${total(d.rejected)} rejected${rejected.length > 0 ? ` (${rejected.join(', ')})` : ''}`,
    `dials ${d.dials.dht} DHT, ${d.dials.lan} LAN, ${d.dials.broadcast} broadcast`,
  ];
  return parts.join('  ');
}

/** Names added by key that no record has answered for yet. */
export function lookingUp(d: DiscoveryStats | undefined): string[] {
  if (!d) return [];
  return Object.entries(d.lookingFor)
    .filter(([, found]) => found === undefined)
    .map(([nick]) => nick)
    .sort();
}

/**
 * Names added by key and not found yet: no record has answered, and the
 * transport holds the name only as a pin being looked up (or not at all).
 */
export function searching(d: DiscoveryStats | undefined, peers: readonly PeerInfo[]): string[] {
  return lookingUp(d).filter((nick) => {
    const p = peers.find((x) => x.nick === nick);
    return p === undefined || p.state.kind === 'looking-up';
  });
}

/**
 * Where a peer was found: by discovery (the transport's `lookingFor`), an
 * introduction, or how the user added it; undefined for a stranger who
 * dialled us.
 */
export function foundBy(
  p: Pick<PeerInfo, 'nick' | 'introducedBy'>,
  discovery: DiscoveryStats | undefined,
  added: AddedBy | undefined,
): FoundBy | undefined {
  const via = discovery?.lookingFor[p.nick];
  if (via === 'dht') return 'DHT';
  if (via === 'lan') return 'LAN';
  if (via === 'broadcast') return 'LAN broadcast';
  if (p.introducedBy !== undefined) return 'introduction';
  if (added === 'address' || added === 'invite') return added;
  return undefined;
}
