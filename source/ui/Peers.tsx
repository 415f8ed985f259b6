import { Box, Text } from 'ink';
import { formatLoss, formatRtt, shortFp } from '../chat/format.js';
import type { PeerView } from '../chat/reducer.js';
import { sanitize } from '../chat/sanitize.js';
import { cellWidth, padCells } from './cells.js';
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
  if (p.lookingUp) return `looking up by key since ${at}`;
  switch (s.kind) {
    case 'connected':
      // Issue 17 item 7: the key is not pinned yet (chat/netformat.ts).
      return p.info.unconfirmed
        ? `connected since ${at}, unconfirmed (from ${p.info.unconfirmed.from}: /trust ${p.info.nick})`
        : `connected since ${at}`;
    case 'connecting':
      // `attempt` counts the dial rounds made (peers/dialplan.ts): the same
      // number /whois shows (net/shell/describe.ts).
      return s.attempt > 0 ? `connecting (attempt ${s.attempt})` : 'connecting';
    case 'looking-up':
      return `looking up by key since ${at}`;
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
const STATE = HEADER.length - 1;
/** Columns given up first when the pane is narrow; NICK and STATE always stay. */
const DROP_ORDER = [4, 5, 7, 2, 6, 1, 3];
const GAP = 2;

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

/**
 * Most cells a STATE claims when columns are chosen. A long reason or an
 * unconfirmed peer's note ("connected since 12:03, unconfirmed (from
 * [2001:db8::1]:4000: /trust bob)") would otherwise push every peer's RTT,
 * MIN and RETX out of a 120-column pane; past this it is cut (/whois shows it
 * whole), and a wider pane shows more of it.
 */
const STATE_CLAIM = 40;

/** The columns to show in `width` cells: all that fit beside STATE's claim, by priority. */
export function peerColumns(rows: readonly (readonly string[])[], width: number): number[] {
  const widths = HEADER.map((_, c) => Math.max(...rows.map((r) => cellWidth(r[c] ?? ''))));
  widths[STATE] = Math.min(widths[STATE]!, STATE_CLAIM);
  let cols = HEADER.map((_, c) => c);
  const total = () => cols.reduce((w, c) => w + widths[c]!, 0) + GAP * (cols.length - 1);
  for (const drop of DROP_ORDER) {
    if (total() <= width) break;
    cols = cols.filter((c) => c !== drop);
  }
  return cols;
}

export function Peers({ peers, width, color, maxRows = 8 }: PeersProps) {
  if (peers.length === 0) {
    return (
      <Text dimColor wrap="truncate-end">
        {clip('no peers yet: /add <nick> <host:port>, or wait to be added', width)}
      </Text>
    );
  }
  const shown = peers.slice(0, maxRows);
  const rows = shown.map(cells);
  const cols = peerColumns([HEADER, ...rows], width);
  const widths = HEADER.map((_, c) =>
    Math.max(...[HEADER, ...rows].map((r) => cellWidth(r[c] ?? ''))),
  );
  // Everything before STATE, padded by display width; STATE gets what is left.
  const lead = (r: readonly string[]) =>
    cols
      .filter((c) => c !== STATE)
      .map((c) => padCells(r[c] ?? '', widths[c]!))
      .join(' '.repeat(GAP)) + ' '.repeat(GAP);
  const line = (r: readonly string[]) => {
    const head = clip(lead(r), width);
    return { head, state: clip(r[STATE] ?? '', Math.max(0, width - cellWidth(head))) };
  };
  const header = line(HEADER);
  return (
    <Box flexDirection="column">
      <Text bold wrap="truncate-end">
        {header.head + header.state}
      </Text>
      {shown.map((p, k) => {
        const { head, state } = line(rows[k]!);
        const padded = padCells(rows[k]![0] ?? '', widths[0]!);
        // A head cut inside the nick column is all nick.
        const nick = head.startsWith(padded) ? padded : head;
        return (
          <Text key={p.info.nick} wrap="truncate-end">
            <Text color={hue(color, nickColor(p.info.nick))} bold>
              {nick}
            </Text>
            {head.slice(nick.length)}
            <Text color={hue(color, stateColor(p))}>{state}</Text>
          </Text>
        );
      })}
      {peers.length > shown.length ? (
        <Text dimColor wrap="truncate-end">
          {clip(`… and ${peers.length - shown.length} more (/list)`, width)}
        </Text>
      ) : null}
    </Box>
  );
}
