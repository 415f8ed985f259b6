/**
 * The report's sections besides the table: where the fuzzer's datagrams went,
 * and what the handshake flood cost. Text only; the figures come from the
 * scenarios in test/support/scenarios/.
 */
import type { FloodFigures, FloodPeerFigures } from '../../test/support/scenarios/flood.js';
import type { FuzzFigures } from '../../test/support/scenarios/fuzz.js';
import { bytes, count, ms } from './report.js';

const pad = (label: string, value: string) => `  ${label.padEnd(44)}${value}`;
const tally = (byKey: Record<string, number>) =>
  Object.entries(byKey)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${count(v)}`)
    .join(', ');

/** `kernelDropped`: host-wide kernel receive-buffer drops during the scenario, when readable. */
export function fuzzSection(f: FuzzFigures, kernelDropped?: number): string {
  const title = 'Bad datagrams tried and dropped by reason';
  const a = f.attack;
  const lines = [
    title,
    pad('tried', `${count(f.tried)} (random, truncated, bit-flipped, replayed; seed ${f.seed})`),
    pad(
      'reached the socket',
      `${f.reached === undefined ? '-' : count(f.reached)}${kernelDropped === undefined ? '' : ` (kernel receive-buffer drops, host-wide: ${count(kernelDropped)})`}`,
    ),
    pad('dropped, by reason:', count(a.droppedTotal)),
  ];
  for (const [reason, n] of Object.entries(a.dropped).sort((x, y) => y[1] - x[1]))
    lines.push(pad(`  ${reason}`, count(n)));
  lines.push(
    pad('taken as handshake packets (replayed INITs)', count(a.handshakePackets)),
    pad('STUN-shaped', count(a.stun)),
    pad('authenticated, from the chatting peer', count(a.fromPeer)),
    pad('unaccounted for', count(a.unaccounted)),
    pad(
      'sent back to the attackers',
      `${count(f.repliesToAttackers.datagrams)} datagrams, ${bytes(f.repliesToAttackers.bytes)} (attack: ${bytes(f.attackBytes)}): ${tally(f.repliesToAttackers.byType) || 'none'}`,
    ),
    pad("'error' events on the socket", tally(f.errorEvents) || 'none'),
  );
  return lines.join('\n');
}

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
const delta = (a: number, b: number) => `${b >= a ? '+' : ''}${mib(b - a)}`;

export function floodSection(
  inits: number,
  f: FloodFigures | undefined,
  p: FloodPeerFigures,
): string {
  const title = `Handshake flood: ${count(inits)} INITs from random 127.0.0.0/8 address:port pairs into the sans-I/O endpoint`;
  if (!f) return `${title}\n  (crashed: no figures)`;
  const m = f.memory;
  const worst = Number.isFinite(f.worstRatio) ? f.worstRatio.toFixed(3) : '∞';
  return [
    title,
    pad(
      'processed in',
      `${ms(f.realMs)} real for ${ms(f.virtualMs)} virtual (${count(Math.round(f.inits / (f.realMs / 1000)))} INITs/s)`,
    ),
    pad(
      'half-open handshakes',
      `max ${count(f.maxHalfOpen)}, ${count(f.halfOpenAfter)} at the end`,
    ),
    pad(
      'answered',
      `${count(f.rateLimited)} with a stateless cookie, ${count(f.answeredWithState)} with state`,
    ),
    pad(
      'bytes out ÷ bytes in',
      `${f.ratio.toFixed(3)}x overall (${bytes(f.bytesOut)} / ${bytes(f.bytesIn)})`,
    ),
    pad(
      '  worst single address',
      `${worst}x (${f.worstAddress}); over 3x: ${count(f.addressesOver3x)} of ${count(f.addresses)} addresses`,
    ),
    pad(
      'peak memory during the flood',
      `RSS ${mib(m.peak.rss)} (${delta(m.before.rss, m.peak.rss)}), heapUsed ${mib(m.peak.heapUsed)} (${delta(m.before.heapUsed, m.peak.heapUsed)})`,
    ),
    pad(
      '  baseline before / after the flood',
      `RSS ${mib(m.before.rss)} / ${mib(m.after.rss)}, heapUsed ${mib(m.before.heapUsed)} / ${mib(m.after.heapUsed)}`,
    ),
    pad(
      '  sampling',
      `${count(m.samples)} samples; gc forced before and after: ${m.gcForced ? 'yes' : 'no (run with NODE_OPTIONS=--expose-gc)'}`,
    ),
    pad(
      'a real peer connected during the flood',
      p.connected
        ? `yes, in ${ms(p.connectMs)} virtual (max half-open ${count(p.maxHalfOpen)}, ${count(p.rateLimited)} cookies sent)`
        : 'NO',
    ),
  ].join('\n');
}

/** A handshake flood that sent anything to an address that sent nothing, or over 3x back, is a failure. */
export function floodProblems(f: FloodFigures): string[] {
  const out: string[] = [];
  if (f.worstRatio > 3)
    out.push(`handshake flood: ${f.worstAddress} got ${f.worstRatio.toFixed(3)}x its bytes back`);
  if (f.maxHalfOpen > 1024) out.push(`handshake flood: ${count(f.maxHalfOpen)} half-open`);
  return out;
}
