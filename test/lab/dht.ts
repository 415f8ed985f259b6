import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Lab, REPO_ROOT, type Site } from './lab.js';

/**
 * Discovery by key in the NAT lab (issue 18): a private Mainline DHT in its
 * own namespace on the lab's "internet" bridge, and lab nodes that publish
 * and resolve through it from behind the lab's NATs.
 *
 *   [inet] bridge 198.18.0.0/24
 *     └── [dht]  198.18.0.100 … .(100+n-1), one bittorrent-dht node on each
 *                (port 6881), the first the others' (and the peers') bootstrap
 *
 * The namespace is `<lab prefix>-dht`, so the lab's own cleanup (destroy,
 * process exit, a later run's stale sweep) removes it and kills what runs in
 * it, as for every lab namespace.
 */

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const SWARM = join(here, 'dht-swarm.ts');
const AGENT = join(here, 'dht-agent.ts');

/** First address of the DHT's hosts; clear of STUN (.2/.3) and the sites (.11–.42). */
export const DHT_FIRST_OCTET = 100;
/** Environment of every process the DHT lab starts: no public STUN, DHT or multicast by default. */
const LAB_ENV = { SRMUDP_STUN: 'none', SRMUDP_DHT: 'none', SRMUDP_MDNS: 'off' };

export type DhtAgentRequest =
  | { op: 'dht-start'; bootstrap: string[] }
  | { op: 'dht-publish' }
  | { op: 'dht-resolve'; key: string }
  | {
      op: 'bind';
      nick: string;
      /** 0.0.0.0:port; full-cone sites forward 40000–40999 only. */
      port: number;
      stun: string[];
      bootstrap: string[];
      /** Hex libsodium secret key, to bind the same identity again (a move). */
      secretKey?: string;
    }
  | {
      op: 'connect';
      handle: number;
      /** nick → fingerprint: key only, nothing else. */
      peers: Record<string, string>;
      /** The nick to wait for and exchange a message with. */
      expect: string;
      startAt: number;
      timeoutMs: number;
    }
  | { op: 'settle'; handle: number; versions: number; timeoutMs: number }
  | { op: 'close'; handle: number };

export interface DhtBindReply {
  handle: number;
  fingerprint: string;
  secretKey: string;
  publicAddress: string | undefined;
  local: { address: string; port: number };
}

export interface DhtConnectReply {
  state: string;
  address: string | undefined;
  fingerprint: string | undefined;
  pinned: string | undefined;
  /** ms from startAt (addPeers) to connected. */
  connectMs: number | undefined;
  acked: boolean;
  received: boolean;
  discovery:
    | {
        versions: number;
        publishes: number;
        lookups: number;
        accepted: number;
        dialsDht: number;
        rejected: number;
        rejectedBy: Record<string, number>;
        publishFailures: number;
        foundBy: string | undefined;
      }
    | undefined;
}

/** A JSON-lines child in a lab namespace (the swarm or an agent). */
class LabProcess {
  private nextId = 1;
  private readonly waiting = new Map<number, (msg: Record<string, unknown>) => void>();
  private stderr = '';
  readonly started: Promise<Record<string, unknown>>;

  constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    let ready: (msg: Record<string, unknown>) => void = () => undefined;
    this.started = new Promise((res, rej) => {
      ready = res;
      child.once('exit', (code) =>
        rej(new Error(`${name} exited (${code}) before ready: ${this.stderr}`)),
      );
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (msg.ready) ready(msg);
      if (typeof msg.id !== 'number') return;
      const done = this.waiting.get(msg.id);
      this.waiting.delete(msg.id);
      done?.(msg);
    });
    child.once('exit', (code) => {
      for (const done of this.waiting.values())
        done({ fatal: `${name} exited (${code}): ${this.stderr}` });
      this.waiting.clear();
    });
  }

  call(req: object, limitMs: number): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((res, rej) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        rej(new Error(`${this.name}: no reply within ${limitMs} ms to ${JSON.stringify(req)}`));
      }, limitMs);
      this.waiting.set(id, (msg) => {
        clearTimeout(timer);
        if (typeof msg.fatal === 'string') rej(new Error(msg.fatal));
        else res(msg);
      });
      this.child.stdin?.write(`${JSON.stringify({ ...req, id })}\n`);
    });
  }

  /** Closes stdin (the child exits on its own) and kills it if it lingers past a second. */
  async exit(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await new Promise<void>((res) => {
      const t = setTimeout(() => {
        if (this.child.pid !== undefined) this.child.kill('SIGKILL');
        res();
      }, 1000);
      this.child.once('exit', () => {
        clearTimeout(t);
        res();
      });
      this.child.stdin?.end();
    });
  }
}

function spawnIn(ns: string, script: string, args: string[] = []): ChildProcess {
  // `ip netns exec` execs the command: the child's pid is node's.
  return spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', script, ...args], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...LAB_ENV },
  });
}

async function ip(args: string[]): Promise<void> {
  try {
    await run('ip', args);
  } catch (err) {
    throw new Error(`ip ${args.join(' ')}: ${(err as { stderr?: string }).stderr ?? err}`);
  }
}

export interface LabDht {
  /** `host:port` of the node the others joined through. */
  bootstrap: string;
  /** Routing-table size of each node once the swarm was ready. */
  tables: number[];
  close(): Promise<void>;
}

/** Builds the `dht` namespace on the lab bridge and starts `count` DHT nodes in it. */
export async function startLabDht(lab: Lab, count: number): Promise<LabDht> {
  const ns = `${lab.prefix}-dht`;
  const inet = `${lab.prefix}-inet`;
  await ip(['netns', 'add', ns]);
  await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  await ip([
    'link',
    'add',
    'eth0',
    'netns',
    ns,
    'type',
    'veth',
    'peer',
    'name',
    'p-dht',
    'netns',
    inet,
  ]);
  await ip(['-n', inet, 'link', 'set', 'p-dht', 'master', 'br0']);
  await ip(['-n', inet, 'link', 'set', 'p-dht', 'up']);
  const addresses = Array.from({ length: count }, (_, i) => `198.18.0.${DHT_FIRST_OCTET + i}`);
  for (const a of addresses) await ip(['-n', ns, 'addr', 'add', `${a}/24`, 'dev', 'eth0']);
  await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
  const swarm = new LabProcess('dht swarm', spawnIn(ns, SWARM, addresses));
  const ready = await swarm.started;
  return {
    bootstrap: String(ready.bootstrap),
    tables: (ready.tables as number[]) ?? [],
    close: () => swarm.exit(),
  };
}

/** A dht-agent.ts process in one lab site. */
export class DhtAgent {
  private constructor(
    readonly site: Site,
    private readonly proc: LabProcess,
  ) {}

  static async start(lab: Lab, siteName: string): Promise<DhtAgent> {
    const site = lab.site(siteName);
    const proc = new LabProcess(`dht agent ${siteName}`, spawnIn(site.ns, AGENT));
    await proc.started;
    return new DhtAgent(site, proc);
  }

  dhtStart(bootstrap: string[]): Promise<{ tableSize: number }> {
    return this.call({ op: 'dht-start', bootstrap }) as Promise<{ tableSize: number }>;
  }

  dhtPublish(): Promise<{ key: string; ms: number; stored: number }> {
    return this.call({ op: 'dht-publish' }) as Promise<{ key: string; ms: number; stored: number }>;
  }

  dhtResolve(key: string): Promise<{ found: boolean; ms: number }> {
    return this.call({ op: 'dht-resolve', key }) as Promise<{ found: boolean; ms: number }>;
  }

  bind(req: Omit<Extract<DhtAgentRequest, { op: 'bind' }>, 'op'>): Promise<DhtBindReply> {
    return this.call({ op: 'bind', ...req }) as unknown as Promise<DhtBindReply>;
  }

  connect(req: Omit<Extract<DhtAgentRequest, { op: 'connect' }>, 'op'>): Promise<DhtConnectReply> {
    return this.call(
      { op: 'connect', ...req },
      req.timeoutMs + 15_000,
    ) as unknown as Promise<DhtConnectReply>;
  }

  settle(
    handle: number,
    versions: number,
    timeoutMs: number,
  ): Promise<{ settled: boolean; versions: number; publishes: number }> {
    return this.call({ op: 'settle', handle, versions, timeoutMs }) as unknown as Promise<{
      settled: boolean;
      versions: number;
      publishes: number;
    }>;
  }

  close(handle: number): Promise<void> {
    return this.call({ op: 'close', handle }).then(() => undefined);
  }

  exit(): Promise<void> {
    return this.proc.exit();
  }

  private call(req: DhtAgentRequest, limitMs = 30_000): Promise<Record<string, unknown>> {
    return this.proc.call(req, limitMs);
  }
}

/** p-th percentile (nearest rank) of `xs`, rounded to ms. */
export function pctl(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN);
}
