/**
 * One report row per scenario, from the figures its function in
 * test/support/scenarios/ returned: the counts as columns, the rest as notes,
 * and as problems whatever the matching test asserts against.
 */
import type { ChaosFigures } from '../../test/support/scenarios/chaos.js';
import type {
  BlackoutFigures,
  LossyLinkFigures,
  RebindingFigures,
  RestartFigures,
} from '../../test/support/scenarios/faults.js';
import type { FloodPeerFigures } from '../../test/support/scenarios/flood.js';
import type { FuzzFigures } from '../../test/support/scenarios/fuzz.js';
import { bytes, count, countsRow, ms, rejectedProblem, type ScenarioResult } from './report.js';

const pct = (part: number, whole: number) => `${((100 * part) / Math.max(1, whole)).toFixed(1)}%`;

export function meshRow(f: ChaosFigures): ScenarioResult {
  const row = countsRow(f.counts);
  if (!f.meshUp) row.problems.push(`seed ${f.seed}: the mesh did not come up within 60 s virtual`);
  else if (!f.allArrived)
    row.problems.push(`seed ${f.seed}: not everything arrived within 600 s virtual`);
  if (f.acks.never > 0)
    row.problems.push(`${count(f.acks.never)} never acknowledged to their sender`);
  if (f.acks.more > 0) row.problems.push(`${count(f.acks.more)} acknowledged more than once`);
  const n = f.network;
  return {
    scenario: '3-peer mesh, 30% loss, 5% dup, jitter (virtual clock)',
    ...row,
    realMs: f.meshUp ? f.realMs : undefined,
    virtualMs: f.meshUp ? f.virtualMs : undefined,
    timeOf: 'first send → last message delivered',
    notes: [
      `seed ${f.seed}`,
      `mesh up after ${ms(f.meshUpMs)} virtual`,
      `network dropped ${count(n.dropped)} of ${count(n.sent)} datagrams (${pct(n.dropped, n.sent)}) and duplicated ${count(n.duplicated)}`,
      `dropped as replays: ${Object.entries(f.replayDrops)
        .map(([k, v]) => `${k} ${count(v)}`)
        .join(', ')}`,
      `transport declared ${count(f.transport.packetsLost)} packets lost, ${count(f.transport.retransmits)} retransmits`,
      `${count(f.acks.total - f.acks.never)} of ${count(f.acks.total)} sends acknowledged`,
    ],
  };
}

export function floodPeerRow(f: FloodPeerFigures): ScenarioResult {
  const row = countsRow(f.counts);
  if (!f.connected) row.problems.push(`seed ${f.seed}: bob did not connect within 10 s virtual`);
  if (f.maxHalfOpen > 1024) row.problems.push(`${count(f.maxHalfOpen)} half-open handshakes`);
  return {
    scenario: `real peer during a ${count(f.inits)}-INIT flood (virtual clock)`,
    ...row,
    realMs: f.realMs,
    virtualMs: f.connectMs,
    timeOf: 'real: the whole scenario (flood included); virtual: addPeer → both sides connected',
    notes: [
      `seed ${f.seed}`,
      `alice answered ${count(f.rateLimited)} INITs with a stateless cookie (${count(f.rateLimitedBeforeDial)} before bob dialled)`,
      `max half-open ${count(f.maxHalfOpen)}`,
    ],
  };
}

export function lossyRows(f: LossyLinkFigures, bigSize: number): ScenarioResult[] {
  const link = `${f.link.loss! * 100}% loss, ${f.link.duplicate! * 100}% dup, ${f.link.delay}±${f.link.jitter} ms`;
  const small = countsRow(f.small);
  small.problems.push(...rejectedProblem(f.sends));
  const proxy = `proxy dropped ${count(f.proxy.dropped)}, duplicated ${count(f.proxy.duplicated)}, forwarded ${count(f.proxy.forwarded)} datagrams (both ways)`;
  return [
    {
      scenario: `${count(f.small.sent)} messages, ${link} (real UDP)`,
      ...small,
      realMs: f.smallDoneMs,
      timeOf: 'first send → last message delivered',
      notes: [
        `seed ${f.seed}`,
        `everything (the big message too) acknowledged after ${ms(f.ackedMs)}`,
        proxy,
        `${count(f.retransmits)} retransmits, ${count(f.replayDrops)} duplicates dropped as replays`,
      ],
    },
    {
      scenario: `one ${bytes(bigSize)} message, same link (real UDP)`,
      ...countsRow(f.big),
      realMs: f.bigDoneMs,
      timeOf: 'first send → message delivered (sent right behind the small ones, same stream)',
      notes: [`${((bigSize * 8) / 1e6 / (f.bigDoneMs / 1000)).toFixed(2)} Mbit/s goodput`],
    },
  ];
}

export function blackoutRow(f: BlackoutFigures): ScenarioResult {
  const row = countsRow(f.counts);
  if (!/not acknowledged within 1000 ms by: alice/.test(f.doomed))
    row.problems.push(`send() with a 1 s timeout during the blackout gave "${f.doomed}"`);
  if (f.atEnd.bob !== 'connected' || f.atEnd.alice !== 'connected')
    row.problems.push(
      `at the end of the blackout: bob sees ${f.atEnd.bob}, alice sees ${f.atEnd.alice}`,
    );
  row.problems.push(...rejectedProblem(f.warm), ...rejectedProblem(f.queued));
  return {
    scenario: f.warmFirst
      ? `${ms(f.blackoutMs)} blackout of an established session (real UDP)`
      : `${ms(f.blackoutMs)} blackout right after connecting (real UDP)`,
    ...row,
    realMs: f.lastDeliveredMs,
    timeOf: 'end of blackout → last queued message delivered',
    notes: [
      `alice's session with bob when the blackout began: ${f.aliceAtStart}`,
      `send() with a 1 s timeout rejected after ${ms(f.doomedAfterMs)}: "${f.doomed}"`,
      `at the end: bob sees ${f.atEnd.bob}, alice sees ${f.atEnd.alice}`,
      `bob's peer events: ${f.bobEvents.length > 0 ? f.bobEvents.join(', ') : 'none'}`,
      `queued sends acknowledged ${ms(f.queuedAckedMs)} after the blackout`,
    ],
  };
}

export function rebindingRow(f: RebindingFigures): ScenarioResult {
  const row = countsRow(f.counts);
  row.problems.push(
    ...rejectedProblem(f.before),
    ...rejectedProblem(f.after),
    ...rejectedProblem(f.replies),
  );
  if (f.addressAfter === f.addressBefore)
    row.problems.push(`alice still sends to ${f.addressBefore}`);
  if (f.alicePeerRecords !== 1)
    row.problems.push(`alice has ${f.alicePeerRecords} peer records, not 1`);
  const n = f.counts.sent / 3;
  return {
    scenario: 'NAT rebinding mid-session (real UDP)',
    ...row,
    realMs: f.realMs,
    timeOf: 'rebind → last message (both ways) delivered',
    notes: [
      `${n} before, ${n} after, ${n} replies`,
      `alice's view of bob: ${f.addressBefore ?? '-'} → ${f.addressAfter ?? '-'}`,
    ],
  };
}

export function restartRow(f: RestartFigures): ScenarioResult {
  const row = countsRow(f.counts);
  row.problems.push(...f.problems, ...rejectedProblem(f.asked), ...rejectedProblem(f.answered));
  return {
    scenario: 'peer restarted on the same port (real UDP)',
    ...row,
    realMs: f.backMs,
    timeOf: "alice's first send after the restart → delivered to the new bob",
    notes: [
      `answer back at alice after ${ms(f.answerMs)}`,
      `alice saw: ${f.aliceSaw.length > 0 ? f.aliceSaw.join(', ') : 'no peer events'}`,
    ],
  };
}

export function fuzzRow(f: FuzzFigures): ScenarioResult {
  const row = countsRow(f.counts);
  row.problems.push(...rejectedProblem(f.chatRejected, 'chat sends'));
  if (f.peersAfter.join() !== 'bob:connected')
    row.problems.push(`after the attack alice's peers are [${f.peersAfter.join(', ')}]`);
  if (f.total.unaccounted !== 0 || f.attack.unaccounted !== 0)
    row.problems.push(
      `${count(f.total.unaccounted)} datagrams not accounted for in stats (${count(f.attack.unaccounted)} during the attack)`,
    );
  return {
    scenario: `chat during ${count(f.tried)} hostile datagrams (real UDP)`,
    ...row,
    realMs: f.realMs,
    timeOf: 'the whole attack',
    notes: [
      `seed ${f.seed}`,
      `${count(f.chatSent)} chat messages during the attack after 20 before it`,
      `alice's peers after: ${f.peersAfter.join(', ')}`,
    ],
  };
}
