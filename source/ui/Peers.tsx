import { Box, Text } from 'ink';
import { formatLoss, formatRtt, shortFp } from '../chat/format.js';
import type { PeerView } from '../chat/reducer.js';
import { sanitize } from '../chat/sanitize.js';
import { clip, hue, nickColor } from './theme.js';

/**
 * The peers pane: one row per peer with its live path stats, and its state in
 * words (never only a colour) including since when and why it is not
 * connected. Props only.
 */

export interface PeersProps {
  peers: readonly PeerView[];
  width: number;
  color: boolean;
  /** Most rows to show; the rest are summarised. */
  maxRows?: number;
}

const hhmm = (ms: number) => {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
};

/** The state column, e.g. "unreachable since 12:03: no answer from any address". */
export function stateWords(p: PeerView): string {
  const s = p.info.state;
  const at = hhmm(p.since);
  switch (s.kind) {
    case 'connected':
      return `connected since ${at}`;
    case 'connecting':
      return s.attempt > 0 ? `connecting (attempt ${s.attempt + 1})` : 'connecting';
    case 'unreachable':
      return `unreachable since ${at}: ${s.reason}`;
    case 'disconnected':
      return `disconnected at ${at}: ${s.reason}`;
    case 'key-mismatch':
      return `KEY MISMATCH since ${at}: got ${shortFp(s.got)}, pinned ${shortFp(s.expected)} (/whois, /trust)`;
  }
}

function stateColor(p: PeerView): string {
  switch (p.info.state.kind) {
    case 'connected':
      return 'green';
    case 'connecting':
      return 'yellow';
    default:
      return 'red';
  }
}

const HEADER = ['NICK', 'ADDRESS', 'KEY', 'RTT ms', 'MIN', 'RETX', 'LOSS', 'PATH', 'STATE'];

function cells(p: PeerView): string[] {
  const i = p.info;
  const s = i.stats;
  return [
    sanitize(i.nick),
    i.address ?? '-',
    shortFp(i.fingerprint),
    formatRtt(s.smoothedRtt),
    formatRtt(s.minRtt),
    String(s.retransmits),
    formatLoss(s.lossRate),
    s.path,
    sanitize(stateWords(p)),
  ];
}

export function Peers({ peers, width, color, maxRows = 8 }: PeersProps) {
  if (peers.length === 0) {
    return (
      <Text dimColor>no peers yet: /add &lt;nick&gt; &lt;host:port&gt;, or wait to be added</Text>
    );
  }
  const shown = peers.slice(0, maxRows);
  const rows = shown.map(cells);
  const widths = HEADER.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: readonly string[]) =>
    r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c] ?? 0))).join('  ');
  return (
    <Box flexDirection="column">
      <Text bold>{clip(line(HEADER), width)}</Text>
      {shown.map((p, k) => {
        const r = rows[k]!;
        const text = clip(line(r), width);
        const nickEnd = widths[0] ?? 0;
        return (
          <Text key={p.info.nick} wrap="truncate-end">
            <Text color={hue(color, nickColor(p.info.nick))} bold>
              {text.slice(0, nickEnd)}
            </Text>
            {text.slice(nickEnd, text.length - (r[8] ?? '').length)}
            <Text color={hue(color, stateColor(p))}>
              {text.slice(text.length - (r[8] ?? '').length)}
            </Text>
          </Text>
        );
      })}
      {peers.length > shown.length ? (
        <Text dimColor>… and {peers.length - shown.length} more (/list)</Text>
      ) : null}
    </Box>
  );
}
