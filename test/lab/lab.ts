import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Addr } from '../../source/net/core/address.js';
import type { RelayOption } from '../../source/net/shell/relayuri.js';
import type { RelayInfo } from '../../source/net/shell/types.js';
import { Capture } from './capture.js';

/**
 * The NAT lab: Linux network namespaces joined by veth pairs, built and torn
 * down by the test itself (needs root, `ip netns`, nftables and coturn: see
 * scripts/lab-setup.sh).
 *
 *   [inet]  a bridge: the "public internet", 198.18.0.0/24 (RFC 2544 space)
 *     ├── [stun]      coturn on 198.18.0.2 and 198.18.0.3 port 3478: STUN only,
 *     │               or STUN and TURN (`new Lab({ turn: true })`, long-term
 *     │               credentials TURN_USER / TURN_PASSWORD, relayed ports
 *     │               TURN_RELAY_PORTS on the same two addresses)
 *     ├── [pub1/2]    hosts with a public address, no NAT
 *     └── [<site>gw]  NAT gateways; each fronts a LAN 10.<n>.0.0/24 with one
 *           └── [<site>] host at 10.<n>.0.2
 *     (`new Lab({ udpBlocked: true })` adds ub1: a port-restricted NAT that
 *      drops every outbound UDP datagram, as some corporate and guest networks do;
 *      it reaches the relays over TCP only, TURN_RELAYS_TCP)
 *
 * Nothing here is routed to or from the machine's own namespace: traffic
 * stays between the lab's namespaces. Every namespace is named
 * `srmlab<pid>-<role>`; cleanup removes ours (afterAll, process exit, SIGINT,
 * SIGTERM) and any left by a run whose pid is gone.
 */

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(here, '../..');
const AGENT = join(here, 'agent.ts');

export type NatKind = 'public' | 'full-cone' | 'port-restricted' | 'symmetric';
export const NAT_KINDS: readonly NatKind[] = [
  'public',
  'full-cone',
  'port-restricted',
  'symmetric',
];

export const STUN_PORT = 3478;
export const STUN_IPS = ['198.18.0.2', '198.18.0.3'] as const;
export const STUN_SERVERS: Addr[] = STUN_IPS.map((address) => ({ address, port: STUN_PORT }));
/** Ports the full-cone gateways forward statically to their host (and preserve outbound). */
export const FULL_CONE_PORTS = { from: 40000, to: 40999 } as const;
/** Runs of each symmetric ↔ port-restricted pair (many-port probing), by invite and by introduction. */
export const BIRTHDAY_RUNS = 10;
/** The fewest of one matrix's BIRTHDAY_RUNS that must connect directly (see nat.test.ts, expectBirthday). */
export const BIRTHDAY_FLOOR_RUNS = 8;
/** The fewest of both matrices' runs together (2 × BIRTHDAY_RUNS) that must connect directly. */
export const BIRTHDAY_FLOOR_POOLED = 17;

/**
 * TURN (RFC 8656) on the STUN servers when the lab is built with `turn`:
 * long-term credentials (RFC 8489 §9.2) in this realm, and the relayed
 * transport addresses coturn allocates from this range (apart from the
 * full-cone range, so no gateway rule and no node ever uses one).
 */
export const TURN_REALM = 'srmudp-lab';
export const TURN_USER = 'labuser';
export const TURN_PASSWORD = 'lab-relay-secret';
export const TURN_RELAY_PORTS = { from: 50000, to: 50999 } as const;
/** The lab's relays as bind({ relays }) takes them: coturn on both public addresses. */
export const TURN_RELAYS = STUN_IPS.map((ip) => ({
  urls: `turn:${ip}:${STUN_PORT}`,
  username: TURN_USER,
  credential: TURN_PASSWORD,
}));

/**
 * The same relays over TCP only (RFC 7065 `?transport=tcp`, RFC 8656 §12.5):
 * how a host on a "UDP blocked" site reaches them. Named directly rather
 * than left to the `turn:` URI's UDP→TCP fallback, whose wait is the
 * core's business; coturn listens on TCP 3478 by default.
 */
export const TURN_RELAYS_TCP = STUN_IPS.map((ip) => ({
  urls: `turn:${ip}:${STUN_PORT}?transport=tcp`,
  username: TURN_USER,
  credential: TURN_PASSWORD,
}));

export interface LabOptions {
  /** coturn is a TURN server too (long-term credentials), not STUN only. */
  turn?: boolean;
  /** Add the "UDP blocked" site ub1. */
  udpBlocked?: boolean;
}

const NS_PATTERN = /^srmlab(\d+)-/;

export interface Site {
  /** e.g. 'fc1' */
  name: string;
  kind: NatKind;
  /** Namespace the node runs in. */
  ns: string;
  /** Its own address (public for 'public', 10.x for the rest). */
  hostIp: string;
  /** Namespace and public address of the NAT gateway (the host itself when public). */
  gatewayNs: string | undefined;
  publicIp: string;
  /** The gateway drops all outbound UDP (the "UDP blocked" site kind); TCP passes. */
  udpBlocked?: boolean;
}

// ---- can it run here? ---------------------------------------------------------

/** Why the lab cannot run here, or undefined when it can. */
export async function labUnavailableReason(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  for (const [tool, args] of [
    ['ip', ['-V']],
    ['nft', ['--version']],
    ['turnserver', ['--version']],
    ['tcpdump', ['--version']],
  ] as const) {
    try {
      await run(tool, [...args], { timeout: 5000 });
    } catch {
      return `"${tool}" not found (run scripts/lab-setup.sh)`;
    }
  }
  const probe = `srmlab${process.pid}-probe`;
  try {
    await run('ip', ['netns', 'add', probe]);
    await run('ip', ['-n', probe, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1']);
  } catch (err) {
    return `cannot create network namespaces: ${(err as Error).message.split('\n')[0]}`;
  } finally {
    await run('ip', ['netns', 'del', probe]).catch(() => undefined);
  }
  return undefined;
}

// ---- cleanup --------------------------------------------------------------------

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function listNamespaces(): string[] {
  try {
    return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n.length > 0);
  } catch {
    return [];
  }
}

/** Kills what runs inside `ns` (only lab processes ever do) and deletes it. Synchronous: works in 'exit'. */
function removeNamespaceSync(ns: string): void {
  try {
    const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
      .split('\n')
      .map((l) => Number(l.trim()))
      .filter((p) => Number.isInteger(p) && p > 0);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  } catch {
    // the namespace may be gone already
  }
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  } catch {
    // gone
  }
}

/** Removes namespaces left by lab runs whose process no longer exists. */
export function removeStaleNamespaces(): string[] {
  const removed: string[] = [];
  for (const ns of listNamespaces()) {
    const m = NS_PATTERN.exec(ns);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || pidAlive(pid)) continue;
    removeNamespaceSync(ns);
    removed.push(ns);
  }
  return removed;
}

// ---- the lab --------------------------------------------------------------------

interface SiteSpec {
  name: string;
  kind: NatKind;
  /** Last octet of the public address; also the LAN's second octet. */
  octet: number;
  udpBlocked?: boolean;
}

const SITES: SiteSpec[] = [
  { name: 'pub1', kind: 'public', octet: 11 },
  { name: 'pub2', kind: 'public', octet: 12 },
  { name: 'fc1', kind: 'full-cone', octet: 21 },
  { name: 'fc2', kind: 'full-cone', octet: 22 },
  { name: 'prc1', kind: 'port-restricted', octet: 31 },
  { name: 'prc2', kind: 'port-restricted', octet: 32 },
  { name: 'sym1', kind: 'symmetric', octet: 41 },
  { name: 'sym2', kind: 'symmetric', octet: 42 },
];
/** The "UDP blocked" site: behind a port-restricted NAT that lets no UDP out. */
const UDP_BLOCKED_SITE: SiteSpec = {
  name: 'ub1',
  kind: 'port-restricted',
  octet: 51,
  udpBlocked: true,
};

export class Lab {
  readonly prefix = `srmlab${process.pid}`;
  readonly sites: Site[] = [];
  readonly tmp = mkdtempSync(join(tmpdir(), 'srmudp-lab-'));
  readonly turnLog = join(this.tmp, 'turnserver.log');
  private readonly namespaces: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private readonly agents: Agent[] = [];
  private destroyed = false;
  private readonly onExit = () => this.destroySync();
  private readonly onSignal = (signal: NodeJS.Signals) => {
    this.destroySync();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };

  constructor(readonly options: LabOptions = {}) {
    process.on('exit', this.onExit);
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  site(name: string): Site {
    const s = this.sites.find((x) => x.name === name);
    if (!s) throw new Error(`no lab site ${name}`);
    return s;
  }

  /** Builds every namespace, link, NAT and the STUN server; resolves when STUN listens. */
  async build(): Promise<void> {
    const inet = await this.addNs('inet');
    await ip(['-n', inet, 'link', 'add', 'br0', 'type', 'bridge']);
    await ip(['-n', inet, 'link', 'set', 'br0', 'up']);

    const stun = await this.addNs('stun');
    await this.plugIntoBridge(stun, 'eth0', 'p-stun');
    for (const a of STUN_IPS) await ip(['-n', stun, 'addr', 'add', `${a}/24`, 'dev', 'eth0']);
    await ip(['-n', stun, 'link', 'set', 'eth0', 'up']);

    for (const spec of this.options.udpBlocked ? [...SITES, UDP_BLOCKED_SITE] : SITES) {
      const publicIp = `198.18.0.${spec.octet}`;
      if (spec.kind === 'public') {
        const ns = await this.addNs(spec.name);
        await this.plugIntoBridge(ns, 'eth0', `p-${spec.name}`);
        await ip(['-n', ns, 'addr', 'add', `${publicIp}/24`, 'dev', 'eth0']);
        await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
        this.sites.push({ ...spec, ns, hostIp: publicIp, gatewayNs: undefined, publicIp });
        continue;
      }
      const gw = await this.addNs(`${spec.name}gw`);
      const host = await this.addNs(spec.name);
      const lanGw = `10.${spec.octet}.0.1`;
      const hostIp = `10.${spec.octet}.0.2`;
      await this.plugIntoBridge(gw, 'wan0', `p-${spec.name}`);
      await ip(['-n', gw, 'addr', 'add', `${publicIp}/24`, 'dev', 'wan0']);
      await ip(['-n', gw, 'link', 'set', 'wan0', 'up']);
      await ip([
        'link',
        'add',
        'lan0',
        'netns',
        gw,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        host,
      ]);
      await ip(['-n', gw, 'addr', 'add', `${lanGw}/24`, 'dev', 'lan0']);
      await ip(['-n', gw, 'link', 'set', 'lan0', 'up']);
      await ip(['-n', host, 'addr', 'add', `${hostIp}/24`, 'dev', 'eth0']);
      await ip(['-n', host, 'link', 'set', 'eth0', 'up']);
      await ip(['-n', host, 'route', 'add', 'default', 'via', lanGw]);
      await nsExec(gw, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      await nsExec(
        gw,
        ['nft', '-f', '-'],
        natRules(spec.kind, hostIp, publicIp, { udpBlocked: spec.udpBlocked === true }),
      );
      this.sites.push({ ...spec, ns: host, hostIp, gatewayNs: gw, publicIp });
    }
    await this.startStun(stun);
  }

  /** Starts a lab agent (test/lab/agent.ts) inside a site's namespace. */
  async agent(siteName: string): Promise<Agent> {
    const site = this.site(siteName);
    const child = this.spawnIn(site.ns, [process.execPath, '--import', 'tsx', AGENT]);
    const agent = new Agent(site, child);
    this.agents.push(agent);
    await agent.ready();
    return agent;
  }

  async destroy(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.exit()));
    this.destroySync();
  }

  /** Kills our processes and removes our namespaces; safe to call twice. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    process.off('exit', this.onExit);
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    for (const child of this.children) {
      if (child.exitCode === null && child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    for (const ns of [...this.namespaces].reverse()) removeNamespaceSync(ns);
    // Anything of ours the list missed (e.g. a namespace added as build() failed).
    for (const ns of listNamespaces())
      if (ns.startsWith(`${this.prefix}-`)) removeNamespaceSync(ns);
    rmSync(this.tmp, { recursive: true, force: true });
  }

  /** Our namespaces that still exist (for the cleanup test). */
  static leftovers(prefix: string): string[] {
    return listNamespaces().filter((ns) => ns.startsWith(`${prefix}-`));
  }

  /**
   * Starts tcpdump on every interface of the STUN/TURN server's namespace:
   * every datagram coturn receives or forwards (see capture.ts), including
   * relay-to-relay hops between its two addresses, which never leave the
   * namespace (they go over lo). Resolves once it listens.
   */
  capture(): Promise<Capture> {
    const file = join(this.tmp, `capture-${Date.now()}.pcap`);
    const child = this.spawnIn(`${this.prefix}-stun`, [
      'tcpdump',
      '-i',
      'any',
      '-n',
      '-U',
      '-s',
      '0',
      '-w',
      file,
      'udp',
    ]);
    return Capture.started(child, file);
  }

  /**
   * Drops UDP between a site's gateway and `peerIp` (both ways) in a table of
   * its own, so `unblock` removes exactly it: a firewall rule on the direct
   * path, while the relay's addresses stay reachable.
   */
  async block(siteName: string, peerIp: string): Promise<void> {
    const gw = this.site(siteName).gatewayNs ?? this.site(siteName).ns;
    await nsExec(
      gw,
      ['nft', '-f', '-'],
      `table inet srmblock {
  chain forward {
    type filter hook forward priority filter - 10; policy accept;
    ip saddr ${peerIp} meta l4proto udp drop
    ip daddr ${peerIp} meta l4proto udp drop
  }
}
`,
    );
  }

  async unblock(siteName: string): Promise<void> {
    const gw = this.site(siteName).gatewayNs ?? this.site(siteName).ns;
    await nsExec(gw, ['nft', 'delete', 'table', 'inet', 'srmblock']);
  }

  turnLogTail(lines = 20): string {
    try {
      return readFileSync(this.turnLog, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no turnserver log)';
    }
  }

  private async addNs(role: string): Promise<string> {
    const ns = `${this.prefix}-${role}`;
    await ip(['netns', 'add', ns]);
    this.namespaces.push(ns);
    await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    // IPv4 only: no router solicitations or DAD chatter on the bridge.
    await nsExec(ns, [
      'sysctl',
      '-qw',
      'net.ipv6.conf.all.disable_ipv6=1',
      'net.ipv6.conf.default.disable_ipv6=1',
    ]);
    return ns;
  }

  private async plugIntoBridge(ns: string, ifname: string, port: string): Promise<void> {
    const inet = `${this.prefix}-inet`;
    await ip([
      'link',
      'add',
      ifname,
      'netns',
      ns,
      'type',
      'veth',
      'peer',
      'name',
      port,
      'netns',
      inet,
    ]);
    await ip(['-n', inet, 'link', 'set', port, 'master', 'br0']);
    await ip(['-n', inet, 'link', 'set', port, 'up']);
  }

  private async startStun(ns: string): Promise<void> {
    const args = ['turnserver', '-n', '--no-cli', '--no-tls', '--no-dtls'];
    if (this.options.turn) {
      // RFC 8656 allocations with long-term credentials, relayed from the same
      // two addresses (so a relayed candidate is 198.18.0.2/.3:5xxxx).
      args.push(
        '--lt-cred-mech',
        '--realm',
        TURN_REALM,
        '--user',
        `${TURN_USER}:${TURN_PASSWORD}`,
        '--min-port',
        String(TURN_RELAY_PORTS.from),
        '--max-port',
        String(TURN_RELAY_PORTS.to),
      );
      for (const a of STUN_IPS) args.push('--relay-ip', a);
    } else {
      args.push('--stun-only');
    }
    for (const a of STUN_IPS) args.push('--listening-ip', a);
    args.push(
      '--listening-port',
      String(STUN_PORT),
      '--log-file',
      this.turnLog,
      '--simple-log',
      '--no-stdout-log',
      '--pidfile',
      join(this.tmp, 'turnserver.pid'),
      '--db',
      join(this.tmp, 'turndb'),
    );
    const child = this.spawnIn(ns, args);
    child.stdout?.resume();
    child.stderr?.resume();
    // Ready when both addresses listen on the STUN port (and, as TURN, on
    // TCP too: the "UDP blocked" site reaches the relays only that way).
    const deadline = Date.now() + 10_000;
    const listening = (out: string) => STUN_IPS.every((a) => out.includes(`${a}:${STUN_PORT} `));
    for (;;) {
      const udp = (await nsExec(ns, ['ss', '-Hlun'])).stdout;
      const tcp = this.options.turn ? (await nsExec(ns, ['ss', '-Hltn'])).stdout : udp;
      if (listening(udp) && listening(tcp)) return;
      if (child.exitCode !== null) {
        throw new Error(`turnserver exited (${child.exitCode}):\n${this.turnLogTail()}`);
      }
      if (Date.now() > deadline)
        throw new Error(`turnserver not listening:\n${this.turnLogTail()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private spawnIn(ns: string, argv: string[]): ChildProcess {
    // `ip netns exec` execs the command: the child's pid is the command's.
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
      // The library asks no STUN server unless bind({ stun }) names one (the
      // agents name the lab's); this keeps the app's public defaults off too.
      env: { ...process.env, SRMUDP_STUN: 'none' },
    });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }
}

/**
 * nftables for each gateway (wan0 faces the bridge, lan0 the host):
 * - port-restricted: plain masquerade. Linux keeps the source port when it
 *   can and reuses the mapping for every destination (endpoint-independent
 *   mapping); conntrack only lets in replies from the exact address and port
 *   the host sent to (address-and-port-dependent filtering).
 * - symmetric: masquerade with random, fully-random ports: every new
 *   destination gets a fresh random port (endpoint-dependent mapping).
 * - full-cone: Linux has no full-cone target, so: a static DNAT of the port
 *   range to the host, and SNAT keeping the port, so the host's port P is
 *   gateway:P toward everyone and anyone may send to it.
 * Inbound that no rule maps is dropped, as a home router's firewall does:
 * forwarded by policy, and at the gateway's own input by a rule. The input
 * drop matters: a new conntrack entry is only kept (confirmed) when its first
 * packet survives the hooks. Without it, a peer's early punch that reaches
 * the gateway before our own packet went out leaves an inbound entry, our
 * outbound packet clashes with it and masquerade picks another port, and
 * the two sides' retries keep both wrong entries alive (measured: two
 * port-restricted NATs then never connect even with the right addresses).
 * - udpBlocked (the "UDP blocked" site kind): port-restricted, and the
 *   forward chain drops every new outbound UDP flow (TCP still passes), so
 *   neither STUN nor a direct path nor TURN over UDP gets out.
 */
export function natRules(
  kind: NatKind,
  hostIp: string,
  publicIp: string,
  opts: { udpBlocked?: boolean } = {},
): string {
  const { from, to } = FULL_CONE_PORTS;
  const nat =
    kind === 'full-cone'
      ? `
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "wan0" udp dport ${from}-${to} dnat to ${hostIp}
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan0" ip saddr ${hostIp} udp sport ${from}-${to} snat to ${publicIp}
    oifname "wan0" masquerade
  }`
      : `
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan0" masquerade${kind === 'symmetric' ? ' random,fully-random' : ''}
  }`;
  return `table ip nat {${nat}
}
table inet filter {
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "wan0" ct state new drop
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    ${opts.udpBlocked ? 'iifname "lan0" oifname "wan0" meta l4proto udp drop' : ''}
    iifname "lan0" oifname "wan0" accept
    ${kind === 'full-cone' ? 'iifname "wan0" oifname "lan0" ct status dnat accept' : ''}
  }
}
`;
}

async function ip(args: string[]): Promise<void> {
  try {
    await run('ip', args);
  } catch (err) {
    throw new Error(`ip ${args.join(' ')}: ${(err as { stderr?: string }).stderr ?? err}`);
  }
}

function nsExec(ns: string, argv: string[], input?: string): Promise<{ stdout: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = execFile('ip', ['netns', 'exec', ns, ...argv], (err, stdout, stderr) => {
      if (err) reject(new Error(`in ${ns}: ${argv.join(' ')}: ${stderr || err.message}`));
      else resolvePromise({ stdout });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

// ---- agents: one node process per site, driven over stdin/stdout ---------------

export type AgentRequest =
  | {
      op: 'stun';
      /** Local port to bind (0.0.0.0); the socket stays open for `collect`. */
      port: number;
      servers: Addr[];
      rto?: number;
      maxTransmits?: number;
    }
  | { op: 'collect'; port: number; waitMs: number }
  | { op: 'send-udp'; to: Addr; count: number; data: string }
  | {
      op: 'bind';
      nick: string;
      /** 0.0.0.0:port; full-cone sites need FULL_CONE_PORTS. */
      port: number;
      /** `host:port` of the lab's STUN servers (never a public one). */
      stun: string[];
      stunTimeoutMs: number;
      /** TURN relays (TURN_RELAYS); bind then waits for the allocation (or its failure). */
      relays?: RelayOption[];
      relayTimeoutMs?: number;
    }
  | {
      op: 'connect';
      handle: number;
      /** Passed to addPeers at startAt: nick → invite code or `host:port`. */
      peers: Record<string, string>;
      /** Fingerprints to wait for (connected, or a final state). */
      expect: string[];
      /** Of those, the ones to exchange a message with. */
      exchange: string[];
      /** Then this many messages of `bytes` each way with them, one at a time. */
      bulk?: { messages: number; bytes: number };
      /** Then these messages to each exchanged peer; the reply counts how many of each arrived from it. */
      canaries?: string[];
      /** Epoch ms (both agents share the clock) at which to add the peers. */
      startAt: number;
      timeoutMs: number;
    }
  | {
      op: 'watch-path';
      handle: number;
      fingerprint: string;
      /** Resolves when the session's path is this (or at timeoutMs). */
      until: 'direct' | 'relay';
      timeoutMs: number;
      /** Meanwhile a small numbered message to the peer this often (a fallback needs data in flight). */
      sendEveryMs: number;
      /** Once there, keep sending this long, watching that the path stays. */
      holdMs?: number;
    }
  | { op: 'close'; handle: number };

export interface StunReply {
  local: Addr;
  mapped: Addr | undefined;
  behaviour: string;
  results: unknown[];
}

export interface CollectReply {
  received: { from: Addr; data: string }[];
}

export interface BindReply {
  handle: number;
  fingerprint: string;
  /** `host:port` bound. */
  local: string;
  /** stunInfo() once done (or when the wait ran out). */
  stun: { publicAddress: string | undefined; mapping: string; done: boolean } | undefined;
  stunMs: number;
  stunErrors: string[];
  /** sock.invite() as the transport makes it, and its candidates. */
  invite: string;
  inviteAddrs: string[];
  /** The STUN-reflexive address is sock.invite()'s first candidate. */
  reflexiveFirst: boolean;
  /** The code the lab exchanges: sock.invite(), plus the reflexive address first if it was missing. */
  code: string;
  /** stats().relay once allocated (or failed, or the wait ran out); undefined without relays. */
  relay?: RelayInfo;
  relayMs?: number;
  /** The relayed candidates in the invite code. */
  inviteRelayed?: string[];
}

export interface PeerResult {
  fingerprint: string;
  nick: string | undefined;
  address: string | undefined;
  /** PeerState kind, or 'absent'. */
  state: string;
  reason: string | undefined;
  /** ms from startAt until it was seen connected. */
  connectMs: number | undefined;
  /** Our message acknowledged / theirs received. */
  acked: boolean;
  received: boolean;
  sendError: string | undefined;
  /** The bulk messages, when asked for: all acknowledged / all of theirs received. */
  bulkAcked?: boolean;
  bulkReceived?: boolean;
  /** Datagram size the session uses at the end (path-MTU discovery), bytes. */
  mtu: number | undefined;
  /** stats.path when first seen connected, and at the end; moves between relay and direct. */
  pathAtConnect?: string;
  path?: string;
  pathSwitches?: number;
  /** The canaries sent by the other side that arrived from it. */
  canariesReceived?: number;
}

export interface WatchReply {
  /** ms until the path was `until`, or undefined when it never was. */
  ms: number | undefined;
  /** The path when the watch began, and at its end. */
  pathAtStart: string | undefined;
  /** ms into the hold at which the path first left `until` (undefined: it stayed). */
  leftAfter?: number;
  path: string | undefined;
  pathSwitches: number | undefined;
  /** Messages sent meanwhile, and how many were acknowledged (the wait includes their acks). */
  sent: number;
  acked: number;
}

export interface ConnectReply {
  results: PeerResult[];
  error: string | undefined;
  /** Every peer record, for the printout. */
  peers: string;
  /** Extra (many-port probing) sockets the node holds once the exchange is done. */
  probeSockets: number;
  /** stats().relay at the end. */
  relay?: RelayInfo;
}

export class Agent {
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: Record<string, unknown>) => void>();
  private readonly started: Promise<void>;
  private stderr = '';

  constructor(
    readonly site: Site,
    private readonly child: ChildProcess,
  ) {
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    const lines = createInterface({ input: child.stdout! });
    let ready: () => void = () => undefined;
    this.started = new Promise<void>((res, rej) => {
      ready = res;
      child.once('exit', (code) =>
        rej(new Error(`agent ${site.name} exited (${code}) before ready: ${this.stderr}`)),
      );
    });
    lines.on('line', (line) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (msg.ready) ready();
      const id = typeof msg.id === 'number' ? msg.id : undefined;
      if (id === undefined) return;
      const done = this.waiting.get(id);
      this.waiting.delete(id);
      done?.(msg);
    });
    child.once('exit', (code) => {
      for (const [, done] of this.waiting) {
        done({ fatal: `agent ${site.name} exited (${code}): ${this.stderr}` });
      }
      this.waiting.clear();
    });
  }

  ready(): Promise<void> {
    return this.started;
  }

  request(req: Extract<AgentRequest, { op: 'stun' }>): Promise<StunReply>;
  request(req: Extract<AgentRequest, { op: 'collect' }>): Promise<CollectReply>;
  request(req: Extract<AgentRequest, { op: 'send-udp' }>): Promise<Record<string, unknown>>;
  request(req: Extract<AgentRequest, { op: 'bind' }>): Promise<BindReply>;
  request(req: Extract<AgentRequest, { op: 'connect' }>): Promise<ConnectReply>;
  request(req: Extract<AgentRequest, { op: 'watch-path' }>): Promise<WatchReply>;
  request(req: Extract<AgentRequest, { op: 'close' }>): Promise<{ closeMs: number }>;
  request(req: AgentRequest): Promise<unknown> {
    const id = this.nextId++;
    // No request takes this long (a pair's connect is at most ~20 s): a hung
    // agent fails the test with its name instead of running into the timeout.
    const limit = req.op === 'connect' || req.op === 'watch-path' ? req.timeoutMs + 15_000 : 15_000;
    return new Promise((res, rej) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        rej(new Error(`agent ${this.site.name}: no reply to ${req.op} within ${limit} ms`));
      }, limit);
      this.waiting.set(id, (reply) => {
        clearTimeout(timer);
        if (typeof reply.fatal === 'string') rej(new Error(reply.fatal));
        else res(reply);
      });
      this.child.stdin?.write(`${JSON.stringify({ ...req, id })}\n`);
    });
  }

  /** Closes stdin (the agent exits) and waits briefly; cleanup kills it if it lingers. */
  async exit(): Promise<void> {
    if (this.child.exitCode !== null) return;
    await new Promise<void>((res) => {
      const t = setTimeout(res, 1000);
      this.child.once('exit', () => {
        clearTimeout(t);
        res();
      });
      this.child.stdin?.end();
    });
  }
}
