import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

/**
 * A STUN server that never answers is reported within seconds, not after
 * the whole RFC 8489 transaction (7 transmissions, then 16 RTOs: ~39.5 s).
 * The real CLI in line mode; the "server" is a UDP socket on 127.0.0.1 that
 * reads and never replies.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('a dead STUN server', () => {
  it('is reported once the first few transmissions go unanswered', async () => {
    const dead = dgram.createSocket('udp4');
    let requests = 0;
    dead.on('message', () => requests++);
    await new Promise<void>((r) => dead.bind(0, '127.0.0.1', () => r()));
    cleanup.push(() => new Promise<void>((r) => dead.close(() => r())));
    const home = await mkdtemp(join(tmpdir(), 'srmudp-stun-quiet-'));
    cleanup.push(() => rm(home, { recursive: true, force: true }));
    const server = `127.0.0.1:${dead.address().port}`;
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', 'cli.tsx', '-n', 'bob', '--host', '127.0.0.1', '--stun', server],
      { cwd: root, env: { ...process.env, SRMUDP_HOME: home }, stdio: 'pipe' },
    );
    cleanup.push(() => {
      if (proc.exitCode === null) proc.kill('SIGKILL');
    });
    let out = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    await new Promise<void>((resolve, reject) => {
      const started = /type \/help/;
      const check = setInterval(() => {
        if (/STUN: no answer yet/.test(out)) {
          clearInterval(check);
          resolve();
        } else if (proc.exitCode !== null) {
          clearInterval(check);
          reject(new Error(`the chat ended:\n${out}`));
        }
      }, 50);
      // Bounded by the chat's own schedule, not this test's clock: it must
      // come before the transaction gives up, which the chat would also say.
      setTimeout(() => {
        clearInterval(check);
        reject(new Error(`not reported within 20 s (started: ${started.test(out)}):\n${out}`));
      }, 20_000);
    });
    expect(out).toContain(server);
    // It was reported while the client was still retransmitting, not after it gave up.
    expect(out).not.toMatch(/STUN: no public address learned/);
    expect(requests).toBeGreaterThanOrEqual(2);
    expect(requests).toBeLessThan(7);
    proc.stdin.end('/quit\n');
  });
});
