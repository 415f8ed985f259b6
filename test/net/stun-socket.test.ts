import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeInvite } from '../../source/net/nat/invite.js';
import { decodeStunMessage, encodeBindingResponse } from '../../source/net/nat/stun-codec.js';
import { MultiHolepunchSocket, type StunInfo } from '../../source/net/shell/socket.js';
import { stunServer } from '../support/stunserver.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('STUN on the shared socket', () => {
  it('learns the public address from two servers on the peer socket and puts it in the invite', async () => {
    const s1 = await stunServer();
    const s2 = await stunServer();
    cleanup.push(s1.close, s2.close);
    const events: StunInfo[] = [];
    const alice = await MultiHolepunchSocket.bind({
      host: '127.0.0.1',
      nick: 'alice',
      stun: [s1.address, s2.address],
    });
    cleanup.push(() => alice.close());
    alice.on('stun', (e) => events.push(e));
    await expect.poll(() => alice.stunInfo()?.done, { timeout: 3000 }).toBe(true);
    const own = `127.0.0.1:${alice.localAddress().port}`;
    expect(alice.stunInfo()).toEqual({
      publicAddress: own,
      mapping: 'endpoint-independent',
      done: true,
    });
    expect(alice.stats().publicAddress).toBe(own);
    expect(alice.stats().stun).toBeGreaterThanOrEqual(2);
    // Peer traffic on the same socket is unaffected.
    const bob = await MultiHolepunchSocket.bind({ host: '127.0.0.1', nick: 'bob' });
    cleanup.push(() => bob.close());
    await bob.addPeers({ alice: alice.invite() });
    await bob.waitForPeer('alice');
  });

  it('puts the STUN-reflexive address first in the invite code of a wildcard-bound socket', async () => {
    // A server that reports a public mapping, as one across a NAT would.
    const sock = dgram.createSocket('udp4');
    sock.on('message', (msg, rinfo) => {
      const req = decodeStunMessage(msg);
      sock.send(
        encodeBindingResponse(req.transactionId, { address: '198.51.100.1', port: 4444 }),
        rinfo.port,
        rinfo.address,
      );
    });
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => sock.close(() => r())));
    // Bound to every interface, but only ever talks to the server on 127.0.0.1.
    const alice = await MultiHolepunchSocket.bind({
      host: '0.0.0.0',
      nick: 'alice',
      stun: [`127.0.0.1:${sock.address().port}`],
    });
    cleanup.push(() => alice.close());
    await expect.poll(() => alice.stunInfo()?.done, { timeout: 3000 }).toBe(true);
    const invite = decodeInvite(alice.invite());
    expect(invite.addrs[0]).toEqual({ address: '198.51.100.1', port: 4444 });
    expect(invite.addrs.length).toBeGreaterThan(1);
    expect(invite.addrs.every((a) => a.port === 4444 || a.port === alice.localAddress().port)).toBe(
      true,
    );
  });

  it('reports a silent server as an error, never fatally', async () => {
    const silent = await stunServer(true);
    cleanup.push(silent.close);
    const alice = await MultiHolepunchSocket.bind({
      host: '127.0.0.1',
      nick: 'alice',
      stun: [silent.address],
      stunRto: 20,
    });
    cleanup.push(() => alice.close());
    const errors: string[] = [];
    alice.on('error', (e) => errors.push(e.message));
    await expect.poll(() => alice.stunInfo()?.done, { timeout: 5000 }).toBe(true);
    expect(alice.stunInfo()?.publicAddress).toBeUndefined();
    expect(errors.join('\n')).toMatch(/STUN server 127\.0\.0\.1:\d+: no answer after 7 tries/);
    expect(silent.seen).toBe(7);
  });

  it('names a bad STUN server address as a usage error', async () => {
    await expect(
      MultiHolepunchSocket.bind({ host: '127.0.0.1', nick: 'x', stun: ['nonsense'] }),
    ).rejects.toThrow(/bad address/);
  });
});
