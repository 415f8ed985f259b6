import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
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

/** A free TCP port on loopback (the TLS listener's). */
export async function freeTcpPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, LOOPBACK, r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** What to listen on besides UDP (coturn's defaults off here, for test isolation). */
export interface CoturnListen {
  /** TCP on the same port as UDP (RFC 8656 §12.5). */
  tcp?: boolean;
  /** No UDP listener: a relay reachable only over TCP (UDP to its port gets nothing back). */
  noUdp?: boolean;
  /** TLS on `tlsPort`, with this PEM certificate and key. */
  tls?: { cert: string; key: string };
}

/** A self-signed certificate for 127.0.0.1 (openssl), and its SHA-256 fingerprint. */
export function selfSignedCert(dir: string): { cert: string; key: string; fingerprint: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const r = spawnSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '1',
    '-subj',
    '/CN=srmudp-test-relay',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
  ]);
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr?.toString()}`);
  return { cert, key, fingerprint: new X509Certificate(readFileSync(cert)).fingerprint256 };
}

export class Coturn {
  readonly dir = mkdtempSync(join(tmpdir(), 'srmudp-coturn-'));
  child: ChildProcess | undefined;
  /** Set when turnserver could not be started at all (under CI without coturn: the test fails). */
  spawnError: Error | undefined;
  port = 0;
  /** The TLS listener's port, when asked for. */
  tlsPort = 0;

  async start(auth: string[], listen: CoturnListen = {}): Promise<Addr> {
    this.port = await freeUdpPort();
    if (listen.tls) this.tlsPort = await freeTcpPort();
    const args = [
      '-n',
      '--no-cli',
      '--no-dtls',
      ...(listen.tls
        ? [
            '--cert',
            listen.tls.cert,
            '--pkey',
            listen.tls.key,
            '--tls-listening-port',
            String(this.tlsPort),
          ]
        : ['--no-tls']),
      ...(listen.tcp || listen.tls ? [] : ['--no-tcp']),
      ...(listen.noUdp ? ['--no-udp'] : []),
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
    if (listen.noUdp) await this.readyTcp(server);
    else await this.ready(server);
    return server;
  }

  /** Ready when it answers a Binding request over TCP (its UDP port is shut). */
  private async readyTcp(server: Addr): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      if (this.spawnError) throw new Error(`cannot start turnserver: ${this.spawnError.message}`);
      if (this.child?.exitCode != null) throw new Error(`turnserver exited:\n${this.log()}`);
      const ok = await new Promise<boolean>((resolve) => {
        const c = net.connect(server.port, server.address);
        c.once('error', () => resolve(false));
        c.once('connect', () => c.write(encodeBindingRequest(randomBytes(12))));
        c.once('data', () => {
          c.destroy();
          resolve(true);
        });
      });
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`turnserver not answering:\n${this.log()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
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
