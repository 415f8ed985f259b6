import { afterEach, describe, expect, it } from 'vitest';
import { generateIdentity } from '../../source/net/crypto/identity.js';
import { type Message, MultiHolepunchSocket } from '../../source/net/shell/socket.js';
import { type Impairment, UdpProxy } from '../support/udpproxy.js';

/**
 * Faults over real UDP on 127.0.0.1, through a seeded user-space impairment
 * proxy. The seed is in every failure message (SRMUDP_FAULT_SEED to replay).
 */
const seed = Number(process.env.SRMUDP_FAULT_SEED ?? 4242);
/** The largest allowed message under 30% loss takes minutes of real time: behind SRMUDP_LONG=1. */
const BIG = process.env.SRMUDP_LONG === '1' ? 1024 * 1024 : 256 * 1024;
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function pairThroughProxy(impairment: Impairment) {
  const alice = await MultiHolepunchSocket.bind({ host: '127.0.0.1', nick: 'alice' });
  cleanup.push(() => alice.close());
  const proxy = await UdpProxy.start(
    { address: '127.0.0.1', port: alice.localAddress().port },
    seed,
    impairment,
  );
  cleanup.push(() => proxy.close());
  const bob = await MultiHolepunchSocket.bind({ host: '127.0.0.1', nick: 'bob' });
  cleanup.push(() => bob.close());
  await bob.addPeers({ alice: proxy.address });
  await bob.waitForPeer('alice', { timeout: 20_000 });
  // Both sides: the initiator is up one FINISH before the responder is.
  await alice.waitForPeer('bob', { timeout: 20_000 });
  return { alice, bob, proxy };
}

function collect(sock: MultiHolepunchSocket): Message[] {
  const got: Message[] = [];
  sock.addHook((m) => got.push(m));
  return got;
}

async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`seed ${seed}: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.sequential('faults over real UDP (impairment proxy)', () => {
  it(`30% loss, 5% duplication, 20±10 ms delay: 10,000 messages and a ${BIG / 1024} KiB one arrive exactly once, in order (seed ${seed})`, async () => {
    const { alice, bob, proxy } = await pairThroughProxy({
      loss: 0.3,
      duplicate: 0.05,
      delay: 20,
      jitter: 10,
    });
    const got = collect(alice);
    const big = proxy.rng.bytes(BIG);
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 10_000; i++)
      sends.push(bob.send(`m${i}`, { recipient: 'alice', timeout: 120_000 }));
    sends.push(bob.send(big, { recipient: 'alice', timeout: 120_000 }));
    await Promise.all(sends);
    await until(() => got.length === 10_001, 10_000, 'all messages');
    // Late duplicates: stop new traffic, let every delayed copy leave the
    // proxy, then send a sentinel undelayed. Loopback keeps order, so once it
    // arrived alice has read every late copy: none may have been delivered.
    proxy.blackout = true;
    await until(() => proxy.inFlight === 0, 10_000, 'delayed copies to drain');
    proxy.impairment = {};
    proxy.blackout = false;
    await bob.send('sentinel', { recipient: 'alice', timeout: 10_000 });
    await until(() => got.length >= 10_002, 10_000, 'the sentinel');
    expect(got).toHaveLength(10_002);
    expect(got[10_001]!.content.toString()).toBe('sentinel');
    expect(alice.stats().dropped.replay, `seed ${seed}: duplicates dropped`).toBeGreaterThan(0);
    expect(
      got.slice(0, 10_000).map((m) => m.content.toString()),
      `seed ${seed}`,
    ).toEqual(Array.from({ length: 10_000 }, (_, i) => `m${i}`));
    expect(got[10_000]!.content.equals(big), `seed ${seed}: big message intact`).toBe(true);
    expect(proxy.stats.dropped).toBeGreaterThan(0);
    expect(proxy.stats.duplicated).toBeGreaterThan(0);
    expect(bob.peers()[0]!.stats.retransmits).toBeGreaterThan(0);
  }, 600_000);

  it('a 10 s blackout is survived and what was queued is delivered; a send whose timeout passes rejects', async () => {
    const { alice, bob, proxy } = await pairThroughProxy({});
    const got = collect(alice);
    proxy.blackout = true;
    const doomed = bob.send('too late', { recipient: 'alice', timeout: 1000 }).then(
      () => 'resolved',
      (e: Error) => e.message,
    );
    const queued = Array.from({ length: 10 }, (_, i) =>
      bob.send(`q${i}`, { recipient: 'alice', timeout: 30_000 }),
    );
    expect(await doomed).toMatch(/not acknowledged within 1000 ms by: alice/);
    await new Promise((r) => setTimeout(r, 9_000));
    // The session survives the silence on both sides.
    expect(bob.peers()[0]!.state.kind).toBe('connected');
    expect(alice.peers()[0]!.state.kind).toBe('connected');
    proxy.blackout = false;
    await Promise.all(queued);
    await until(() => got.length === 11, 5_000, 'queued messages');
    expect(got.map((m) => m.content.toString())).toEqual([
      'too late',
      ...Array.from({ length: 10 }, (_, i) => `q${i}`),
    ]);
  }, 40_000);

  it('the source port changes mid-session (NAT rebinding): the session continues', async () => {
    const { alice, bob, proxy } = await pairThroughProxy({});
    const got = collect(alice);
    const back = collect(bob);
    await bob.send('before', { recipient: 'alice' });
    const before = alice.peers()[0]!.address;
    proxy.rebind();
    await bob.send('after', { recipient: 'alice', timeout: 10_000 });
    await alice.send('reply', { recipient: 'bob', timeout: 10_000 });
    await until(() => back.length === 1, 5_000, 'reply');
    expect(got.map((m) => m.content.toString())).toEqual(['before', 'after']);
    expect(alice.peers()[0]!.address).not.toBe(before);
    expect(alice.peers()).toHaveLength(1);
  }, 30_000);

  it('a peer killed and restarted on the same port is talking again without the user doing anything', async () => {
    const alice = await MultiHolepunchSocket.bind({ host: '127.0.0.1', nick: 'alice' });
    cleanup.push(() => alice.close());
    const identity = generateIdentity();
    const bob = await MultiHolepunchSocket.bind({ host: '127.0.0.1', nick: 'bob', identity });
    const port = bob.localAddress().port;
    await alice.addPeers({ bob: `127.0.0.1:${port}` });
    await alice.waitForPeer('bob');
    // "Kill": the socket vanishes without a CLOSE.
    (bob as unknown as { closed: boolean }).closed = true;
    await new Promise<void>((r) =>
      (bob as unknown as { socket: { close(cb: () => void): void } }).socket.close(r),
    );
    const bob2 = await MultiHolepunchSocket.bind({
      host: '127.0.0.1',
      port,
      nick: 'bob',
      identity,
    });
    cleanup.push(() => bob2.close());
    const t0 = Date.now();
    await alice.send('are you back?', { recipient: 'bob', timeout: 10_000 });
    const m = await bob2.receive({ timeout: 5000 });
    expect(m?.content.toString()).toBe('are you back?');
    console.log(`restart: talking again after ${Date.now() - t0} ms of real time`);
  }, 30_000);
});
