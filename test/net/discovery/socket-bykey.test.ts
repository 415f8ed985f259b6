import dgram from 'node:dgram';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { UsageError } from '../../../source/net/core/errors.js';
import { fingerprint, generateIdentity } from '../../../source/net/crypto/identity.js';
import { decodeInvite } from '../../../source/net/nat/invite.js';
import { decodeStunMessage, encodeBindingResponse } from '../../../source/net/nat/stun-codec.js';
import { type BindOptions, MultiHolepunchSocket } from '../../../source/net/shell/socket.js';
import { type PrivateDht, privateDht } from './privatedht.js';

let swarm: PrivateDht;
const open: MultiHolepunchSocket[] = [];

async function bind(opts: BindOptions): Promise<MultiHolepunchSocket> {
  const s = await MultiHolepunchSocket.bind({ host: '127.0.0.1', ...opts });
  open.push(s);
  return s;
}

// A fresh DHT per test: nodes of closed sockets would otherwise linger in
// the routing tables and cost every later lookup a query timeout.
beforeEach(async () => {
  swarm = await privateDht(20);
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  await swarm.close();
});

describe('addPeers by fingerprint alone, found through a private loopback DHT', () => {
  it("one side given only the other's fingerprint connects, pinned to that key before dialling", async () => {
    const dht = { bootstrap: swarm.bootstrap };
    const alice = await bind({ nick: 'alice', dht });
    const bob = await bind({ nick: 'bob', dht });
    await alice.addPeers({ bob: bob.fingerprint });
    // Bob adds no one: the only dial is the one Alice's lookup makes, with Bob's key pinned.
    const ab = await alice.waitForPeer('bob', { timeout: 30_000 });
    expect(ab.fingerprint).toBe(bob.fingerprint);
    expect(alice.pinnedFingerprint('bob')).toBe(bob.fingerprint);
    const d = alice.stats().discovery!;
    expect(d).toMatchObject({ dht: true, mdns: false });
    expect(d.publishes).toBeGreaterThanOrEqual(1);
    expect(d.lookups).toBeGreaterThanOrEqual(1);
    expect(d.accepted).toBeGreaterThanOrEqual(1);
    expect(d.dials.dht).toBeGreaterThanOrEqual(1);
    expect(Object.values(d.rejected).every((n) => n === 0)).toBe(true);
    expect(d.lookingFor).toEqual({ bob: 'dht' });
    expect(bob.stats().discovery!.publishes).toBeGreaterThanOrEqual(1);
    const got = bob.receive({ timeout: 10_000 });
    await alice.send('found you by key', { recipient: 'bob' });
    expect((await got)?.content.toString()).toBe('found you by key');
  });

  it('two sockets given only each other fingerprint connect and end up pinned both ways', async () => {
    const dht = { bootstrap: swarm.bootstrap };
    const alice = await bind({ nick: 'alice', dht });
    const bob = await bind({ nick: 'bob', dht });
    await alice.addPeers({ bob: bob.fingerprint });
    await bob.addPeers({ alice: { fingerprint: alice.fingerprint } });
    const [ab, ba] = await Promise.all([
      alice.waitForPeer('bob', { timeout: 30_000 }),
      bob.waitForPeer('alice', { timeout: 30_000 }),
    ]);
    expect(ab.fingerprint).toBe(bob.fingerprint);
    expect(ba.fingerprint).toBe(alice.fingerprint);
    // Whoever dialled first met the other as a stranger; its own lookup then pins the name.
    await vi.waitFor(
      () => {
        expect(alice.pinnedFingerprint('bob')).toBe(bob.fingerprint);
        expect(bob.pinnedFingerprint('alice')).toBe(alice.fingerprint);
      },
      { timeout: 30_000, interval: 50 },
    );
  });

  it('a key-only invite code (nick and key, no address) is looked up and connects', async () => {
    const dht = { bootstrap: swarm.bootstrap };
    const alice = await bind({ nick: 'alice', dht });
    const bob = await bind({ nick: 'bob', dht });
    const code = bob.invite({ addresses: false });
    expect(decodeInvite(code).addrs).toEqual([]);
    await alice.addPeers({ bob: code });
    expect(alice.pinnedFingerprint('bob')).toBe(bob.fingerprint);
    const info = await alice.waitForPeer('bob', { timeout: 30_000 });
    expect(info.fingerprint).toBe(bob.fingerprint);
    const plain = await bind({ nick: 'plain' });
    await expect(plain.addPeers({ bob: code })).rejects.toThrow(/needs discovery/);
  });

  it('publish: false looks others up without announcing us', async () => {
    const quiet = await bind({
      nick: 'quiet',
      dht: { bootstrap: swarm.bootstrap, publish: false },
    });
    const carol = await bind({ nick: 'carol', dht: { bootstrap: swarm.bootstrap } });
    await quiet.addPeers({ carol: carol.fingerprint });
    await quiet.waitForPeer('carol', { timeout: 30_000 });
    expect(quiet.stats().discovery?.publishes).toBe(0);
    expect(carol.stats().discovery?.publishes).toBeGreaterThanOrEqual(1);
  });

  it('a fingerprint alone without discovery is a UsageError that says discovery is needed', async () => {
    const plain = await bind({ nick: 'plain' });
    const fp = (await bind({ nick: 'x' })).fingerprint;
    await expect(plain.addPeers({ bob: fp })).rejects.toThrow(/needs discovery/);
    await expect(plain.addPeers({ bob: { fingerprint: fp } })).rejects.toThrow(UsageError);
    expect(plain.stats().discovery).toBeUndefined();
  });

  it('a key-only entry that contradicts a pin is refused before anything is looked up', async () => {
    const alice = await bind({
      nick: 'alice',
      dht: { bootstrap: swarm.bootstrap, publish: false },
    });
    const bob = await bind({ nick: 'bob' });
    await alice.addPeers({
      bob: {
        address: `${bob.localAddress().address}:${bob.localAddress().port}`,
        fingerprint: bob.fingerprint,
      },
    });
    const other = generateIdentity();
    await expect(alice.addPeers({ bob: fingerprint(other.publicKey) })).rejects.toThrow(/pinned/);
    expect(alice.stats().discovery?.lookups).toBe(0);
  });

  it('the name is pinned while the key is looked up: a stranger announcing it cannot take it', async () => {
    const alice = await bind({
      nick: 'alice',
      dht: { bootstrap: swarm.bootstrap, publish: false },
    });
    const bobKey = fingerprint(generateIdentity().publicKey); // never published: never found
    await alice.addPeers({ bob: bobKey });
    const waiting = alice.peers().find((p) => p.nick === 'bob');
    expect(waiting?.state.kind).toBe('looking-up');
    expect(alice.pinnedFingerprint('bob')).toBe(bobKey);
    // Mallory (another key) calls herself bob and dials alice first.
    const mallory = await bind({ nick: 'bob' });
    await mallory.addPeers({ alice: `127.0.0.1:${alice.localAddress().port}` });
    await mallory.waitForPeer('alice', { timeout: 10_000 });
    await vi.waitFor(
      () => expect(alice.peers().some((p) => p.fingerprint === mallory.fingerprint)).toBe(true),
      { timeout: 10_000, interval: 20 },
    );
    const squatter = alice.peers().find((p) => p.fingerprint === mallory.fingerprint)!;
    expect(squatter.nick).not.toBe('bob');
    expect(alice.pinnedFingerprint('bob')).toBe(bobKey);
    expect(alice.peers().find((p) => p.nick === 'bob')?.state.kind).toBe('looking-up');
  });

  it('removing a name still being looked up stops the lookups', async () => {
    const alice = await bind({
      nick: 'alice',
      dht: { bootstrap: swarm.bootstrap, publish: false },
    });
    await alice.addPeers({ ghost: fingerprint(generateIdentity().publicKey) });
    alice.removePeer('ghost');
    expect(alice.peers().map((p) => p.nick)).not.toContain('ghost');
  });
});

describe('a peer found by key moves', () => {
  it('bob restarts on another port: alice reconnects by his updated record', async () => {
    const dht = { bootstrap: swarm.bootstrap };
    const bobId = generateIdentity();
    const alice = await bind({ nick: 'alice', dht });
    const bob1 = await bind({ nick: 'bob', dht, identity: bobId });
    await alice.addPeers({ bob: bob1.fingerprint });
    await alice.waitForPeer('bob', { timeout: 30_000 });
    const oldPort = bob1.localAddress().port;
    // Bob's side must have completed the handshake, or his CLOSE never goes out.
    await bob1.waitForPeer('alice', { timeout: 10_000 });
    await bob1.close();
    await vi.waitFor(
      () => expect(alice.peers().find((p) => p.nick === 'bob')?.state.kind).not.toBe('connected'),
      {
        timeout: 30_000,
        interval: 50,
      },
    );
    const bob2 = await bind({ nick: 'bob', dht, identity: bobId });
    const newPort = bob2.localAddress().port;
    expect(newPort).not.toBe(oldPort);
    const info = await alice.waitForPeer('bob', { timeout: 60_000 });
    expect(info.address).toBe(`127.0.0.1:${newPort}`);
    expect(info.fingerprint).toBe(bob2.fingerprint);
    expect(alice.stats().discovery!.dials.dht).toBeGreaterThanOrEqual(2);
  });

  it('a wanted key that dials us first takes the name we gave it, pinned', async () => {
    const dht = { bootstrap: swarm.bootstrap, publish: false };
    const alice = await bind({ nick: 'alice', dht });
    const bob = await bind({ nick: 'robert' });
    // Alice looks Bob up by key, but Bob (not published) dials her first with her address.
    await alice.addPeers({ bob: bob.fingerprint });
    await bob.addPeers({ alice: `127.0.0.1:${alice.localAddress().port}` });
    const info = await alice.waitForPeer('bob', { timeout: 30_000 });
    expect(info.fingerprint).toBe(bob.fingerprint);
    expect(alice.pinnedFingerprint('bob')).toBe(bob.fingerprint);
    expect(alice.peers().map((p) => p.nick)).not.toContain('robert');
  });
});

describe('our record follows STUN', () => {
  it('is re-signed with the reflexive address as soon as STUN answers, not at the next refresh', async () => {
    // A STUN server that reports a mapped port other than ours (as a NAT would).
    const stun = dgram.createSocket('udp4');
    stun.on('message', (msg, rinfo) => {
      const req = decodeStunMessage(msg);
      const mapped = { address: '127.0.0.1', port: rinfo.port === 65535 ? 1 : rinfo.port + 1 };
      stun.send(encodeBindingResponse(req.transactionId, mapped), rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => stun.bind(0, '127.0.0.1', r));
    try {
      const alice = await bind({
        nick: 'alice',
        dht: { bootstrap: swarm.bootstrap },
        stun: [`127.0.0.1:${stun.address().port}`],
      });
      const versionsAtStun = await new Promise<number>((resolve) => {
        alice.on('stun', () => resolve(alice.stats().discovery!.versions));
      });
      // The socket's own 'stun' listener (registered at bind) ran first and signed a new version.
      expect(versionsAtStun).toBe(2);
      expect(alice.stunInfo()?.publicAddress).toBeDefined();
    } finally {
      stun.close();
    }
  });
});
