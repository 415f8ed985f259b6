import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Addr } from '../../source/net/core/address.js';
import {
  type Agent,
  BIRTHDAY_FLOOR_POOLED,
  BIRTHDAY_FLOOR_RUNS,
  BIRTHDAY_RUNS,
  type BindReply,
  type ConnectReply,
  Lab,
  labUnavailableReason,
  NAT_KINDS,
  type NatKind,
  type PeerResult,
  removeStaleNamespaces,
  type Site,
  STUN_SERVERS,
} from './lab.js';

/**
 * The NAT lab (issue 5): real Linux NATs in network namespaces, a real STUN
 * server (coturn), real srmudp-tui nodes. Skips with one line where it cannot
 * run; SRMUDP_LAB_REQUIRED=1 (CI) turns that skip into a failure.
 */

const unavailable = await labUnavailableReason();
const required = process.env.SRMUDP_LAB_REQUIRED === '1';
if (unavailable !== undefined && !required) {
  console.log(`NAT lab skipped: ${unavailable} (SRMUDP_LAB_REQUIRED=1 makes this a failure)`);
}

/** One site per kind for the STUN checks; pairs use <kind>1 as A and <kind>2 as B. */
const SITE_OF: Record<NatKind, string> = {
  public: 'pub',
  'full-cone': 'fc',
  'port-restricted': 'prc',
  symmetric: 'sym',
};

/**
 * A pair that can connect does so in well under a second (symmetric ↔
 * port-restricted, by many-port probing, in a few seconds; it gives up after
 * ≈ 12 s); one that cannot turns 'unreachable' (with its reason) after the
 * 6th dial, 15.5 s in.
 */
const PAIR_TIMEOUT_MS = 18_000;
/**
 * Matrix B: alice's and carol's sites (bob is pub1). The port-restricted rows
 * connect within a second; symmetric ↔ port-restricted needs many-port
 * probing and runs BIRTHDAY_RUNS times with a floor on its success rate.
 */
const INTRO_PAIRS: readonly { x: string; y: string; birthday: boolean }[] = [
  { x: 'prc1', y: 'prc2', birthday: false },
  { x: 'fc1', y: 'prc1', birthday: false },
  { x: 'sym1', y: 'prc2', birthday: true },
];
const isBirthdayPair = (a: NatKind, b: NatKind) =>
  (a === 'symmetric' && b === 'port-restricted') || (a === 'port-restricted' && b === 'symmetric');
const STUN_ADDRS = STUN_SERVERS.map((a) => `${a.address}:${a.port}`);

// One failing test (not a failing hook) so CI's pass/fail count shows it.
if (unavailable !== undefined && required) {
  describe('NAT lab (SRMUDP_LAB_REQUIRED=1)', () => {
    it('can run on this machine', () => {
      throw new Error(`SRMUDP_LAB_REQUIRED=1 but the NAT lab cannot run: ${unavailable}`);
    });
  });
}

describe.skipIf(unavailable !== undefined)('NAT lab', () => {
  let lab: Lab | undefined;
  const agents = new Map<string, Agent>();
  const agent = (name: string): Agent => {
    const a = agents.get(name);
    if (!a) throw new Error(`no agent ${name}`);
    return a;
  };

  beforeAll(async () => {
    const stale = removeStaleNamespaces();
    if (stale.length > 0) console.log(`NAT lab: removed ${stale.length} stale namespaces`);
    lab = new Lab();
    await lab.build();
    const started = await Promise.all(lab.sites.map((s) => lab!.agent(s.name)));
    for (const a of started) agents.set(a.site.name, a);
  }, 60_000);

  afterAll(async () => {
    if (!lab) return;
    const prefix = lab.prefix;
    await lab.destroy();
    expect(Lab.leftovers(prefix)).toEqual([]);
  });

  it('removes namespaces a crashed run left behind', async () => {
    // A pid that surely is not running: a child that has exited.
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const stale = `srmlab${dead}-stale`;
    execFileSync('ip', ['netns', 'add', stale]);
    expect(removeStaleNamespaces()).toContain(stale);
    expect(Lab.leftovers(`srmlab${dead}`)).toEqual([]);
  });

  describe('the lab itself: STUN through each NAT, and its filtering', () => {
    NAT_KINDS.forEach((kind, i) => {
      it(kind, async () => {
        const site = lab!.site(`${SITE_OF[kind]}1`);
        const port = 40900 + i;
        const r = await agent(site.name).request({ op: 'stun', port, servers: STUN_SERVERS });
        const results = r.results as { kind: string; mapped?: Addr }[];
        expect(results.map((x) => x.kind)).toEqual(['mapped', 'mapped']);
        const [toFirst, toSecond] = results.map((x) => x.mapped!);
        // Every reflexive address is the gateway's public one (the host's own when public).
        expect(toFirst?.address).toBe(site.publicIp);
        expect(toSecond?.address).toBe(site.publicIp);
        if (kind === 'symmetric') {
          expect(r.behaviour).toBe('endpoint-dependent');
        } else {
          expect(r.behaviour).toBe('endpoint-independent');
        }
        if (kind === 'public' || kind === 'full-cone') expect(toFirst?.port).toBe(port);

        // Unsolicited inbound from a host the node never sent to, at the mapped address.
        await agent('pub2').request({ op: 'send-udp', to: toFirst!, count: 3, data: 'knock' });
        const { received } = await agent(site.name).request({ op: 'collect', port, waitMs: 200 });
        const open = kind === 'public' || kind === 'full-cone';
        expect(received.length > 0).toBe(open);
        if (open) expect(received[0]?.from.address).toBe(lab!.site('pub2').publicIp);
      });
    });
  });

  // ---- issue 5's flow with the real transport --------------------------------

  /**
   * Ports for nodes: inside the full-cone range, below the lab self-test's
   * 409xx; a fresh one per node, so no conntrack entry of an earlier pair
   * helps or hurts. Never the same port on both sides of a pair: sock.invite()
   * lists 127.0.0.1:<port>, and with equal ports a node's dial to that
   * candidate reaches itself, which today marks the whole peer 'unreachable:
   * that address is this node itself' (see the lab report).
   */
  let nextPort = 40000;

  /** Binds a node with the lab's STUN servers and checks what STUN told it (item 1). */
  const bindNode = async (siteName: string, nick: string): Promise<Bound> => {
    const site = lab!.site(siteName);
    const reply = await agent(siteName).request({
      op: 'bind',
      nick,
      port: nextPort++,
      stun: STUN_ADDRS,
      stunTimeoutMs: 4000,
    });
    return { site, nick, reply };
  };
  const closeNodes = async (bound: Bound[]): Promise<void> => {
    await Promise.allSettled(
      bound.map((b) => agent(b.site.name).request({ op: 'close', handle: b.reply.handle })),
    );
  };
  const stunProblems = (b: Bound): string[] => {
    const out: string[] = [];
    const s = b.reply.stun;
    const where = `${b.nick} at ${b.site.name} (${b.site.kind})`;
    if (!s?.done) out.push(`${where}: STUN not done after ${b.reply.stunMs} ms`);
    const expected = b.site.kind === 'symmetric' ? 'endpoint-dependent' : 'endpoint-independent';
    if (s?.mapping !== expected) out.push(`${where}: mapping ${s?.mapping}, expected ${expected}`);
    const ip = s?.publicAddress?.split(':')[0];
    if (ip !== b.site.publicIp)
      out.push(`${where}: public address ${s?.publicAddress}, expected ${b.site.publicIp}:*`);
    return out;
  };
  const hostOf = (addr: string | undefined) => addr?.replace(/:\d+$/, '');
  /** One example per NAT kind of an invite without the reflexive address first. */
  const inviteGap = new Map<NatKind, string>();
  const noteInvite = (b: Bound) => {
    if (b.reply.stun?.publicAddress && !b.reply.reflexiveFirst && !inviteGap.has(b.site.kind))
      inviteGap.set(
        b.site.kind,
        `${b.site.kind} (${b.site.name}): sock.invite() candidates [${b.reply.inviteAddrs.join(', ')}], STUN said ${b.reply.stun.publicAddress}`,
      );
  };

  it('STUN on the peer socket: each node learns its public address and NAT mapping', async () => {
    const bound: Bound[] = [];
    try {
      for (const s of lab!.sites) bound.push(await bindNode(s.name, `n-${s.name}`));
      console.log(
        [
          'STUN on the shared peer socket (lab servers 198.18.0.2/.3:3478):',
          ...bound.map(
            (b) =>
              `  ${b.site.name.padEnd(5)} ${b.site.kind.padEnd(16)} bound ${b.reply.local.padEnd(16)} public ${String(b.reply.stun?.publicAddress).padEnd(20)} ${b.reply.stun?.mapping} (${b.reply.stunMs} ms)${b.reply.stunErrors.length > 0 ? ` errors: ${b.reply.stunErrors.join('; ')}` : ''}`,
          ),
        ].join('\n'),
      );
      expect(bound.flatMap(stunProblems)).toEqual([]);
    } finally {
      await closeNodes(bound);
    }
  });

  it(
    'matrix A: both sides add the other’s invite code at once',
    async () => {
      const problems: string[] = [];
      type PairOutcome = {
        a: NatKind;
        b: NatKind;
        ok: boolean;
        ms: number | undefined;
        detail: string;
        reasons: (string | undefined)[];
        states: string[];
        /** Probing sockets each side still held after the exchange. */
        probeSockets: [number, number];
      };
      const outcomes: PairOutcome[] = [];
      for (const [i, a] of NAT_KINDS.entries()) {
        for (const b of NAT_KINDS.slice(i)) {
          const runs = isBirthdayPair(a, b) ? BIRTHDAY_RUNS : 1;
          for (let run = 0; run < runs; run++) {
            // Repeated pairs alternate which kind is alice (<kind>1) and which bob (<kind>2).
            const [ka, kb] = run % 2 === 0 ? [a, b] : [b, a];
            const bound: Bound[] = [];
            try {
              bound.push(await bindNode(`${SITE_OF[ka]}1`, 'alice'));
              bound.push(await bindNode(`${SITE_OF[kb]}2`, 'bob'));
              const [A, B] = bound as [Bound, Bound];
              problems.push(...stunProblems(A), ...stunProblems(B));
              noteInvite(A);
              noteInvite(B);
              const startAt = Date.now() + 100;
              const [ra, rb] = await Promise.all([
                agent(A.site.name).request({
                  op: 'connect',
                  handle: A.reply.handle,
                  peers: { bob: B.reply.code },
                  expect: [B.reply.fingerprint],
                  exchange: [B.reply.fingerprint],
                  startAt,
                  timeoutMs: PAIR_TIMEOUT_MS,
                }),
                agent(B.site.name).request({
                  op: 'connect',
                  handle: B.reply.handle,
                  peers: { alice: A.reply.code },
                  expect: [A.reply.fingerprint],
                  exchange: [A.reply.fingerprint],
                  startAt,
                  timeoutMs: PAIR_TIMEOUT_MS,
                }),
              ]);
              const pa = ra.results[0]!;
              const pb = rb.results[0]!;
              const ok = [pa, pb].every((p) => p.state === 'connected' && p.acked && p.received);
              // Direct: each sees the other at the other's public (gateway) address.
              const direct =
                hostOf(pa.address) === B.site.publicIp && hostOf(pb.address) === A.site.publicIp;
              const ms =
                pa.connectMs !== undefined && pb.connectMs !== undefined
                  ? Math.max(pa.connectMs, pb.connectMs)
                  : undefined;
              const side = (who: string, p: PeerResult, r: ConnectReply) =>
                `${who}: ${p.state}${p.reason ? ` (“${p.reason}”)` : ''} via ${p.address ?? '?'}${p.sendError ? `; send: ${p.sendError}` : ''}${r.error ? `; ${r.error}` : ''}`;
              outcomes.push({
                a: ka,
                b: kb,
                ok: ok && direct,
                ms,
                detail: `${side('alice', pa, ra)} | ${side('bob', pb, rb)}`,
                reasons: [pa.reason, pb.reason],
                states: [pa.state, pb.state],
                probeSockets: [ra.probeSockets, rb.probeSockets],
              });
            } finally {
              await closeNodes(bound);
            }
          }
        }
      }

      const pairOf = (a: NatKind, b: NatKind) =>
        outcomes.filter((o) => (o.a === a && o.b === b) || (o.a === b && o.b === a));
      const width = 28;
      const cell = (list: PairOutcome[]) => {
        const o = list[0]!;
        if (list.length > 1) {
          const ok = list.filter((x) => x.ok);
          return `${ok.length}/${list.length} direct${ok.length > 0 ? `, p50 ${median(ok.map((x) => x.ms!))} ms` : ''}`;
        }
        return o.ok
          ? `direct ${o.ms} ms`
          : `failed${o.states.every((s) => s === 'unreachable') ? ' (reason)' : ''}`;
      };
      const birthday = pairOf('symmetric', 'port-restricted');
      const lines = [
        'Matrix A: invite codes exchanged through the test, both sides addPeers(code) at the same instant.',
        `(row: alice at <kind>1, column: bob at <kind>2; symmetric: unordered pairs, each run once; symmetric ↔ port-restricted ${BIRTHDAY_RUNS} times, sides alternating)`,
        ['A \\ B'.padEnd(18), ...NAT_KINDS.map((k) => k.padEnd(width))].join(''),
        ...NAT_KINDS.map((a) =>
          [a.padEnd(18), ...NAT_KINDS.map((b) => cell(pairOf(a, b)).padEnd(width))].join(''),
        ),
        birthdayLine('symmetric ↔ port-restricted by invite', birthday),
        'Symmetric ↔ symmetric with no relay configured: it must fail, and say why in words.',
        ...outcomes.filter((o) => !o.ok).map((o) => `  ${o.a} / ${o.b}: ${o.detail}`),
        ...(inviteGap.size > 0
          ? [
              'NOTE (transport gap): sock.invite() did not put the STUN-reflexive address first; the lab',
              'prepended it to the code it exchanges (same key and nick), as issue 5 specifies:',
              ...[...inviteGap.values()].map((g) => `  ${g}`),
            ]
          : []),
      ];
      console.log(lines.join('\n'));

      expect(problems).toEqual([]);
      const mustConnect = outcomes.filter(
        (o) =>
          [o.a, o.b].some((k) => k === 'public' || k === 'full-cone') ||
          (o.a === 'port-restricted' && o.b === 'port-restricted'),
      );
      expect(mustConnect.filter((o) => !o.ok).map((o) => `${o.a} / ${o.b}: ${o.detail}`)).toEqual(
        [],
      );
      expectBirthday(birthday.map((o) => ({ ...o, symmetricFirst: o.a === 'symmetric' })));
      // A failed pair says why, in words, in the peer's state.
      for (const o of outcomes.filter((x) => !x.ok)) {
        for (const [i, state] of o.states.entries()) {
          if (state === 'connected') continue;
          expect(state, `${o.a} / ${o.b}`).toBe('unreachable');
          expect(o.reasons[i], `${o.a} / ${o.b}`).toMatch(/[a-z]+ [a-z]+ [a-z]+/i);
        }
      }
      const symSym = pairOf('symmetric', 'symmetric')[0]!;
      expect(symSym.ok).toBe(false);
      for (const r of symSym.reasons)
        expect(r).toContain('both sides are behind symmetric NATs: a relay is needed');
    },
    80_000 + BIRTHDAY_RUNS * 20_000,
  );

  it(
    'matrix B: two NATed nodes that only add a public node meet through its introductions',
    async () => {
      const problems: string[] = [];
      type IntroOutcome = {
        x: Site;
        y: Site;
        birthday: boolean;
        ok: boolean;
        ms: number | undefined;
        detail: string;
        /** Each side's record of the other, when not connected: state and reason. */
        unconnected: { state: string; reason: string | undefined }[];
        probeSockets: [number, number];
      };
      const outcomes: IntroOutcome[] = [];
      for (const { x: x0, y: y0, birthday } of INTRO_PAIRS) {
        const runs = birthday ? BIRTHDAY_RUNS : 1;
        for (let run = 0; run < runs; run++) {
          const [xName, yName] = run % 2 === 0 ? [x0, y0] : [y0, x0];
          const timeoutMs = birthday ? PAIR_TIMEOUT_MS : 8000;
          const bound: Bound[] = [];
          try {
            const bob = await bindNode('pub1', 'bob');
            bound.push(bob);
            const X = await bindNode(xName, 'alice');
            bound.push(X);
            const Y = await bindNode(yName, 'carol');
            bound.push(Y);
            problems.push(...stunProblems(X), ...stunProblems(Y));
            const bobAddr = `${bob.site.publicIp}:${bob.reply.local.split(':')[1]}`;
            const startAt = Date.now() + 100;
            const [rx, ry] = await Promise.all([
              agent(X.site.name).request({
                op: 'connect',
                handle: X.reply.handle,
                peers: { bob: bobAddr },
                expect: [bob.reply.fingerprint, Y.reply.fingerprint],
                exchange: [Y.reply.fingerprint],
                startAt,
                timeoutMs,
              }),
              agent(Y.site.name).request({
                op: 'connect',
                handle: Y.reply.handle,
                peers: { bob: bobAddr },
                expect: [bob.reply.fingerprint, X.reply.fingerprint],
                exchange: [X.reply.fingerprint],
                startAt,
                timeoutMs,
              }),
            ]);
            const xy = rx.results[1]!;
            const yx = ry.results[1]!;
            const ok =
              rx.results[0]?.state === 'connected' &&
              ry.results[0]?.state === 'connected' &&
              [xy, yx].every((p) => p.state === 'connected' && p.acked && p.received) &&
              hostOf(xy.address) === Y.site.publicIp &&
              hostOf(yx.address) === X.site.publicIp;
            const ms =
              xy.connectMs !== undefined && yx.connectMs !== undefined
                ? Math.max(xy.connectMs, yx.connectMs)
                : undefined;
            outcomes.push({
              x: X.site,
              y: Y.site,
              birthday,
              ok,
              unconnected: [xy, yx]
                .filter((p) => p.state !== 'connected')
                .map((p) => ({ state: p.state, reason: p.reason })),
              ms,
              detail: `alice: ${rx.peers}${xy.reason ? ` (“${xy.reason}”)` : ''} | carol: ${ry.peers}${yx.reason ? ` (“${yx.reason}”)` : ''}`,
              probeSockets: [rx.probeSockets, ry.probeSockets],
            });
          } finally {
            await closeNodes(bound);
          }
        }
      }
      const once = outcomes.filter((o) => !o.birthday);
      const repeated = outcomes.filter((o) => o.birthday);
      const lines = [
        'Matrix B: introductions. bob is public (pub1); alice and carol only add bob’s address',
        'and must meet directly (each sees the other at the other gateway’s public address).',
        ...once.map(
          (o) =>
            `  alice ${o.x.kind} (${o.x.name}) ↔ carol ${o.y.kind} (${o.y.name}): ${o.ok ? `direct ${o.ms} ms` : 'failed'}\n    ${o.detail}`,
        ),
        `  alice ↔ carol, symmetric ↔ port-restricted (sym1 / prc2, sides alternating): ${cellB(repeated)}`,
        ...repeated
          .filter((o) => !o.ok)
          .map((o) => `    failed: ${o.x.name} / ${o.y.name}: ${o.detail}`),
        birthdayLine('symmetric ↔ port-restricted by introduction', repeated),
      ];
      console.log(lines.join('\n'));
      expect(problems).toEqual([]);
      expect(
        once.filter((o) => !o.ok).map((o) => `${o.x.name} / ${o.y.name}: ${o.detail}`),
      ).toEqual([]);
      expectBirthday(repeated.map((o) => ({ ...o, symmetricFirst: o.x.kind === 'symmetric' })));
      // A pair that did not meet says why, in words, on both sides.
      for (const o of outcomes.filter((x) => !x.ok)) {
        for (const u of o.unconnected) {
          expect(u.state, `${o.x.name} / ${o.y.name}`).toBe('unreachable');
          expect(u.reason, `${o.x.name} / ${o.y.name}`).toMatch(/[a-z]+ [a-z]+ [a-z]+/i);
        }
      }
    },
    50_000 + BIRTHDAY_RUNS * 20_000,
  );

  it('path-MTU discovery through a link narrowed to 1400 bytes: finds the size, loses no data', async () => {
    // pub2's bridge port now drops frames over 1400 bytes without a word (no
    // ICMP: an L2 black hole, as a mis-sized tunnel or link is), both ways.
    const narrow = (mtu: number) =>
      execFileSync('ip', [
        '-n',
        `${lab!.prefix}-inet`,
        'link',
        'set',
        'p-pub2',
        'mtu',
        String(mtu),
      ]);
    narrow(1400);
    const bound: Bound[] = [];
    try {
      bound.push(await bindNode('pub1', 'alice'));
      bound.push(await bindNode('pub2', 'bob'));
      const [A, B] = bound as [Bound, Bound];
      const bobAddr = `${B.site.publicIp}:${B.reply.local.split(':')[1]}`;
      const bulk = { messages: 20, bytes: 30_000 };
      const startAt = Date.now() + 100;
      const [ra, rb] = await Promise.all([
        agent('pub1').request({
          op: 'connect',
          handle: A.reply.handle,
          peers: { bob: bobAddr },
          expect: [B.reply.fingerprint],
          exchange: [B.reply.fingerprint],
          bulk,
          startAt,
          timeoutMs: 25_000,
        }),
        agent('pub2').request({
          op: 'connect',
          handle: B.reply.handle,
          peers: {},
          expect: [A.reply.fingerprint],
          exchange: [A.reply.fingerprint],
          bulk,
          startAt,
          timeoutMs: 25_000,
        }),
      ]);
      const [pa, pb] = [ra.results[0]!, rb.results[0]!];
      console.log(
        `NAT lab: path MTU over a 1400-byte link: alice uses ${pa.mtu} B, bob ${pb.mtu} B; ` +
          `${bulk.messages} × ${bulk.bytes} B each way ` +
          `${pa.bulkAcked && pb.bulkAcked && pa.bulkReceived && pb.bulkReceived ? 'delivered' : 'NOT delivered'}`,
      );
      for (const p of [pa, pb]) {
        expect(p.state).toBe('connected');
        expect([p.acked, p.received, p.bulkAcked, p.bulkReceived]).toEqual([
          true,
          true,
          true,
          true,
        ]);
        // Above the base size, and never above what the link carries: 1400 less
        // the IPv4 (20) and UDP (8) headers, plus the 4 bytes of VLAN tag a
        // Linux bridge and veth let through beyond the MTU. (The search may
        // still be narrowing the last 16 bytes when the exchange ends.)
        expect(p.mtu).toBeGreaterThan(1300);
        expect(p.mtu).toBeLessThanOrEqual(1376);
      }
    } finally {
      narrow(1500);
      await closeNodes(bound);
    }
  }, 60_000);
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

function cellB(list: { ok: boolean; ms: number | undefined }[]): string {
  const ok = list.filter((x) => x.ok);
  return `${ok.length}/${list.length} direct${ok.length > 0 ? `, p50 ${median(ok.map((x) => x.ms!))} ms` : ''}`;
}

/** One line: success rate and time to connect of the repeated many-port probing runs. */
function birthdayLine(what: string, list: { ok: boolean; ms: number | undefined }[]): string {
  const ok = list.filter((x) => x.ok);
  const times = ok.map((x) => x.ms!);
  const pct = list.length > 0 ? Math.round((100 * ok.length) / list.length) : 0;
  return `Many-port probing, ${what}: ${ok.length}/${list.length} connected directly (${pct} %)${
    times.length > 0
      ? `; time to connect p50 ${median(times)} ms, min ${Math.min(...times)} ms, max ${Math.max(...times)} ms`
      : ''
  }.`;
}

/**
 * Many-port probing succeeds with probability ≈ 1 − e^(−256·2048/64512) ≈ 99.97 %
 * per run in theory, and the readme reports 100/100 over five lab runs (50/50
 * by invite, 50/50 by introduction). The floors back that claim: at most two
 * misses in one matrix's 10 runs and three in both matrices' 20 together.
 * A healthy run (miss rate ≤ 1 %) fails them with odds below 2e-4 (3+ misses
 * in 10: ~1.1e-4; 4+ in 20: ~4.3e-5); even at the 3 % miss rate the readme's
 * 0/100 still allows (95 % bound), about 0.3 % each. An implementation that
 * connects only 80 % of the time fails the pooled floor 59 % of the time.
 * After a success the symmetric side holds just the winning socket.
 */
const birthdayPool: boolean[] = [];

function expectBirthday(
  list: { ok: boolean; probeSockets: [number, number]; symmetricFirst: boolean }[],
): void {
  expect(list.length).toBe(BIRTHDAY_RUNS);
  const ok = list.filter((o) => o.ok);
  expect(ok.length).toBeGreaterThanOrEqual(BIRTHDAY_FLOOR_RUNS);
  birthdayPool.push(...list.map((o) => o.ok));
  // Both matrices ran (in file order): hold the pair of them to the pooled floor.
  if (birthdayPool.length === 2 * BIRTHDAY_RUNS) {
    expect(birthdayPool.filter(Boolean).length).toBeGreaterThanOrEqual(BIRTHDAY_FLOOR_POOLED);
  }
  for (const o of ok) {
    const [sym, other] = o.symmetricFirst ? o.probeSockets : [o.probeSockets[1], o.probeSockets[0]];
    expect(sym).toBeLessThanOrEqual(1);
    expect(other).toBe(0);
  }
}

interface Bound {
  site: Site;
  nick: string;
  reply: BindReply;
}
