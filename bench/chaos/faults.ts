/**
 * Faults over real UDP on 127.0.0.1, through the seeded impairment proxy of
 * test/support/udpproxy.ts: a lossy, duplicating, jittery link; a blackout;
 * NAT rebinding; a peer restarted on the same port. As test/net/faults.test.ts,
 * measured instead of asserted.
 */
import { performance } from 'node:perf_hooks';
import { generateIdentity } from '../../source/net/crypto/identity.js';
import { type Message, MultiHolepunchSocket } from '../../source/net/shell/socket.js';
import { type Impairment, UdpProxy } from '../../test/support/udpproxy.js';
import { bytes, contentKey, count, errorText, ms, type ScenarioResult, Tally } from './report.js';
import { type Scope, sleep, until } from './scope.js';

/** bob → proxy → alice, as the tests set it up. */
async function pairThroughProxy(scope: Scope, seed: number, impairment: Impairment) {
  const alice = await MultiHolepunchSocket.bind({ host: '127.0.0.1', nick: 'alice' });
  scope.defer(() => alice.close());
  const proxy = await UdpProxy.start(
    { address: '127.0.0.1', port: alice.localAddress().port },
    seed,
    impairment,
  );
  scope.defer(() => proxy.close());
  const bob = await MultiHolepunchSocket.bind({ host: '127.0.0.1', nick: 'bob' });
  scope.defer(() => bob.close());
  await bob.addPeers({ alice: proxy.address });
  await bob.waitForPeer('alice', { timeout: 20_000 });
  return { alice, bob, proxy };
}

/** Feeds every message `sock` receives to `route`, and remembers when the last one came. */
function watch(
  sock: MultiHolepunchSocket,
  route: (m: Message) => void,
): { last: () => number; count: () => number } {
  let last = Number.NaN;
  let n = 0;
  sock.addHook((m) => {
    n++;
    last = performance.now();
    route(m);
  });
  return { last: () => last, count: () => n };
}

/** Settles sends; returns how many rejected and the first reason. */
async function settle(sends: Promise<void>[]): Promise<{ rejected: number; first?: string }> {
  const results = await Promise.allSettled(sends);
  const bad = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  return bad.length > 0
    ? { rejected: bad.length, first: errorText(bad[0]!.reason) }
    : { rejected: 0 };
}

function rejectedProblem(s: { rejected: number; first?: string }): string[] {
  return s.rejected > 0 ? [`${count(s.rejected)} send() calls rejected (first: ${s.first})`] : [];
}

/** How long to wait for late duplicates after everything arrived. */
const GRACE_MS = 300;

export async function lossyLink(
  scope: Scope,
  seed: number,
  small: number,
  bigSize: number,
): Promise<ScenarioResult[]> {
  const link = '30% loss, 5% dup, 20±10 ms';
  const { alice, bob, proxy } = await pairThroughProxy(scope, seed, {
    loss: 0.3,
    duplicate: 0.05,
    delay: 20,
    jitter: 10,
  });
  const smallTally = new Tally();
  const bigTally = new Tally();
  for (let i = 0; i < small; i++) smallTally.expect('bob→alice', `m${i}`);
  const big = proxy.rng.bytes(bigSize);
  bigTally.expect('bob→alice', contentKey(big));
  let lastSmall = Number.NaN;
  let lastBig = Number.NaN;
  watch(alice, (m) => {
    if (m.content.length <= 64) {
      smallTally.see(contentKey(m.content));
      lastSmall = performance.now();
    } else {
      bigTally.see(contentKey(m.content));
      lastBig = performance.now();
    }
  });
  const retransmits = () => bob.peers()[0]?.stats.retransmits ?? 0;
  const timeout = Math.max(120_000, bigSize / 4);

  scope.progress(`  ${count(small)} messages…`);
  const p0 = { ...proxy.stats };
  const r0 = retransmits();
  const t0 = performance.now();
  const sends: Promise<void>[] = [];
  for (let i = 0; i < small; i++) sends.push(bob.send(`m${i}`, { recipient: 'alice', timeout }));
  const s1 = await settle(sends);
  const ackedMs = performance.now() - t0;
  await until(() => smallTally.complete, 10_000);
  await sleep(GRACE_MS);
  const p1 = { ...proxy.stats };
  const r1 = retransmits();
  const first = smallTally.summary();
  first.problems.push(...rejectedProblem(s1));

  scope.progress(`  one ${bytes(bigSize)} message…`);
  const t1 = performance.now();
  const s2 = await settle([bob.send(big, { recipient: 'alice', timeout })]);
  const bigAckedMs = performance.now() - t1;
  await until(() => bigTally.complete, 10_000);
  await sleep(GRACE_MS);
  const p2 = { ...proxy.stats };
  const second = bigTally.summary();
  second.problems.push(...rejectedProblem(s2));

  const proxyNote = (a: typeof p0, b: typeof p0) =>
    `proxy dropped ${count(b.dropped - a.dropped)}, duplicated ${count(b.duplicated - a.duplicated)}, forwarded ${count(b.forwarded - a.forwarded)} datagrams (both ways)`;
  return [
    {
      scenario: `${count(small)} messages, ${link} (real UDP)`,
      ...first,
      realMs: lastSmall - t0,
      timeOf: 'first send → last message delivered',
      notes: [
        `seed ${seed}`,
        `all acknowledged after ${ms(ackedMs)}`,
        proxyNote(p0, p1),
        `${count(r1 - r0)} retransmits`,
      ],
    },
    {
      scenario: `one ${bytes(bigSize)} message, same link (real UDP)`,
      ...second,
      realMs: lastBig - t1,
      timeOf: 'send → message delivered',
      notes: [
        `acknowledged after ${ms(bigAckedMs)}`,
        `${((bigSize * 8) / 1e6 / ((lastBig - t1) / 1000)).toFixed(2)} Mbit/s goodput`,
        proxyNote(p1, p2),
        `${count(retransmits() - r1)} retransmits`,
      ],
    },
  ];
}

/**
 * A blackout of `blackoutMs`, then recovery. `established`: the blackout
 * starts once alice has confirmed the session (a message went through);
 * otherwise the moment bob's waitForPeer() resolves, as the test does.
 */
export async function blackout(
  scope: Scope,
  seed: number,
  blackoutMs: number,
  established: boolean,
): Promise<ScenarioResult> {
  const { alice, bob, proxy } = await pairThroughProxy(scope, seed, {});
  const tally = new Tally();
  if (established) tally.expect('bob→alice', 'warm');
  tally.expect('bob→alice', 'too late');
  for (let i = 0; i < 10; i++) tally.expect('bob→alice', `q${i}`);
  const got = watch(alice, (m) => tally.see(contentKey(m.content)));
  const problems: string[] = [];
  if (established) {
    problems.push(...rejectedProblem(await settle([bob.send('warm', { recipient: 'alice' })])));
    await until(() => alice.peers()[0]?.state.kind === 'connected', 5_000);
  }
  const bobSaw: string[] = [];
  bob.on('peer', (p, change) =>
    bobSaw.push(p.state.kind === 'disconnected' ? `${change} (${p.state.reason})` : change),
  );
  const aliceAtStart = alice.peers()[0]?.state.kind ?? 'no session';

  proxy.blackout = true;
  const tb = performance.now();
  const doomed = bob.send('too late', { recipient: 'alice', timeout: 1000 }).then(
    () => 'resolved',
    (e: unknown) => errorText(e),
  );
  const queued = Array.from({ length: 10 }, (_, i) =>
    bob.send(`q${i}`, { recipient: 'alice', timeout: 30_000 }),
  );
  const doomedText = await doomed;
  const doomedAfter = performance.now() - tb;
  if (!/not acknowledged within 1000 ms by: alice/.test(doomedText))
    problems.push(`send() with a 1 s timeout during the blackout gave "${doomedText}"`);
  await sleep(tb + blackoutMs - 1000 - performance.now());
  const bobState = bob.peers()[0]?.state.kind ?? 'no session';
  const aliceState = alice.peers()[0]?.state.kind ?? 'no session';
  const bothUp = bobState === 'connected' && aliceState === 'connected';
  if (established && !bothUp)
    problems.push(`1 s before the blackout ended: bob sees ${bobState}, alice sees ${aliceState}`);
  await sleep(tb + blackoutMs - performance.now());
  proxy.blackout = false;
  const tEnd = performance.now();
  scope.progress('  blackout over');
  const s = await settle(queued);
  const ackedMs = performance.now() - tEnd;
  await until(() => tally.complete, 5_000);
  await sleep(GRACE_MS);
  const summary = tally.summary();
  summary.problems.push(...problems, ...rejectedProblem(s));
  return {
    scenario: established
      ? `${ms(blackoutMs)} blackout of an established session (real UDP)`
      : `${ms(blackoutMs)} blackout as bob connects, as the test (real UDP)`,
    ...summary,
    realMs: got.last() - tEnd,
    timeOf: 'end of blackout → last queued message delivered',
    notes: [
      `alice's session with bob when the blackout began: ${aliceAtStart}`,
      `send() with a 1 s timeout rejected after ${ms(doomedAfter)}: "${doomedText}"`,
      `1 s before the end: bob sees ${bobState}, alice sees ${aliceState}`,
      `bob's peer events: ${bobSaw.length > 0 ? bobSaw.join(', ') : 'none'}`,
      `queued sends acknowledged ${ms(ackedMs)} after the blackout`,
    ],
  };
}

export async function rebinding(scope: Scope, seed: number, n: number): Promise<ScenarioResult> {
  const { alice, bob, proxy } = await pairThroughProxy(scope, seed, {});
  const tally = new Tally();
  for (let i = 0; i < n; i++) tally.expect('bob→alice', `before ${i}`);
  for (let i = 0; i < n; i++) tally.expect('bob→alice', `after ${i}`);
  for (let i = 0; i < n; i++) tally.expect('alice→bob', `reply ${i}`);
  const atAlice = watch(alice, (m) => tally.see(contentKey(m.content)));
  const atBob = watch(bob, (m) => tally.see(contentKey(m.content)));
  const before = await settle(
    Array.from({ length: n }, (_, i) => bob.send(`before ${i}`, { recipient: 'alice' })),
  );
  const addrBefore = alice.peers()[0]?.address;
  proxy.rebind();
  const t0 = performance.now();
  const after = await settle([
    ...Array.from({ length: n }, (_, i) =>
      bob.send(`after ${i}`, { recipient: 'alice', timeout: 10_000 }),
    ),
    ...Array.from({ length: n }, (_, i) =>
      alice.send(`reply ${i}`, { recipient: 'bob', timeout: 10_000 }),
    ),
  ]);
  await until(() => tally.complete, 5_000);
  const last = Math.max(atAlice.last(), atBob.last());
  await sleep(GRACE_MS);
  const addrAfter = alice.peers()[0]?.address;
  const summary = tally.summary();
  summary.problems.push(...rejectedProblem(before), ...rejectedProblem(after));
  if (addrAfter === addrBefore) summary.problems.push(`alice still sends to ${addrBefore}`);
  if (alice.peers().length !== 1)
    summary.problems.push(`alice has ${alice.peers().length} peer records, not 1`);
  return {
    scenario: 'NAT rebinding mid-session (real UDP)',
    ...summary,
    realMs: last - t0,
    timeOf: 'rebind → last message (both ways) delivered',
    notes: [
      `${n} before, ${n} after, ${n} replies`,
      `alice's view of bob: ${addrBefore ?? '-'} → ${addrAfter ?? '-'}`,
    ],
  };
}

interface Killable {
  closed: boolean;
  timer: NodeJS.Timeout | undefined;
  statsTimer: NodeJS.Timeout | undefined;
  socket: { close(cb: () => void): void };
}

export async function restart(scope: Scope): Promise<ScenarioResult> {
  const alice = await MultiHolepunchSocket.bind({ host: '127.0.0.1', nick: 'alice' });
  scope.defer(() => alice.close());
  const identity = generateIdentity();
  const bob = await MultiHolepunchSocket.bind({ host: '127.0.0.1', nick: 'bob', identity });
  const port = bob.localAddress().port;
  const tally = new Tally();
  tally.expect('alice→bob', 'before the crash');
  tally.expect('alice→bob', 'are you back?');
  tally.expect('bob→alice', 'yes');
  watch(bob, (m) => tally.see(contentKey(m.content)));
  const atAlice = watch(alice, (m) => tally.see(contentKey(m.content)));
  const changes: string[] = [];
  alice.on('peer', (p, change) => changes.push(`${p.nick} ${change}`));
  await alice.addPeers({ bob: `127.0.0.1:${port}` });
  await alice.waitForPeer('bob');
  const problems: string[] = [];
  problems.push(
    ...rejectedProblem(await settle([alice.send('before the crash', { recipient: 'bob' })])),
  );

  // "Kill" bob: the socket and its timers vanish without a CLOSE (as the test does).
  const dead = bob as unknown as Killable;
  dead.closed = true;
  clearTimeout(dead.timer);
  clearInterval(dead.statsTimer);
  await new Promise<void>((r) => dead.socket.close(r));
  changes.length = 0;

  const bob2 = await MultiHolepunchSocket.bind({ host: '127.0.0.1', port, nick: 'bob', identity });
  scope.defer(() => bob2.close());
  let backAt = Number.NaN;
  let reply: Promise<void> | undefined;
  watch(bob2, (m) => {
    tally.see(contentKey(m.content));
    if (m.content.toString() === 'are you back?') {
      backAt = performance.now();
      try {
        reply = bob2.send('yes', { recipient: m.peer, timeout: 10_000 });
      } catch (err) {
        problems.push(`the restarted bob cannot answer "${m.peer}": ${errorText(err)}`);
      }
    }
  });
  const t0 = performance.now();
  const asked = await settle([alice.send('are you back?', { recipient: 'bob', timeout: 10_000 })]);
  await until(() => reply !== undefined || problems.length > 0, 5_000);
  const answered = reply ? await settle([reply]) : { rejected: 0 };
  await until(() => tally.complete, 5_000);
  await sleep(GRACE_MS);
  const summary = tally.summary();
  summary.problems.push(...problems, ...rejectedProblem(asked), ...rejectedProblem(answered));
  return {
    scenario: 'peer restarted on the same port (real UDP)',
    ...summary,
    realMs: backAt - t0,
    timeOf: "alice's first send after the restart → delivered to the new bob",
    notes: [
      `answer back at alice after ${ms(atAlice.last() - t0)}`,
      `alice saw: ${changes.length > 0 ? changes.join(', ') : 'no peer events'}`,
    ],
  };
}
