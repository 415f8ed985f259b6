import { relaySummary } from '../chat/netformat.js';
import type { RelayInfo, SocketStats } from '../index.js';

export { discoveryStartLine } from '../chat/netformat.js';

interface StatsSource {
  stats(): SocketStats;
  on(event: 'stats', listener: (s: SocketStats) => void): unknown;
  off(event: 'stats', listener: (s: SocketStats) => void): unknown;
}

/**
 * Says the relay's state at start and whenever it changes (allocating →
 * allocated, or failed): the stats ticks carry it, 4 a second, so only a
 * change is news. Byte counts are the pane's, not lines. Returns the
 * unsubscribe.
 */
export function watchRelay(socket: StatsSource, say: (text: string) => void): () => void {
  let said = '';
  const key = (r: RelayInfo | undefined) => `${r?.state}|${r?.server}|${r?.relayed}`;
  const check = (s: SocketStats) => {
    const k = key(s.relay);
    if (k === said) return;
    said = k;
    const line = relaySummary(s.relay, false);
    if (line) say(line);
  };
  check(socket.stats());
  socket.on('stats', check);
  return () => socket.off('stats', check);
}
