/**
 * Attacks by authenticated peers through introductions, on the fake network
 * and the virtual clock: used by test/net/hostile-peers.test.ts (which
 * asserts) and by `npm run chaos` (which prints the same figures).
 *
 * - reflection: many hostile identities, each connected to alice, flood her
 *   with introductions of random keys that all point at one victim. What
 *   reaches the victim is bounded by the node-wide budget for third-party
 *   dials (nat/introductions.ts), whatever the number of identities.
 * - name claim: strangers try to take the name "bob" before the user adds
 *   bob — by announcing it, by an introduction of a random key named bob,
 *   and by a look-alike (Cyrillic о). The user's bob must end up with bob's
 *   real key, and nobody else with a name that looks like it.
 */

import { generateIdentity } from '../../../source/net/crypto/identity.js';
import { CONTROL_STREAM, encodeIntroduction } from '../../../source/net/nat/introduce.js';
import { LEARNED_DIALS_PER_MINUTE } from '../../../source/net/nat/introductions.js';
import { PacketType } from '../../../source/net/wire/packet.js';
import { FakeNetwork } from '../fakenet.js';
import { SimPeer } from '../simnode.js';
import { type Cost, CostMeter, costText } from './cost.js';

const ALICE = { address: '203.0.113.1', port: 1000 };
const BOB = { address: '203.0.113.2', port: 2000 };
/** A third party that never asked for anything. */
export const VICTIM = { address: '203.0.113.99', port: 9999 };
/** The burst of the node-wide budget (nat/introductions.ts). */
const LEARNED_DIALS_BURST = 64;

export interface ReflectionFigures {
  identities: number;
  /** Introductions the attackers sent, and their bytes. */
  introductions: number;
  introBytes: number;
  /** What alice sent the victim. */
  initsToVictim: number;
  bytesToVictim: number;
  /** Victim bytes per byte of introductions. */
  ratio: number;
  minutes: number;
  /** INITs the budget allows in that time (burst + rate). */
  budget: number;
  refusedDials: number;
  /** Every byte alice sent (victim, attackers, anyone) per byte the attackers sent her, during the attack. */
  aliceBytesOut: number;
  attackerBytesIn: number;
  cost: Cost;
}

export function reflection(seed: number, identities = 8, minutes = 1): ReflectionFigures {
  const net = new FakeNetwork({ seed });
  const alice = new SimPeer(net, ALICE, { nick: 'alice' }, net.rng);
  const hostile: SimPeer[] = [];
  for (let i = 0; i < identities; i++) {
    const m = new SimPeer(
      net,
      { address: `203.0.113.${70 + i}`, port: 7000 },
      { nick: `m${i}` },
      net.rng,
    );
    m.add('alice', alice);
    hostile.push(m);
  }
  if (!net.runUntilTrue(() => alice.endpoint.connectedNicks().length === identities, 10_000))
    throw new Error('reflection: the hostile peers did not connect');
  let initsToVictim = 0;
  let bytesToVictim = 0;
  let aliceBytesOut = 0;
  let attackerBytesIn = 0;
  const meter = new CostMeter();
  net.tap = (d) => {
    meter.sample();
    if (d.to.address === VICTIM.address) {
      bytesToVictim += d.data.length;
      if (d.data[1] === PacketType.Init) initsToVictim++;
    }
    if (d.from.address === ALICE.address) aliceBytesOut += d.data.length;
    else if (d.to.address === ALICE.address) attackerBytesIn += d.data.length;
    return undefined;
  };
  let introductions = 0;
  let introBytes = 0;
  const start = net.now;
  // Every identity sends more than its own allowance every 10 s.
  for (let round = 0; round < 6 * minutes; round++) {
    for (const m of hostile) {
      for (let k = 0; k < 40; k++) {
        const intro = encodeIntroduction({
          identity: generateIdentity().publicKey,
          nick: 'x',
          addrs: [0, 1, 2, 3].map((p) => ({ address: VICTIM.address, port: 9000 + p })),
        });
        introductions++;
        introBytes += intro.length;
        m.endpoint.sendMessage(['alice'], intro, net.now, CONTROL_STREAM);
      }
      net.poke(m.addr);
    }
    net.run(10_000);
  }
  net.run(60_000); // the last candidates' attempts play out
  const elapsed = (net.now - start) / 60_000;
  return {
    identities,
    introductions,
    introBytes,
    initsToVictim,
    bytesToVictim,
    ratio: bytesToVictim / introBytes,
    minutes: elapsed,
    budget: Math.ceil(LEARNED_DIALS_BURST + LEARNED_DIALS_PER_MINUTE * elapsed),
    refusedDials: alice.endpoint.introductionStats().refusedDials,
    aliceBytesOut,
    attackerBytesIn,
    cost: meter.done(),
  };
}

export interface NameClaimFigures {
  /** Who holds "bob" in alice's table at the end, and is it pinned. */
  bobIsReal: boolean;
  bobPinned: boolean;
  /** The names the claimants ended up with. */
  claimants: string[];
  /** A claimant's name equal to, or looking like, "bob". */
  lookalikes: string[];
  /** A private message to bob reached bob, and no claimant. */
  messageToRealBob: boolean;
  messageToClaimant: boolean;
  /** What alice sent anyone but bob per byte the claimants sent her. */
  aliceBytesOut: number;
  claimantBytesIn: number;
  cost: Cost;
}

export function nameClaim(seed: number): NameClaimFigures {
  const net = new FakeNetwork({ seed });
  const meter = new CostMeter();
  let aliceBytesOut = 0;
  let claimantBytesIn = 0;
  net.tap = (d) => {
    meter.sample();
    const bobSide = d.to.address === BOB.address || d.from.address === BOB.address;
    if (d.from.address === ALICE.address && !bobSide) aliceBytesOut += d.data.length;
    else if (d.to.address === ALICE.address && !bobSide) claimantBytesIn += d.data.length;
    return undefined;
  };
  const alice = new SimPeer(net, ALICE, { nick: 'alice' }, net.rng);
  // 1: a stranger who announces "bob" connects first.
  const announcer = new SimPeer(
    net,
    { address: '203.0.113.66', port: 6666 },
    { nick: 'bob' },
    net.rng,
  );
  announcer.add('alice', alice);
  // 2: a look-alike, "bоb" with a Cyrillic о.
  const lookalike = new SimPeer(
    net,
    { address: '203.0.113.67', port: 6667 },
    { nick: 'b\u043eb' },
    net.rng,
  );
  lookalike.add('alice', alice);
  net.run(3000);
  // 3: an introduction of a random key under the name "bob".
  announcer.endpoint.sendMessage(
    ['alice'],
    encodeIntroduction({ identity: generateIdentity().publicKey, nick: 'bob', addrs: [VICTIM] }),
    net.now,
    CONTROL_STREAM,
  );
  net.poke(announcer.addr);
  net.run(1000);
  // The user adds the real bob.
  const bob = new SimPeer(net, BOB, { nick: 'bob' }, net.rng);
  alice.add('bob', bob);
  net.runUntilTrue(() => alice.connected('bob'), 10_000);
  alice.send(['bob'], 'for bob only');
  net.run(2000);
  const held = alice.endpoint.peer('bob');
  const claimants = alice.endpoint
    .peers()
    .filter((p) => p.fingerprint !== bob.endpoint.fingerprint)
    .map((p) => p.nick);
  const mine = (p: SimPeer) => p.received.some((m) => m.data.toString() === 'for bob only');
  return {
    bobIsReal: held?.fingerprint === bob.endpoint.fingerprint,
    bobPinned: held?.pinned === true,
    claimants,
    lookalikes: claimants.filter((n) => n === 'bob' || n === 'b\u043eb'),
    messageToRealBob: mine(bob),
    messageToClaimant: mine(announcer) || mine(lookalike),
    aliceBytesOut,
    claimantBytesIn,
    cost: meter.done(),
  };
}

/** The report section `npm run chaos` prints. */
export function hostileSection(r: ReflectionFigures, n: NameClaimFigures): string {
  const pad = (label: string, value: string) => `  ${label.padEnd(44)}${value}`;
  return [
    `Reflection through introductions: ${r.identities} authenticated identities, one victim`,
    pad('introductions sent', `${r.introductions} (${r.introBytes} bytes)`),
    pad(
      'INITs at the victim',
      `${r.initsToVictim} (budget ${r.budget} in ${r.minutes.toFixed(1)} min)`,
    ),
    pad(
      'bytes at the victim per introduction byte',
      `${r.ratio.toFixed(2)}x (${r.bytesToVictim} bytes)`,
    ),
    pad('third-party dials refused by the budget', String(r.refusedDials)),
    pad(
      "alice's bytes out per attacker byte in",
      `${(r.aliceBytesOut / Math.max(1, r.attackerBytesIn)).toFixed(2)}x (${r.aliceBytesOut} / ${r.attackerBytesIn} bytes)`,
    ),
    pad('CPU, memory (whole simulation)', costText(r.cost)),
    '',
    'Name claims before the user adds bob (announced, introduced, look-alike)',
    pad('"bob" holds the real key, pinned', `${n.bobIsReal && n.bobPinned ? 'yes' : 'NO'}`),
    pad('claimants now named', n.claimants.join(', ')),
    pad(
      'a private message to bob reached',
      n.messageToRealBob && !n.messageToClaimant ? 'bob only' : 'WRONG PEER',
    ),
    pad(
      "alice's bytes out per claimant byte in",
      `${(n.aliceBytesOut / Math.max(1, n.claimantBytesIn)).toFixed(2)}x (${n.aliceBytesOut} / ${n.claimantBytesIn} bytes)`,
    ),
    pad('CPU, memory (whole simulation)', costText(n.cost)),
  ].join('\n');
}

export function hostileProblems(r: ReflectionFigures, n: NameClaimFigures): string[] {
  const out: string[] = [];
  if (r.initsToVictim > r.budget)
    out.push(`reflection: ${r.initsToVictim} INITs at the victim, budget ${r.budget}`);
  if (!n.bobIsReal || !n.bobPinned) out.push('name claim: "bob" does not hold the real key');
  if (n.lookalikes.length > 0)
    out.push(`name claim: look-alike names kept: ${n.lookalikes.join(', ')}`);
  if (!n.messageToRealBob || n.messageToClaimant)
    out.push('name claim: the message to bob went astray');
  return out;
}
