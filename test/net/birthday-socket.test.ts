import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { generateIdentity } from '../../source/net/crypto/identity.js';
import { PROBE_SOCKETS } from '../../source/net/nat/birthday.js';
import { decodeInvite, encodeInvite } from '../../source/net/nat/invite.js';
import { decodeStunMessage, encodeBindingResponse } from '../../source/net/nat/stun-codec.js';
import { MultiHolepunchSocket } from '../../source/net/shell/socket.js';
import { PacketType, PROBE_PACKET_SIZE } from '../../source/net/wire/packet.js';

/**
 * Many-port probing on real sockets, loopback only: a STUN server that adds
 * `shift` to the port it saw makes a node believe its NAT is symmetric.
 */
async function stunServer(shift = 0): Promise<{ address: string; close: () => Promise<void> }> {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    const req = decodeStunMessage(msg);
    const mapped = { address: rinfo.address, port: rinfo.port + shift };
    sock.send(encodeBindingResponse(req.transactionId, mapped), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${sock.address().port}`,
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function node(
  nick: string,
  stun: string[],
  acceptStrangers = true,
): Promise<MultiHolepunchSocket> {
  const sock = await MultiHolepunchSocket.bind({
    host: '127.0.0.1',
    nick,
    stun,
    stunRto: 50,
    acceptStrangers,
  });
  cleanup.push(() => sock.close());
  await expect.poll(() => sock.stunInfo()?.done, { timeout: 3000 }).toBe(true);
  return sock;
}

describe('many-port probing on real sockets', () => {
  it('the symmetric side opens its probing sockets, and closes them all once connected', async () => {
    const s1 = await stunServer();
    const s2 = await stunServer();
    const skewed = await stunServer(1);
    cleanup.push(s1.close, s2.close, skewed.close);
    const carol = await node('carol', [s1.address, skewed.address]);
    const dave = await node('dave', [s1.address, s2.address]);
    expect(carol.stunInfo()?.mapping).toBe('endpoint-dependent');
    expect(dave.stunInfo()?.mapping).toBe('endpoint-independent');
    // The mapping travels in the invite code.
    expect(decodeInvite(carol.invite()).nat).toBe('endpoint-dependent');
    expect(decodeInvite(dave.invite()).nat).toBe('endpoint-independent');
    await carol.addPeers({ dave: dave.invite() });
    expect(carol.probeSocketCount).toBe(PROBE_SOCKETS);
    await dave.addPeers({ carol: carol.invite() });
    // Loopback needs no probing: the first handshake wins and every probing socket closes.
    await carol.waitForPeer('dave', { timeout: 5000 });
    await dave.waitForPeer('carol', { timeout: 5000 });
    await expect.poll(() => carol.probeSocketCount, { timeout: 2000 }).toBe(0);
    expect(dave.probeSocketCount).toBe(0);
  });

  it('probes leave from 256 distinct ports; close() during probing closes them all', async () => {
    const s1 = await stunServer();
    const skewed = await stunServer(1);
    cleanup.push(s1.close, skewed.close);
    const carol = await node('carol', [s1.address, skewed.address]);
    // "dave" is a plain socket that never answers: carol keeps probing.
    const dave = dgram.createSocket('udp4');
    const probesFrom = new Set<number>();
    dave.on('message', (msg, rinfo) => {
      if (msg.length === PROBE_PACKET_SIZE && msg[1] === PacketType.Probe)
        probesFrom.add(rinfo.port);
    });
    await new Promise<void>((r) => dave.bind(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => dave.close(() => r())));
    const code = encodeInvite({
      identity: generateIdentity().publicKey,
      nick: 'dave',
      addrs: [{ address: '127.0.0.1', port: dave.address().port }],
      nat: 'endpoint-independent',
    });
    await carol.addPeers({ dave: code });
    expect(carol.probeSocketCount).toBe(PROBE_SOCKETS);
    await expect.poll(() => probesFrom.size, { timeout: 3000 }).toBe(PROBE_SOCKETS);
    expect(probesFrom.has(carol.localAddress().port)).toBe(false);
    // The socket's stats show it (the chat's Stats pane reads these).
    expect(carol.stats().probing).toMatchObject({
      attemptsStarted: 1,
      attemptsSucceeded: 0,
      socketsOpen: PROBE_SOCKETS,
      spraysSent: 0,
    });
    expect(carol.stats().probing.probesSent).toBeGreaterThanOrEqual(PROBE_SOCKETS);
    await carol.close();
    expect(carol.probeSocketCount).toBe(0);
  });
});
