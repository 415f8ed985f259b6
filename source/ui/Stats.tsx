import { Box, Text } from 'ink';
import { sanitize } from '../chat/sanitize.js';
import type { SocketStats } from '../net/socket.js';
import { clip, formatBytes, formatDuration, hue } from './theme.js';

/** The connection stats pane: who and where we are, and the socket's totals. Props only. */

export interface StatsProps {
  nick: string;
  stats: SocketStats | undefined;
  width: number;
  color: boolean;
}

export function totalDropped(s: SocketStats): number {
  return Object.values(s.dropped).reduce((a, b) => a + b, 0);
}

export function Stats({ nick, stats, width, color }: StatsProps) {
  if (!stats) return <Text dimColor>starting…</Text>;
  // The public address appears once STUN has answered (fixtures may lack it).
  const nat = stats.natMapping === 'endpoint-dependent' ? ' (symmetric NAT)' : '';
  const pub = stats.publicAddress ? `   public ${stats.publicAddress}${nat}` : '';
  const who = `you: ${sanitize(nick)} at ${stats.localAddress}${pub}   key ${stats.fingerprint}`;
  const totals =
    `in ${stats.datagramsIn} pkts ${formatBytes(stats.bytesIn)}   ` +
    `out ${stats.datagramsOut} pkts ${formatBytes(stats.bytesOut)}   ` +
    `bad dropped ${totalDropped(stats)}   up ${formatDuration(stats.uptime)}`;
  return (
    <Box flexDirection="column">
      <Text color={hue(color, 'cyan')} wrap="truncate-end">
        {clip(who, width)}
      </Text>
      <Text wrap="truncate-end">{clip(totals, width)}</Text>
    </Box>
  );
}
