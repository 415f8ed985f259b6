import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dataPaths } from '../../source/app/paths.js';
import { fingerprint, generateIdentity, type Identity } from '../../source/net/crypto/identity.js';
import { MultiHolepunchSocket } from '../../source/net/shell/socket.js';
import { chatArgv, chatEnv, findTmux, type Pane, Tmux } from './tmux.js';

/**
 * The trust decisions as a user sees them: alice is the real full-screen
 * chat in tmux; bob (and the impostor) are library sockets in this process
 * on 127.0.0.1, so a new key at the same address costs no process start.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = findTmux();
if (!bin)
  console.warn('test/e2e/trust.test.ts: skipped, tmux is not installed (apt-get install tmux)');

/** A connected peer's row in the Peers pane (it has an RTT). */
const rttRow = (nick: string) =>
  new RegExp(`│${nick}\\s+127\\.0\\.0\\.1:\\d+\\s+[a-z2-7]{8}\\s+\\d+(\\.\\d)?\\s+\\d`);
const warnings = (screen: string) => screen.match(/WARNING/g)?.length ?? 0;

describe.skipIf(!bin)('trust in the full-screen chat', () => {
  let tmux: Tmux;
  let home: string;
  const sockets: MultiHolepunchSocket[] = [];

  beforeAll(async () => {
    tmux = new Tmux(bin!);
    home = await mkdtemp(join(tmpdir(), 'srmudp-e2e-trust-'));
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) await s.close().catch(() => undefined);
  });
  afterAll(async () => {
    await tmux?.kill();
    if (home) await rm(home, { recursive: true, force: true });
  });

  const startAlice = async (session: string): Promise<{ pane: Pane; port: number }> => {
    const pane = await tmux.start(session, chatArgv(root, 'alice'), chatEnv(home, session));
    const port = Number((await pane.waitFor(/listening on 127\.0\.0\.1:(\d+)/, 45_000))[1]);
    await pane.waitFor(/type \/help/);
    return { pane, port };
  };
  const peer = async (identity: Identity, port = 0) => {
    const s = await MultiHolepunchSocket.bind({ host: '127.0.0.1', port, nick: 'bob', identity });
    sockets.push(s);
    return s;
  };

  it('an impostor at the address a peers file names is refused, never pinned; the real bob then connects', async () => {
    const { pane: alice, port: alicePort } = await startAlice('alice-impostor');
    const real = generateIdentity();
    const impostor = await peer(generateIdentity());
    const port = impostor.localAddress().port;
    const file = join(home, 'peers.json');
    await writeFile(
      file,
      JSON.stringify({
        type: 'srmudp-peers',
        version: 1,
        peers: [
          { nick: 'bob', address: `127.0.0.1:${port}`, fingerprint: fingerprint(real.publicKey) },
        ],
      }),
    );
    await alice.line(`/load ${file}`);
    await alice.waitFor(/WARNING: bob's key changed/);
    await alice.waitFor(/│bob\s+127\.0\.0\.1:\d+\s+/);
    const warned = warnings(await alice.capture());
    const trust = dataPaths(join(home, 'alice-impostor')).trust;
    expect(await readFile(trust, 'utf8').catch(() => '')).not.toContain(impostor.fingerprint);

    // The impostor leaves; the real bob takes its address and calls alice.
    await impostor.close();
    const bob = await peer(real, port);
    await bob.addPeers({ alice: `127.0.0.1:${alicePort}` });
    await alice.waitFor(rttRow('bob'));
    await alice.waitFor(/bob connected from 127\.0\.0\.1:\d+/);
    // No new warning (the first may have scrolled away, never more).
    expect(warnings(await alice.capture())).toBeLessThanOrEqual(warned);
    await alice.line('/quit');
    expect(await alice.exited()).toBe(0);
    const pins = await readFile(trust, 'utf8');
    expect(pins).not.toContain(impostor.fingerprint);
    expect(pins).toContain(bob.fingerprint);
  }, 90_000);

  it('/trust of a new key, then a restart of the chat: bob reconnects with no warning', async () => {
    const first = await startAlice('alice-trust');
    const bob1 = await peer(generateIdentity());
    const port = bob1.localAddress().port;
    await first.pane.line(`/add bob 127.0.0.1:${port}`);
    await first.pane.waitFor(rttRow('bob'));
    await bob1.waitForPeer('alice');

    // bob comes back with another key at the same address.
    await bob1.close();
    const bob2 = await peer(generateIdentity(), port);
    await first.pane.waitFor(/WARNING: bob's key changed/);
    await first.pane.line('/trust bob');
    await first.pane.waitFor(rttRow('bob'));
    await first.pane.waitFor(/bob connected from 127\.0\.0\.1:\d+, key [a-z2-7]{8}/);
    expect(await first.pane.capture()).not.toMatch(/bob restarted/);
    await first.pane.line('/quit');
    expect(await first.pane.exited()).toBe(0);

    // The same profile again: bob is reconnected under the trusted key.
    const again = await tmux.start(
      'alice-trust-2',
      chatArgv(root, 'alice'),
      chatEnv(home, 'alice-trust'),
    );
    await again.waitFor(/reconnecting to 1 known peer: bob/, 45_000);
    await again.waitFor(rttRow('bob'));
    const screen = await again.capture();
    expect(warnings(screen)).toBe(0);
    expect(screen).toContain(bob2.fingerprint.slice(0, 8));
    await again.line('/quit');
    expect(await again.exited()).toBe(0);
  }, 120_000);
});
