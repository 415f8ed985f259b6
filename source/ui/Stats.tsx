import { Box, Text } from 'ink';
import { discoverySummary, relaySummary } from '../chat/netformat.js';
import { sanitize } from '../chat/sanitize.js';
import type { ProbingStats, SocketStats } from '../index.js';
import { clip, formatBytes, hue } from './theme.js';

/** The connection stats pane: who and where we are, and the socket's totals. Props only. */

export interface StatsProps {
  nick: string;
  stats: SocketStats | undefined;
  width: number;
  color: boolean;
  /** Text rows to fill (who we are first, then totals, then probing, the relay, discovery). */
  rows?: number;
}

export function totalDropped(s: SocketStats): number {
  return Object.values(s.dropped).reduce((a, b) => a + b, 0);
}

/** Each drop reason (net/core/errors.ts DropReason) as a user reads it. */
const DROP_WORDS: Record<keyof SocketStats['dropped'], string> = {
  truncated: 'truncated',
  malformed: 'malformed',
  version: 'other version',
  'unknown-type': 'unknown type',
  'unknown-session': 'for ended sessions',
  decrypt: 'undecryptable',
  replay: 'replayed',
  handshake: 'bad handshakes',
  'rate-limited': 'rate-limited',
  blocked: 'from blocked keys',
  stranger: 'from strangers',
  protocol: 'protocol errors',
};

/**
 * "dropped 6 (3 undecryptable, 2 malformed, …)": the count alone ("bad
 * dropped 6") left users guessing. Most are harmless (a restarted peer's old
 * session, a scanner); the two commonest reasons say which.
 */
export function droppedSummary(s: SocketStats): string {
  const total = totalDropped(s);
  if (total === 0) return 'dropped 0';
  const top = (Object.entries(s.dropped) as [keyof SocketStats['dropped'], number][])
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1]);
  const words = top.slice(0, 2).map(([why, n]) => `${n} ${DROP_WORDS[why] ?? why}`);
  return `dropped ${total} (${words.join(', ')}${top.length > 2 ? ', …' : ''})`;
}

/**
 * Many-port probing in one line ("probing: 2 attempts, 1 ok, 256 sockets
 * open, …"), or undefined while it has never run: most users never see it.
 */
export function probingSummary(s: SocketStats): string | undefined {
  // Fixtures (and stats from before it existed) may lack it.
  const p: Partial<ProbingStats> = s.probing ?? {};
  const parts: string[] = [];
  const add = (n: number | undefined, what: string) => {
    if (n) parts.push(`${n} ${what}`);
  };
  const attempts = p.attemptsStarted ?? 0;
  add(attempts, attempts === 1 ? 'attempt' : 'attempts');
  add(p.attemptsSucceeded, 'ok');
  add(p.attemptsFailed, 'failed');
  add(p.socketsOpen, 'sockets open');
  add(p.probesSent, 'probes');
  add(p.spraysSent, 'sprays');
  return parts.length > 0 ? `probing: ${parts.join(', ')}` : undefined;
}

/**
 * Uptime to the minute ("<1m", "42m", "3h 05m", "2d 07h"): a seconds count
 * would change the screen every second, and Ink redraws the whole frame for
 * any change (an idle chat wrote ~6.5 KB/s at 120x40, test/ui/idle.test.tsx).
 */
export function formatUptime(ms: number): string {
  const m = Math.max(0, Math.floor(ms / 60_000));
  if (m < 1) return '<1m';
  if (m < 60) return `${m}m`;
  const two = (n: number) => String(n).padStart(2, '0');
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${two(m % 60)}m`;
  return `${Math.floor(h / 24)}d ${two(h % 24)}h`;
}

/**
 * The rows after who-we-are and the totals, most telling first: probing
 * (rare, and the reason a connection is slow), the relay's allocation,
 * then discovery. Each only when there is something to show.
 */
function extraRows(s: SocketStats): string[] {
  return [probingSummary(s), relaySummary(s.relay), discoverySummary(s.discovery)].filter(
    (r): r is string => r !== undefined,
  );
}

/** Rows the pane would fill, given room (frame.ts shrinks it from the bottom). */
export function statsRowsWanted(s: SocketStats | undefined): number {
  return 2 + (s ? extraRows(s).length : 0);
}

/** Everything the pane shows of `stats`, as one string: equal keys draw the same pane. */
export function shownStatsKey(stats: SocketStats): string {
  return JSON.stringify({ ...stats, uptime: formatUptime(stats.uptime) });
}

export function Stats({ nick, stats, width, color, rows = 3 }: StatsProps) {
  if (!stats) return <Text dimColor>starting…</Text>;
  // The public address appears once STUN has answered (fixtures may lack it).
  const nat = stats.natMapping === 'endpoint-dependent' ? ' (symmetric NAT)' : '';
  const pub = stats.publicAddress ? `   public ${stats.publicAddress}${nat}` : '';
  const who = `you: ${sanitize(nick)} at ${stats.localAddress}${pub}   key ${stats.fingerprint}`;
  const totals =
    `in ${stats.datagramsIn} pkts ${formatBytes(stats.bytesIn)}   ` +
    `out ${stats.datagramsOut} pkts ${formatBytes(stats.bytesOut)}   ` +
    `${droppedSummary(stats)}   up ${formatUptime(stats.uptime)}`;
  const extra = extraRows(stats).slice(0, Math.max(0, rows - 2));
  return (
    <Box flexDirection="column">
      <Text color={hue(color, 'cyan')} wrap="truncate-end">
        {clip(who, width)}
      </Text>
      {rows >= 2 ? <Text wrap="truncate-end">{clip(totals, width)}</Text> : null}
      {extra.map((row) => (
        <Text key={row.slice(0, 8)} wrap="truncate-end">
          {clip(sanitize(row), width)}
        </Text>
      ))}
    </Box>
  );
}
