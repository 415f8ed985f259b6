import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Addr } from '../../source/net/address.js';
import {
  type Agent,
  Lab,
  labUnavailableReason,
  NAT_KINDS,
  type NatKind,
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

const PAIR_TIMEOUT_MS = 6000;

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

  it('pair matrix: today’s transport between every pair of NAT kinds', async () => {
    type Outcome = { ok: boolean; ms: number | undefined; how: string; note: string };
    type Cell = { a: NatKind; b: NatKind; known: Outcome | undefined; guess: Outcome | undefined };
    let nextPort = 40000;

    /** Alice at A and Bob at B; each dials the other when given an address. */
    const runPair = async (
      siteA: Site,
      siteB: Site,
      address: (site: Site, port: number) => string | undefined,
    ): Promise<Outcome | undefined> => {
      // A fresh port per run: no conntrack entry of an earlier pair can help or hurt.
      const port = nextPort++;
      const addrA = address(siteA, port);
      const addrB = address(siteB, port);
      if (!addrA && !addrB) return undefined;
      // Agents take a moment to bind; both start dialing at this instant.
      const startAt = Date.now() + 150;
      const [ra, rb] = await Promise.all([
        agent(siteA.name).request({
          op: 'node',
          nick: 'alice',
          port,
          ...(addrB ? { peer: { nick: 'bob', address: addrB } } : {}),
          startAt,
          timeoutMs: PAIR_TIMEOUT_MS,
        }),
        agent(siteB.name).request({
          op: 'node',
          nick: 'bob',
          port,
          ...(addrA ? { peer: { nick: 'alice', address: addrA } } : {}),
          startAt,
          timeoutMs: PAIR_TIMEOUT_MS,
        }),
      ]);
      const ok = ra.connected && rb.connected && ra.received && rb.received && ra.acked && rb.acked;
      const ms =
        ra.connectMs !== undefined && rb.connectMs !== undefined
          ? Math.max(ra.connectMs, rb.connectMs)
          : undefined;
      const how = addrA && addrB ? 'both dial' : addrA ? 'B dials A' : 'A dials B';
      const note = `A: ${ra.state || 'no peer'}${ra.error ? ` (${ra.error})` : ''} | B: ${rb.state || 'no peer'}${rb.error ? ` (${rb.error})` : ''}`;
      return { ok, ms, how, note };
    };

    // What this step may use: public addresses and the full-cone's static mapping.
    const known = (site: Site, port: number): string | undefined =>
      site.kind === 'public' || site.kind === 'full-cone' ? `${site.publicIp}:${port}` : undefined;
    // Informational only: a port-restricted gateway (Linux masquerade) keeps the
    // source port when it can, so gateway:port is a good guess of its mapping.
    // Symmetric NATs allow no such guess. STUN on the shared socket replaces this.
    const guessed = (site: Site, port: number): string | undefined =>
      site.kind === 'port-restricted' ? `${site.publicIp}:${port}` : known(site, port);

    const cells: Cell[] = [];
    for (const a of NAT_KINDS) {
      for (const b of NAT_KINDS) {
        const siteA = lab!.site(`${SITE_OF[a]}1`);
        const siteB = lab!.site(`${SITE_OF[b]}2`);
        const k = await runPair(siteA, siteB, known);
        const g = k ? undefined : await runPair(siteA, siteB, guessed);
        cells.push({ a, b, known: k, guess: g });
      }
    }

    const label = (c: Cell): string => {
      const show = (o: Outcome) => (o.ok ? `direct ${o.ms} ms` : 'failed');
      if (c.known) return show(c.known);
      return c.guess ? `n/a; guess: ${show(c.guess)}` : 'n/a (no address)';
    };
    const width = 27;
    const lines = [
      'NAT pair matrix, today’s transport (row: A = alice at <kind>1, column: B = bob at <kind>2).',
      'Each side dials the other when it knows the address (public, or the full-cone static mapping).',
      '"n/a; guess:" = neither is known; tried with the port-restricted gateway’s port-preserving guess.',
      ['A \\ B'.padEnd(18), ...NAT_KINDS.map((k) => k.padEnd(width))].join(''),
      ...NAT_KINDS.map((a) =>
        [
          a.padEnd(18),
          ...NAT_KINDS.map((b) => label(cells.find((x) => x.a === a && x.b === b)!).padEnd(width)),
        ].join(''),
      ),
      ...cells.flatMap((c) =>
        [c.known, c.guess]
          .filter((o): o is Outcome => o !== undefined && !o.ok)
          .map((o) => `  ${c.a} / ${c.b} (${o.how}): ${o.note}`),
      ),
    ];
    console.log(lines.join('\n'));

    // What today's transport must do: any pair with a public or full-cone side connects.
    const mustConnect = cells.filter((c) =>
      [c.a, c.b].some((kind) => kind === 'public' || kind === 'full-cone'),
    );
    expect(
      mustConnect
        .filter((c) => !c.known?.ok)
        .map((c) => `${c.a} / ${c.b}: ${c.known?.note ?? 'not attempted'}`),
    ).toEqual([]);
  }, 110_000);
});
