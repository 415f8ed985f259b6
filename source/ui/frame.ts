/**
 * How the terminal's rows are shared between the panes. The input line and
 * three message rows always get theirs; what is left goes to the peers pane,
 * then the stats pane, then the key help, each shrinking before it is
 * dropped; the message pane takes the rest. The last terminal row stays
 * free: Ink redraws the whole screen (flickering) when its output fills it.
 */

export const MIN_MESSAGE_ROWS = 3;
export const MAX_PEER_ROWS = 6;
/** Top and bottom border of a pane. */
const BORDER = 2;

export interface FrameRows {
  /** Heights with borders; 0 means the pane is not drawn. */
  messages: number;
  peers: number;
  /** Peers listed in the peers pane (the rest summarised in one row). */
  peerRows: number;
  stats: number;
  /** Text rows of the stats pane. */
  statsRows: number;
  status: number;
  input: number;
}

/** Height of the peers pane listing `shown` of `count` peers (header, rows, "… more"). */
const peersHeight = (count: number, shown: number) =>
  count === 0 ? BORDER + 1 : BORDER + 1 + shown + (count > shown ? 1 : 0);

export function frameRows(
  rows: number,
  peerCount: number,
  statsWanted: number,
  hint: boolean,
): FrameRows {
  const input = hint ? 2 : 1;
  let rest = Math.max(0, rows - 1 - input - (BORDER + MIN_MESSAGE_ROWS));
  let peerRows = Math.min(peerCount, MAX_PEER_ROWS);
  while (peerRows > 0 && peersHeight(peerCount, peerRows) > rest) peerRows--;
  const peers = peersHeight(peerCount, peerRows) <= rest ? peersHeight(peerCount, peerRows) : 0;
  rest -= peers;
  const statsRows = Math.max(0, Math.min(statsWanted, rest - BORDER));
  const stats = statsRows > 0 ? statsRows + BORDER : 0;
  rest -= stats;
  const status = rest > 0 ? 1 : 0;
  rest -= status;
  return {
    messages: BORDER + MIN_MESSAGE_ROWS + rest,
    peers,
    peerRows,
    stats,
    statsRows,
    status,
    input,
  };
}
