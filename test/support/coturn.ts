import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Addr } from '../../source/net/core/address.js';
import { encodeBindingRequest } from '../../source/net/nat/stun-codec.js';

/** A real coturn on 127.0.0.1 for tests (Debian package coturn; scripts/lab-setup.sh installs it). */

export const HAVE_TURNSERVER = spawnSync('turnserver', ['--version']).status === 0;
export const SKIP = !HAVE_TURNSERVER && !process.env.CI;
if (SKIP)
  console.log(
    'coturn tests: skipped, "turnserver" is not installed (scripts/lab-setup.sh installs coturn)',
  );

export const LOOPBACK = '127.0.0.1';
/** A guard against a hang, never a measure: every wait ends on an event. */
export const WAIT_MS = 10_000;

export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, LOOPBACK, r));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export class Coturn {
  readonly dir = mkdtempSync(join(tmpdir(), 'srmudp-coturn-'));
  child: ChildProcess | undefined;
  /** Set when turnserver could not be started at all (under CI without coturn: the test fails). */
  spawnError: Error | undefined;
  port = 0;

  async start(auth: string[]): Promise<Addr> {
    this.port = await freeUdpPort();
    const args = [
      '-n',
      '--no-cli',
      '--no-tls',
      '--no-dtls',
      '--no-tcp',
      '--listening-ip',
      LOOPBACK,
      '--relay-ip',
      LOOPBACK,
      '--listening-port',
      String(this.port),
      '--allow-loopback-peers',
      '--realm',
      'test',
      ...auth,
      '--log-file',
      join(this.dir, 'turn.log'),
      '--simple-log',
      '--no-stdout-log',
      '--pidfile',
      join(this.dir, 'turn.pid'),
      '--db',
      join(this.dir, 'turndb'),
    ];
    this.child = spawn('turnserver', args, { stdio: 'ignore' });
    this.child.once('error', (err) => {
      this.spawnError = err;
    });
    const server = { address: LOOPBACK, port: this.port };
    await this.ready(server);
    return server;
  }

  /** Ready when it answers a Binding request. */
  private async ready(server: Addr): Promise<void> {
    const s = dgram.createSocket('udp4');
    try {
      await new Promise<void>((r) => s.bind(0, LOOPBACK, r));
      const answered = new Promise<void>((r) => s.once('message', () => r()));
      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        if (this.spawnError) throw new Error(`cannot start turnserver: ${this.spawnError.message}`);
        if (this.child?.exitCode != null) throw new Error(`turnserver exited:\n${this.log()}`);
        s.send(encodeBindingRequest(randomBytes(12)), server.port, server.address);
        const tick = new Promise<'tick'>((r) => setTimeout(() => r('tick'), 100));
        if ((await Promise.race([answered, tick])) !== 'tick') return;
        if (Date.now() > deadline) throw new Error(`turnserver not answering:\n${this.log()}`);
      }
    } finally {
      s.close();
    }
  }

  log(): string {
    try {
      return readFileSync(join(this.dir, 'turn.log'), 'utf8').split('\n').slice(-20).join('\n');
    } catch {
      return '(no log)';
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.pid !== undefined) {
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(child.pid, 'SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
