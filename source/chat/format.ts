import stringWidth from 'string-width';
import { describeState, type PeerInfo, type PeerState, shortFingerprint } from '../index.js';
import { sanitize } from './sanitize.js';

/**
 * Text the chat shows, independent of how it is shown (line mode now, the
 * full-screen UI later). Every line passes through `sanitize` on its way out,
 * so nothing a peer controls reaches the terminal raw.
 */

export type ChatLine =
  | {
      kind: 'message';
      /** Set on our own messages, to match their delivery report. */
      id?: number;
      time: number;
      /** Who wrote it (our own nick when `own`). */
      from: string;
      text: string;
      private: boolean;
      /** Written by us; `to` is the recipient of a private one. */
      own: boolean;
      to?: string;
      /** From a peer the user never added: shown marked, so it cannot pass for a friend. */
      stranger?: boolean;
      /** Own messages: who it was sent to, each acknowledging (or not) on its own. */
      recipients?: readonly string[];
    }
  | { kind: 'system'; time: number; text: string }
  | { kind: 'error'; time: number; text: string };

const two = (n: number) => String(n).padStart(2, '0');

/** `HH:MM:SS`, local time. */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** One printable line, sanitized. */
export function formatChatLine(line: ChatLine): string {
  const stamp = `[${formatTime(line.time)}]`;
  switch (line.kind) {
    case 'message': {
      const mark = `${line.private ? '(private) ' : ''}${line.stranger ? '(stranger) ' : ''}`;
      const to = line.own && line.to !== undefined ? ` -> ${line.to}:` : '';
      return sanitize(`${stamp} ${mark}<${line.from}>${to} ${line.text}`);
    }
    case 'system':
      return sanitize(`${stamp} -- ${line.text}`);
    case 'error':
      return sanitize(`${stamp} !! ${line.text}`);
  }
}

/** Characters of a message quoted in a line about it (the rest becomes …). */
export const QUOTE_CHARS = 10;

/**
 * The start of a message, quoted, for a line that must say which message it
 * is about (`"hello wor…"`). Cut by code point, never inside a surrogate pair.
 */
export function quoteStart(text: string): string {
  const chars = [...text];
  const shown = chars.length > QUOTE_CHARS ? `${chars.slice(0, QUOTE_CHARS - 1).join('')}…` : text;
  return `"${shown}"`;
}

/** The short form of a fingerprint, as peers read it to each other ('-' when unknown). */
export function shortFp(fp: string | undefined): string {
  return fp ? shortFingerprint(fp) : '-';
}

/** The library's wording of a peer's state, re-exported for the chat's callers. */
export { describeState };

function shortState(s: PeerState): string {
  switch (s.kind) {
    case 'key-mismatch':
      return 'KEY CHANGED';
    case 'looking-up':
      return 'looking up';
    case 'connecting':
    case 'connected':
    case 'unreachable':
    case 'disconnected':
      return s.kind;
  }
}

export function formatRtt(ms: number | undefined): string {
  if (ms === undefined) return '-';
  return ms < 10 ? ms.toFixed(1) : String(Math.round(ms));
}

export function formatLoss(rate: number): string {
  return `${(rate * 100).toFixed(1)}%`;
}

/** /list: a header and one row per peer, columns padded to fit. */
export function formatPeerTable(peers: readonly PeerInfo[]): string[] {
  const rows: string[][] = [
    ['NICK', 'ADDRESS', 'STATE', 'KEY', 'RTT ms', 'RETX', 'LOSS'],
    ...[...peers]
      .sort((a, b) => a.nick.localeCompare(b.nick))
      .map((p) => [
        p.nick,
        p.address ?? '-',
        shortState(p.state),
        shortFp(p.fingerprint),
        formatRtt(p.stats.smoothedRtt),
        String(p.stats.retransmits),
        formatLoss(p.stats.lossRate),
      ]),
  ];
  // Padded by display width: a CJK nick takes two columns per character.
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => stringWidth(r[col] ?? ''))));
  const pad = (cell: string, w: number) => cell + ' '.repeat(Math.max(0, w - stringWidth(cell)));
  return rows.map((r) =>
    r.map((cell, col) => (col === r.length - 1 ? cell : pad(cell, widths[col] ?? 0))).join('  '),
  );
}

/** /whois: everything we know about one peer, a few lines. */
/**
 * Packets and bytes of the peer's sessions. Handshakes are not counted in
 * them, so a peer still being dialled would read "sent 0 packets" after a
 * dozen attempts: say there is no session yet instead.
 */
function trafficRows(p: PeerInfo): string[] {
  const s = p.stats;
  if (s.packetsSent === 0 && s.packetsReceived === 0 && p.state.kind !== 'connected') {
    return ['  traffic      no session yet (handshake attempts are not counted here)'];
  }
  return [
    `  sent         ${s.packetsSent} packets, ${s.bytesSent} bytes`,
    `  received     ${s.packetsReceived} packets, ${s.bytesReceived} bytes`,
  ];
}

export function formatWhois(p: PeerInfo, now: number = Date.now()): string[] {
  const s = p.stats;
  const name = p.pinned
    ? p.announcedNick !== undefined && p.announcedNick !== p.nick
      ? ` (calls itself ${p.announcedNick})`
      : ''
    : ' (named by itself)';
  const lines = [
    `${p.nick}${name}: ${describeState(p.state)}`,
    `  address      ${p.address ?? '-'} (${s.path})`,
    `  fingerprint  ${p.fingerprint ?? 'not known yet'}`,
    `  rtt          ${formatRtt(s.smoothedRtt)} ms (min ${formatRtt(s.minRtt)} ms)`,
    `  loss         ${formatLoss(s.lossRate)}, ${s.retransmits} retransmits, ${s.ptoCount} timeouts`,
    `  datagrams    ${s.mtu !== undefined ? `up to ${s.mtu} bytes (path MTU)` : '-'}`,
    ...trafficRows(p),
  ];
  if (s.lastSeen !== undefined) {
    const ago = Math.max(0, Math.round((now - s.lastSeen) / 1000));
    lines.push(`  last seen    ${formatTime(s.lastSeen)} (${ago} s ago)`);
  }
  return lines;
}
