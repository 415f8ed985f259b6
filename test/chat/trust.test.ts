import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KnownPeers, startPeers } from '../../source/app/knownpeers.js';
import { parseCommand } from '../../source/chat/commands/index.js';
import { ChatController } from '../../source/chat/controller.js';
import { type ChatLine, formatChatLine } from '../../source/chat/format.js';
import type { PeerChange, PeerInfo } from '../../source/index.js';
import { fingerprint, generateIdentity, type Identity } from '../../source/net/crypto/identity.js';
import { MultiHolepunchSocket } from '../../source/net/shell/socket.js';

/**
 * The chat trusts what the transport decides: real sockets on 127.0.0.1,
 * trust stores and known-peers stores in a temporary directory, the chat
 * started the way cli.tsx starts it.
 */

let dir: string;
const open: { close(): Promise<void> }[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'srmudp-chattrust-'));
});
afterEach(async () => {
  for (const s of open.splice(0).reverse()) await s.close().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

/** Waits (bounded) until `check` holds; the failure names what was waited for. */
async function until(what: string, check: () => boolean, timeout = 10_000): Promise<void> {
  const end = Date.now() + timeout;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function peerSocket(nick: string, identity: Identity, port = 0) {
  const s = await MultiHolepunchSocket.bind({ host: '127.0.0.1', port, nick, identity });
  open.push(s);
  return s;
}

interface Seen {
  nick: string;
  change: PeerChange;
  state: PeerInfo['state']['kind'];
  fingerprint: string | undefined;
  /** What the transport had pinned for the nick when the event arrived. */
  pinned: string | undefined;
}

/** Alice's chat as cli.tsx starts it: known peers, trust store, reconnect. */
async function startAlice(profile: string) {
  const known = KnownPeers.open(join(profile, 'known-peers.json'));
  const socket = await MultiHolepunchSocket.bind({
    host: '127.0.0.1',
    nick: 'alice',
    identityPath: join(profile, 'identity.key'),
    trustStore: join(profile, 'trust.json'),
  });
  const lines: ChatLine[] = [];
  const seen: Seen[] = [];
  socket.on('peer', (p, change) =>
    seen.push({
      nick: p.nick,
      change,
      state: p.state.kind,
      fingerprint: p.fingerprint,
      pinned: socket.pinnedFingerprint(p.nick),
    }),
  );
  const chat = new ChatController(socket, {
    nick: 'alice',
    print: (l) => lines.push(l),
    cwd: profile,
    onTrust: (nick, fp, address) => known.trusted(nick, fp, address),
  });
  const unfollow = known.follow(socket);
  await startPeers(known, socket, [], (entries) => chat.addEntries(entries));
  const handle = {
    socket,
    seen,
    text: () => lines.map(formatChatLine).join('\n'),
    warnings: () => lines.filter((l) => l.kind === 'error' && /WARNING/.test(l.text)).length,
    run: (line: string) => chat.execute(parseCommand(line)),
    state: (nick: string) => socket.peers().find((p) => p.nick === nick),
    close: async () => {
      unfollow();
      await chat.shutdown();
    },
  };
  open.push(handle);
  return handle;
}

const at = (s: MultiHolepunchSocket) => `127.0.0.1:${s.localAddress().port}`;

async function trustFile(profile: string): Promise<string> {
  return readFile(join(profile, 'trust.json'), 'utf8').catch(() => '');
}

describe('the chat trusts what the transport decides', () => {
  it("a peers file's key refuses an impostor before anything is pinned; the real bob then connects", async () => {
    const real = generateIdentity();
    const impostor = await peerSocket('bob', generateIdentity());
    const port = impostor.localAddress().port;
    const alice = await startAlice(dir);
    const realFp = fingerprint(real.publicKey);
    await writeFile(
      join(dir, 'peers.json'),
      JSON.stringify({
        type: 'srmudp-peers',
        version: 1,
        peers: [{ nick: 'bob', address: `127.0.0.1:${port}`, fingerprint: realFp }],
      }),
    );
    await alice.run('/load peers.json');
    // Whichever comes first: the refusal, or (the bug) a session with the impostor.
    await until('the impostor answered', () =>
      ['key-mismatch', 'connected'].includes(alice.state('bob')?.state.kind ?? ''),
    );
    const bobs = alice.seen.filter((e) => e.nick === 'bob');
    // Never connected with, nor pinned to, the impostor's key.
    expect(bobs.some((e) => e.state === 'connected')).toBe(false);
    expect(bobs.some((e) => e.pinned === impostor.fingerprint)).toBe(false);
    expect(alice.socket.pinnedFingerprint('bob')).toBe(realFp);
    expect(alice.text()).toContain(impostor.fingerprint);
    const warned = alice.warnings();
    expect(warned).toBe(1);

    // The impostor leaves; the real bob takes the address and finds alice.
    await impostor.close();
    const bob = await peerSocket('bob', real, port);
    await bob.addPeers({ alice: at(alice.socket) });
    await until('the real bob connected', () => alice.state('bob')?.state.kind === 'connected');
    expect(alice.state('bob')?.fingerprint).toBe(realFp);
    expect(alice.warnings()).toBe(warned);
    expect(alice.text()).toMatch(/bob connected from 127\.0\.0\.1:\d+, key /);
    await alice.close();
    const trust = await trustFile(dir);
    expect(trust).not.toContain(impostor.fingerprint);
    expect(trust).toContain(realFp);
  });

  it('after an impostor was refused, /add bob <addr> reaches the real bob with no warning', async () => {
    const real = generateIdentity();
    const impostor = await peerSocket('bob', generateIdentity());
    const bob = await peerSocket('bob', real);
    const alice = await startAlice(dir);
    await writeFile(
      join(dir, 'peers.json'),
      JSON.stringify({
        type: 'srmudp-peers',
        version: 1,
        peers: [{ nick: 'bob', address: at(impostor), fingerprint: bob.fingerprint }],
      }),
    );
    await alice.run('/load peers.json');
    await until('the impostor refused', () => alice.state('bob')?.state.kind === 'key-mismatch');
    const warned = alice.warnings();
    await alice.run(`/add bob ${at(bob)}`);
    await until('the real bob connected', () => alice.state('bob')?.state.kind === 'connected');
    expect(alice.state('bob')?.fingerprint).toBe(bob.fingerprint);
    expect(alice.warnings()).toBe(warned);
    expect(alice.seen.some((e) => e.pinned === impostor.fingerprint)).toBe(false);
    await alice.close();
    expect(await trustFile(dir)).not.toContain(impostor.fingerprint);
  });

  it('/trust of a new key, then a restart of the chat: the trusted peer reconnects, no warning', async () => {
    const bob1 = await peerSocket('bob', generateIdentity());
    const port = bob1.localAddress().port;
    let alice = await startAlice(dir);
    await alice.run(`/add bob 127.0.0.1:${port}`);
    await until('bob connected', () => alice.state('bob')?.state.kind === 'connected');
    // Both ends done with the handshake, so bob's CLOSE reaches alice.
    await bob1.waitForPeer('alice');

    // bob comes back with a new key at the same address.
    await bob1.close();
    const bob2 = await peerSocket('bob', generateIdentity(), port);
    await until('the key change seen', () => alice.state('bob')?.state.kind === 'key-mismatch');
    await alice.run('/whois bob');
    // Both keys in full while they disagree.
    expect(alice.text()).toMatch(new RegExp(`pinned key\\s+${bob1.fingerprint}`));
    expect(alice.text()).toMatch(new RegExp(`offered key\\s+${bob2.fingerprint}`));
    await alice.run('/trust bob');
    await until('bob connected again', () => alice.state('bob')?.state.kind === 'connected');
    expect(alice.state('bob')?.fingerprint).toBe(bob2.fingerprint);
    expect(alice.text()).not.toMatch(/bob restarted/);
    await alice.close();

    alice = await startAlice(dir);
    await until(
      'bob reconnected after the restart',
      () => alice.state('bob')?.state.kind === 'connected',
    );
    expect(alice.state('bob')?.fingerprint).toBe(bob2.fingerprint);
    expect(alice.warnings()).toBe(0);
    expect(alice.text()).not.toMatch(/!!/);
    expect(KnownPeers.open(join(dir, 'known-peers.json')).fingerprint('bob')).toBe(
      bob2.fingerprint,
    );
  });

  it('/remove bob, then /add bob <addr> where a new key answers: no key-change warning', async () => {
    const bob1 = await peerSocket('bob', generateIdentity());
    const port = bob1.localAddress().port;
    const alice = await startAlice(dir);
    await alice.run(`/add bob 127.0.0.1:${port}`);
    await until('bob connected', () => alice.state('bob')?.state.kind === 'connected');
    await alice.run('/remove bob');
    expect(alice.socket.pinnedFingerprint('bob')).toBeUndefined();
    await bob1.close();
    const bob2 = await peerSocket('bob', generateIdentity(), port);
    await alice.run(`/add bob 127.0.0.1:${port}`);
    await until('the new bob connected', () => alice.state('bob')?.state.kind === 'connected');
    expect(alice.state('bob')?.fingerprint).toBe(bob2.fingerprint);
    expect(alice.warnings()).toBe(0);
    expect(alice.text()).not.toMatch(/key changed/i);
  });

  it('bob added at an address whose port was rewritten answers from another port: unconfirmed, then /trust pins it (issue 17 item 7)', async () => {
    const alice = await startAlice(dir);
    // Where the user believes bob is: his IP, a port nothing listens on (as a symmetric NAT's rewrite looks).
    const gone = await peerSocket('nobody', generateIdentity());
    const deadPort = gone.localAddress().port;
    await gone.close();
    await alice.run(`/add bob 127.0.0.1:${deadPort}`);
    const bob = await peerSocket('bob', generateIdentity());
    await bob.addPeers({ alice: at(alice.socket) });
    await until(
      'bob taken as bob, unconfirmed',
      () => alice.state('bob')?.state.kind === 'connected',
    );
    const info = alice.state('bob')!;
    expect(info.unconfirmed).toEqual({ from: at(bob) });
    expect(info.fingerprint).toBe(bob.fingerprint);
    expect(alice.socket.peers().map((p) => p.nick)).toEqual(['bob']);
    expect(alice.socket.pinnedFingerprint('bob')).toBeUndefined();
    expect(alice.text()).toContain(`unconfirmed: answered from ${at(bob)}, /trust bob to pin`);
    expect(await trustFile(dir)).not.toContain(bob.fingerprint);
    await alice.run('/trust bob');
    expect(alice.state('bob')?.unconfirmed).toBeUndefined();
    expect(alice.socket.pinnedFingerprint('bob')).toBe(bob.fingerprint);
    expect(await trustFile(dir)).toContain(bob.fingerprint);
    expect(alice.state('bob')?.state.kind).toBe('connected');
    expect(alice.warnings()).toBe(0);
  });
});
