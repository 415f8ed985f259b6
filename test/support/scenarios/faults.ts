/**
 * Faults over real UDP on 127.0.0.1, through the seeded impairment proxy of
 * test/support/udpproxy.ts: a lossy, duplicating, jittery link; a blackout;
 * NAT rebinding; a peer restarted on the same port. Used by
 * test/net/faults.test.ts (which asserts) and `npm run chaos` (which prints
 * the same figures). Times are real and only ever reported.
 */
import { performance } from 'node:perf_hooks';
import type { PeerState } from '../../../source/net/core/events.js';
import { generateIdentity } from '../../../source/net/crypto/identity.js';
import { type Message, MultiHolepunchSocket } from '../../../source/net/shell/socket.js';
import { type Impairment, UdpProxy } from '../udpproxy.js';
import { errorText, type Scope, settle, sleep, until } from './scope.js';
import { type Counts, contentKey, Tally } from './tally.js';

/**
 * Sent after everything was acknowledged and the proxy holds nothing: its
 * arrival at alice proves every earlier copy the proxy forwarded was read
 * (one socket to one socket on loopback keeps order), so a late duplicate
 * delivered to the application would already be in the received list.
 */
const SENTINEL = 'sentinel: no copy is still on its way';
/** The restart scenario has no proxy (no copies): a short grace for stray retransmits. */
const GRACE_MS = 300;

export interface Rejections {
  rejected: number;
  first?: string;
}

/** bob → proxy → alice, both sides connected (the initiator is up one FINISH before the responder). */
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
  await alice.waitForPeer('bob', { timeout: 20_000 });
  return { alice, bob, proxy };
}

/** Records every message `sock` receives (and when the last came) and feeds it to `tally`. */
function record(sock: MultiHolepunchSocket, tally: Tally, onMessage?: (m: Message) => void) {
  const texts: string[] = [];
  const got = { texts, last: Number.NaN, sentinel: false };
  sock.addHook((m) => {
    if (m.content.toString() === SENTINEL) {
      got.sentinel = true;
      return;
    }
    texts.push(m.content.length <= 64 ? m.content.toString() : contentKey(m.content));
    got.last = performance.now();
    tally.see(contentKey(m.content));
    onMessage?.(m);
  });
  return got;
}

/**
 * Waits until the proxy holds no delayed copy, then until a sentinel sent
 * behind them all has reached `got`'s socket: every late duplicate has then
 * been read (not a sleep that may be too short on a busy machine).
 */
async function noCopyLeft(
  proxy: UdpProxy,
  from: MultiHolepunchSocket,
  to: string,
  got: { sentinel: boolean },
): Promise<void> {
  await until(() => proxy.inFlight === 0, 10_000);
  await from.send(SENTINEL, { recipient: to, timeout: 30_000 });
  await until(() => got.sentinel, 10_000);
}

type ProxyStats = UdpProxy['stats'];

function delta(a: ProxyStats, b: ProxyStats) {
  return {
    dropped: b.dropped - a.dropped,
    duplicated: b.duplicated - a.duplicated,
    forwarded: b.forwarded - a.forwarded,
  };
}

// ---- a lossy, duplicating, jittery link ------------------------------------------

export interface LossyLinkFigures {
  seed: number;
  link: Impairment;
  /** One count for the small messages, one for the big one. */
  small: Counts;
  big: Counts;
  /** What alice received, in order; long payloads as their content key. */
  received: string[];
  bigKey: string;
  sends: Rejections;
  /** First send → last small message, → the big one, → every send acknowledged. */
  smallDoneMs: number;
  bigDoneMs: number;
  ackedMs: number;
  proxy: { dropped: number; duplicated: number; forwarded: number };
  retransmits: number;
  /** alice's replay drops: the proxy's duplicates discarded, never delivered. */
  replayDrops: number;
}

/** `small` short messages and then one of `bigSize` random bytes, all sent at once. */
export async function lossyLink(
  scope: Scope,
  seed: number,
  small: number,
  bigSize: number,
): Promise<LossyLinkFigures> {
  const link = { loss: 0.3, duplicate: 0.05, delay: 20, jitter: 10 };
  const { alice, bob, proxy } = await pairThroughProxy(scope, seed, link);
  const smallTally = new Tally();
  const bigTally = new Tally();
  const all = new Tally();
  for (let i = 0; i < small; i++) smallTally.expect('bob→alice', `m${i}`);
  const big = proxy.rng.bytes(bigSize);
  const bigKey = contentKey(big);
  bigTally.expect('bob→alice', bigKey);
  let smallDone = Number.NaN;
  let bigDone = Number.NaN;
  const got = record(alice, all, (m) => {
    if (m.content.length <= 64) {
      smallTally.see(contentKey(m.content));
      smallDone = performance.now();
    } else {
      bigTally.see(contentKey(m.content));
      bigDone = performance.now();
    }
  });
  const timeout = Math.max(120_000, bigSize / 4);
  const p0 = { ...proxy.stats };
  const t0 = performance.now();
  const sends: Promise<void>[] = [];
  for (let i = 0; i < small; i++) sends.push(bob.send(`m${i}`, { recipient: 'alice', timeout }));
  sends.push(bob.send(big, { recipient: 'alice', timeout }));
  const settled = await settle(sends);
  const ackedMs = performance.now() - t0;
  await until(() => smallTally.complete && bigTally.complete, 10_000);
  // Late duplicates: wait until the proxy holds no delayed copy, then until a
  // sentinel sent behind them all has arrived (not a sleep that may be short).
  await noCopyLeft(proxy, bob, 'alice', got);
  return {
    seed,
    link,
    small: smallTally.summary(),
    big: bigTally.summary(),
    received: got.texts,
    bigKey,
    sends: settled,
    smallDoneMs: smallDone - t0,
    bigDoneMs: bigDone - t0,
    ackedMs,
    proxy: delta(p0, proxy.stats),
    retransmits: bob.peers()[0]?.stats.retransmits ?? 0,
    replayDrops: alice.stats().dropped.replay,
  };
}

// ---- a blackout ----------------------------------------------------------------

export interface BlackoutFigures {
  blackoutMs: number;
  warmFirst: boolean;
  counts: Counts;
  received: string[];
  /** alice's session with bob when the blackout began. */
  aliceAtStart: PeerState['kind'] | 'no session';
  /** How send() with a 1 s timeout during the blackout settled, and after how long. */
  doomed: string;
  doomedAfterMs: number;
  /** Both sides' view of the session at the end of the blackout, before it lifts. */
  atEnd: { bob: PeerState['kind'] | 'no session'; alice: PeerState['kind'] | 'no session' };
  bobEvents: string[];
  warm: Rejections;
  queued: Rejections;
  /** End of the blackout → every queued send acknowledged, → the last one delivered. */
  queuedAckedMs: number;
  lastDeliveredMs: number;
}

/**
 * A blackout of `blackoutMs`, then recovery: a send with a 1 s timeout is
 * doomed, ten queued with 30 s timeouts must get through. `warmFirst`: one
 * message goes through before the blackout (an established session).
 */
export async function blackout(
  scope: Scope,
  seed: number,
  blackoutMs: number,
  warmFirst: boolean,
): Promise<BlackoutFigures> {
  const { alice, bob, proxy } = await pairThroughProxy(scope, seed, {});
  const tally = new Tally();
  if (warmFirst) tally.expect('bob→alice', 'warm');
  tally.expect('bob→alice', 'too late');
  for (let i = 0; i < 10; i++) tally.expect('bob→alice', `q${i}`);
  const got = record(alice, tally);
  const warm = warmFirst
    ? await settle([bob.send('warm', { recipient: 'alice' })])
    : { rejected: 0 };
  const bobEvents: string[] = [];
  bob.on('peer', (p, change) =>
    bobEvents.push(p.state.kind === 'disconnected' ? `${change} (${p.state.reason})` : change),
  );
  const aliceAtStart = alice.peers()[0]?.state.kind ?? 'no session';

  proxy.blackout = true;
  const tb = performance.now();
  const doomedP = bob.send('too late', { recipient: 'alice', timeout: 1000 }).then(
    () => 'resolved',
    (e: unknown) => errorText(e),
  );
  const queuedP = Array.from({ length: 10 }, (_, i) =>
    bob.send(`q${i}`, { recipient: 'alice', timeout: 30_000 }),
  );
  const doomed = await doomedP;
  const doomedAfterMs = performance.now() - tb;
  await sleep(tb + blackoutMs - performance.now());
  // The session must survive the whole silence on both sides.
  const atEnd: BlackoutFigures['atEnd'] = {
    bob: bob.peers()[0]?.state.kind ?? 'no session',
    alice: alice.peers()[0]?.state.kind ?? 'no session',
  };
  proxy.blackout = false;
  const tEnd = performance.now();
  scope.progress('  blackout over');
  const queued = await settle(queuedP);
  const queuedAckedMs = performance.now() - tEnd;
  await until(() => tally.complete, 5_000);
  await noCopyLeft(proxy, bob, 'alice', got);
  return {
    blackoutMs,
    warmFirst,
    counts: tally.summary(),
    received: got.texts,
    aliceAtStart,
    doomed,
    doomedAfterMs,
    atEnd,
    bobEvents,
    warm,
    queued,
    queuedAckedMs,
    lastDeliveredMs: got.last - tEnd,
  };
}

// ---- NAT rebinding ------------------------------------------------------------

export interface RebindingFigures {
  counts: Counts;
  atAlice: string[];
  atBob: string[];
  before: Rejections;
  after: Rejections;
  replies: Rejections;
  /** alice's view of bob's address before and after the rebind. */
  addressBefore: string | undefined;
  addressAfter: string | undefined;
  alicePeerRecords: number;
  /** Rebind → the last message (either way) delivered. */
  realMs: number;
}

/** `n` messages, the proxy's source port changes, `n` more, then `n` replies from alice. */
export async function rebinding(scope: Scope, seed: number, n: number): Promise<RebindingFigures> {
  const { alice, bob, proxy } = await pairThroughProxy(scope, seed, {});
  const tally = new Tally();
  for (let i = 0; i < n; i++) tally.expect('bob→alice', `before ${i}`);
  for (let i = 0; i < n; i++) tally.expect('bob→alice', `after ${i}`);
  for (let i = 0; i < n; i++) tally.expect('alice→bob', `reply ${i}`);
  const atAlice = record(alice, tally);
  const atBob = record(bob, tally);
  const say = (from: MultiHolepunchSocket, to: string, text: string) =>
    Array.from({ length: n }, (_, i) =>
      from.send(`${text} ${i}`, { recipient: to, timeout: 10_000 }),
    );
  const before = await settle(say(bob, 'alice', 'before'));
  const addressBefore = alice.peers()[0]?.address;
  proxy.rebind();
  const t0 = performance.now();
  const after = await settle(say(bob, 'alice', 'after'));
  const replies = await settle(say(alice, 'bob', 'reply'));
  await until(() => tally.complete, 5_000);
  const realMs = Math.max(atAlice.last, atBob.last) - t0;
  await noCopyLeft(proxy, bob, 'alice', atAlice);
  await noCopyLeft(proxy, alice, 'bob', atBob);
  return {
    counts: tally.summary(),
    atAlice: atAlice.texts,
    atBob: atBob.texts,
    before,
    after,
    replies,
    addressBefore,
    addressAfter: alice.peers()[0]?.address,
    alicePeerRecords: alice.peers().length,
    realMs,
  };
}

// ---- a peer restarted on the same port ------------------------------------------

export interface RestartFigures {
  counts: Counts;
  /** What the restarted bob received, and what alice received. */
  atNewBob: string[];
  atAlice: string[];
  asked: Rejections;
  answered: Rejections;
  /** Peer changes alice saw after the kill. */
  aliceSaw: string[];
  problems: string[];
  /** alice's first send after the restart → delivered to the new bob; → the answer back at alice. */
  backMs: number;
  answerMs: number;
}

/** The parts of a socket a "kill" takes away: no CLOSE, no more timers. */
interface Killable {
  closed: boolean;
  statsTimer: NodeJS.Timeout | undefined;
  driver: {
    closed: boolean;
    timer: NodeJS.Timeout | undefined;
    udp: { socket: { close(cb: () => void): void } };
  };
}

async function kill(sock: MultiHolepunchSocket): Promise<void> {
  const dead = sock as unknown as Killable;
  dead.closed = true;
  dead.driver.closed = true;
  clearTimeout(dead.driver.timer);
  clearInterval(dead.statsTimer);
  await new Promise<void>((r) => dead.driver.udp.socket.close(r));
}

/** bob is killed without a CLOSE and started again on the same port with the same identity. */
export async function restart(scope: Scope): Promise<RestartFigures> {
  const alice = await MultiHolepunchSocket.bind({ host: '127.0.0.1', nick: 'alice' });
  scope.defer(() => alice.close());
  const identity = generateIdentity();
  const bob = await MultiHolepunchSocket.bind({ host: '127.0.0.1', nick: 'bob', identity });
  const port = bob.localAddress().port;
  const tally = new Tally();
  tally.expect('alice→bob', 'before the crash');
  tally.expect('alice→bob', 'are you back?');
  tally.expect('bob→alice', 'yes');
  record(bob, tally);
  const atAlice = record(alice, tally);
  const aliceSaw: string[] = [];
  alice.on('peer', (p, change) => aliceSaw.push(`${p.nick} ${change}`));
  await alice.addPeers({ bob: `127.0.0.1:${port}` });
  await alice.waitForPeer('bob');
  const problems: string[] = [];
  const first = await settle([alice.send('before the crash', { recipient: 'bob' })]);
  if (first.rejected > 0) problems.push(`"before the crash" rejected: ${first.first}`);

  await kill(bob);
  aliceSaw.length = 0;
  const bob2 = await MultiHolepunchSocket.bind({ host: '127.0.0.1', port, nick: 'bob', identity });
  scope.defer(() => bob2.close());
  let reply: Promise<void> | undefined;
  const atNewBob = record(bob2, tally, (m) => {
    if (m.content.toString() !== 'are you back?') return;
    try {
      reply = bob2.send('yes', { recipient: m.peer, timeout: 10_000 });
    } catch (err) {
      problems.push(`the restarted bob cannot answer "${m.peer}": ${errorText(err)}`);
    }
  });
  const t0 = performance.now();
  const asked = await settle([alice.send('are you back?', { recipient: 'bob', timeout: 10_000 })]);
  await until(() => reply !== undefined || problems.length > 0, 5_000);
  const answered = reply ? await settle([reply]) : { rejected: 0 };
  await until(() => tally.complete, 5_000);
  await sleep(GRACE_MS);
  return {
    counts: tally.summary(),
    atNewBob: atNewBob.texts,
    atAlice: atAlice.texts,
    asked,
    answered,
    aliceSaw,
    problems,
    backMs: atNewBob.last - t0,
    answerMs: atAlice.last - t0,
  };
}
