/**
 * A throwaway coturn (`turnserver`, Debian package coturn) on 127.0.0.1 for
 * the relay group (bench/relay.ts). The tests start theirs with
 * test/support/coturn.ts; the bench does not import from test/, so this is
 * the same minimal configuration, duplicated: long-term credentials (RFC
 * 8489 §9.2) with a random password, UDP and TCP on one port (RFC 8656
 * §12.5), relayed addresses on loopback, loopback peers allowed (coturn
 * refuses them by default), no TLS/DTLS, no CLI, a log in a temp dir.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeBindingRequest } from '../source/net/nat/stun-codec.js';

export const LOOPBACK = '127.0.0.1';

/** Why coturn cannot run here (the group is then skipped, not failed), or undefined. */
export function turnserverMissing(): string | undefined {
  const r = spawnSync('turnserver', ['--version'], { stdio: 'ignore' });
  return r.status === 0
    ? undefined
    : '"turnserver" is not installed (Debian package coturn; scripts/lab-setup.sh installs it)';
}

/** A port free for both UDP and TCP on loopback (coturn listens on both). */
async function freePort(): Promise<number> {
  for (;;) {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, LOOPBACK, r));
    const { port } = s.address();
    const srv = net.createServer();
    const tcpFree = await new Promise<boolean>((r) => {
      srv.once('error', () => r(false));
      srv.listen(port, LOOPBACK, () => r(true));
    });
    await new Promise<void>((r) => s.close(() => r()));
    if (tcpFree) {
      await new Promise<void>((r) => srv.close(() => r()));
      return port;
    }
  }
}

export class BenchTurnServer {
  readonly dir = mkdtempSync(join(tmpdir(), 'srmudp-bench-turn-'));
  readonly username = 'bench';
  readonly password = randomBytes(12).toString('hex');
  port = 0;
  private child: ChildProcess | undefined;
  private spawnError: Error | undefined;

  /** Starts it; resolves once it answers a STUN Binding request over UDP. */
  async start(): Promise<void> {
    this.port = await freePort();
    this.child = spawn(
      'turnserver',
      [
        '-n',
        '--no-cli',
        '--no-tls',
        '--no-dtls',
        '--listening-ip',
        LOOPBACK,
        '--relay-ip',
        LOOPBACK,
        '--listening-port',
        String(this.port),
        '--allow-loopback-peers',
        '--realm',
        'srmudp-bench',
        '--lt-cred-mech',
        '--user',
        `${this.username}:${this.password}`,
        '--log-file',
        join(this.dir, 'turn.log'),
        '--simple-log',
        '--no-stdout-log',
        '--pidfile',
        join(this.dir, 'turn.pid'),
        '--db',
        join(this.dir, 'turndb'),
      ],
      { stdio: 'ignore' },
    );
    this.child.once('error', (err) => {
      this.spawnError = err;
    });
    await this.ready();
  }

  /** `bind({ relays })` for this server, over UDP or straight over TCP (RFC 7065 `?transport=tcp`). */
  relays(transport: 'udp' | 'tcp') {
    return [
      {
        urls: `turn:${LOOPBACK}:${this.port}${transport === 'tcp' ? '?transport=tcp' : ''}`,
        username: this.username,
        credential: this.password,
      },
    ];
  }

  /** The child's pid (its CPU is part of what a relayed round trip costs). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  private async ready(): Promise<void> {
    const s = dgram.createSocket('udp4');
    try {
      await new Promise<void>((r) => s.bind(0, LOOPBACK, r));
      const answered = new Promise<void>((r) => s.once('message', () => r()));
      const deadline = Date.now() + 10_000;
      for (;;) {
        if (this.spawnError) throw new Error(`cannot start turnserver: ${this.spawnError.message}`);
        if (this.child?.exitCode != null) throw new Error(`turnserver exited: ${this.logTail()}`);
        s.send(encodeBindingRequest(randomBytes(12)), this.port, LOOPBACK);
        const tick = new Promise<'tick'>((r) => setTimeout(() => r('tick'), 100));
        if ((await Promise.race([answered, tick])) !== 'tick') return;
        if (Date.now() > deadline) throw new Error(`turnserver not answering: ${this.logTail()}`);
      }
    } finally {
      s.close();
    }
  }

  logTail(): string {
    try {
      return readFileSync(join(this.dir, 'turn.log'), 'utf8').split('\n').slice(-5).join(' | ');
    } catch {
      return '(no log)';
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.pid !== undefined) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(t);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
