import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprint, generateIdentity } from '../../../source/net/crypto/identity.js';

/**
 * mDNS for real (multicast-dns on 224.0.0.251:5353), but never on this
 * machine's interfaces: two network namespaces joined by a bridge in a third,
 * built here and removed afterwards (needs root and `ip`). Each node is a
 * child process (lan-agent.ts) inside its namespace, given only the other's
 * fingerprint; no DHT, no STUN, no route anywhere else.
 */

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(here, '../../..');
const AGENT = join(here, 'lan-agent.ts');
const PREFIX = `srmdisc${process.pid}`;
const namespaces: string[] = [];
const children = new Set<ChildProcess>();

const ip = (args: string[]) => run('ip', args);

/** Root, `ip`, nft, and the right to make a namespace with a veth in it (a probe, removed at once). */
async function canRun(): Promise<boolean> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const probe = `${PREFIX}-probe`;
  try {
    await run('nft', ['--version']);
    await ip(['netns', 'add', probe]);
    await ip(['-n', probe, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1']);
    return true;
  } catch {
    return false;
  } finally {
    await ip(['netns', 'del', probe]).catch(() => undefined);
  }
}

async function addNs(role: string): Promise<string> {
  const ns = `${PREFIX}-${role}`;
  await ip(['netns', 'add', ns]);
  namespaces.push(ns);
  await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  await run('ip', [
    'netns',
    'exec',
    ns,
    'sysctl',
    '-qw',
    'net.ipv6.conf.all.disable_ipv6=1',
    'net.ipv6.conf.default.disable_ipv6=1',
  ]);
  return ns;
}

/** A host on the bridge at `addr`, with multicast routed out of its one interface. */
async function addHost(role: string, addr: string): Promise<string> {
  const ns = await addNs(role);
  const br = `${PREFIX}-br`;
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
    `p-${role}`,
    'netns',
    br,
  ]);
  await ip(['-n', br, 'link', 'set', `p-${role}`, 'master', 'br0']);
  await ip(['-n', br, 'link', 'set', `p-${role}`, 'up']);
  await ip(['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0']);
  await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
  await ip(['-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0']);
  return ns;
}

interface AgentLine {
  event: string;
  nick?: string;
  fingerprint?: string;
  discovery?: {
    dials: { lan: number; dht: number; broadcast: number };
    accepted: number;
    mdns: boolean;
    dht: boolean;
  };
}

function agent(ns: string, args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, SRMUDP_STUN: 'none', SRMUDP_DHT: 'none' };
  delete env.SRMUDP_MDNS;
  const child = spawn(
    'ip',
    ['netns', 'exec', ns, process.execPath, '--import', 'tsx', AGENT, ...args],
    {
      cwd: ROOT,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  children.add(child);
  child.once('exit', () => children.delete(child));
  const lines: AgentLine[] = [];
  const waiters: { pred: (l: AgentLine) => boolean; resolve: (l: AgentLine) => void }[] = [];
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr += d.toString();
  });
  createInterface({ input: child.stdout! }).on('line', (text) => {
    const line = JSON.parse(text) as AgentLine;
    lines.push(line);
    for (const w of [...waiters])
      if (w.pred(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
  });
  const next = (pred: (l: AgentLine) => boolean, what: string, ms = 30_000) =>
    new Promise<AgentLine>((resolve, reject) => {
      const seen = lines.find(pred);
      if (seen) return resolve(seen);
      const timer = setTimeout(
        () => reject(new Error(`${ns}: no ${what} in ${ms} ms; stderr: ${stderr}`)),
        ms,
      );
      waiters.push({
        pred,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  return { child, next, send: (text: string) => child.stdin!.write(`${text}\n`) };
}

/** Namespaces left by an earlier run that died before its afterAll (its pid is gone). */
function removeStale(): void {
  let list = '';
  try {
    list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  } catch {
    return;
  }
  for (const ns of list.split('\n').map((l) => l.split(' ')[0] ?? '')) {
    const pid = Number(/^srmdisc(\d+)-/.exec(ns)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
      continue; // still running
    } catch {
      // gone: its namespaces are stale
    }
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // gone meanwhile
    }
  }
}

const enabled = await canRun();

describe.skipIf(!enabled)('mDNS between two network namespaces on one bridge', () => {
  beforeAll(async () => {
    removeStale();
    const br = await addNs('br');
    await ip(['-n', br, 'link', 'add', 'br0', 'type', 'bridge']);
    await ip(['-n', br, 'link', 'set', 'br0', 'up']);
    await addHost('a', '10.99.0.2');
    await addHost('b', '10.99.0.3');
  });

  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
    for (const ns of namespaces.reverse()) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
  });

  /** Replaces the bridge's filter: what it drops between the two hosts. */
  async function bridgeDrops(rule: string): Promise<void> {
    const br = `${PREFIX}-br`;
    const script = `flush ruleset\ntable bridge f {\n chain filt {\n  type filter hook forward priority 0; policy accept;\n  ${rule}\n }\n}\n`;
    await new Promise<void>((resolve, reject) => {
      const child = execFile('ip', ['netns', 'exec', br, 'nft', '-f', '-'], (err) =>
        err ? reject(err) : resolve(),
      );
      child.stdin!.end(script);
    });
  }

  async function connectByKey() {
    const alice = generateIdentity();
    const bob = generateIdentity();
    const bobFp = fingerprint(bob.publicKey);
    const b = agent(`${PREFIX}-b`, ['bob', bob.secretKey.toString('hex')]);
    await b.next((l) => l.event === 'ready', 'ready');
    const a = agent(`${PREFIX}-a`, ['alice', alice.secretKey.toString('hex'), `bob=${bobFp}`]);
    const connected = await a.next(
      (l) => l.event === 'connected' && l.nick === 'bob',
      'connection to bob',
    );
    expect(connected.fingerprint).toBe(bobFp);
    a.send('stats');
    const stats = await a.next((l) => l.event === 'stats', 'stats');
    a.send('quit');
    b.send('quit');
    expect(stats.discovery).toMatchObject({ mdns: true, dht: false });
    expect(stats.discovery!.accepted).toBeGreaterThanOrEqual(1);
    return stats.discovery!;
  }

  it('a peer given only a fingerprint is found over mDNS and connected, with no DHT and no STUN', async () => {
    // The broadcast fallback is filtered on the bridge: only mDNS can do it.
    await bridgeDrops('udp dport 47913 drop');
    const d = await connectByKey();
    expect(d.dials.lan).toBeGreaterThanOrEqual(1);
    expect(d.dials.broadcast).toBe(0);
  });

  it('with multicast dropped on the bridge, the broadcast beacon finds and connects the peer', async () => {
    await bridgeDrops('ether daddr 01:00:5e:00:00:00/24 drop');
    const d = await connectByKey();
    expect(d.dials.lan).toBe(0);
    expect(d.dials.broadcast).toBeGreaterThanOrEqual(1);
  });
});
