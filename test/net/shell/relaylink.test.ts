import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Addr } from '../../../source/net/core/address.js';
import { encodeBindingRequest } from '../../../source/net/nat/stun-codec.js';
import { encodeChannelData } from '../../../source/net/nat/turn-codec.js';
import { MAX_QUEUED_BYTES, RelayLinks } from '../../../source/net/shell/relaylink.js';

/**
 * The shell's stream connections to relays (relaylink.ts) against a hand-made
 * TCP "relay" on loopback: frames cut out of any chunking, a hostile length
 * closing the connection with its reason, the queue before connecting bounded.
 */

const LOOPBACK = '127.0.0.1';
const servers: net.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function listen(onConn: (c: net.Socket) => void): Promise<Addr> {
  const srv = net.createServer(onConn);
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, LOOPBACK, r));
  return { address: LOOPBACK, port: (srv.address() as net.AddressInfo).port };
}

function links() {
  const frames: Buffer[] = [];
  const downs: string[] = [];
  const l = new RelayLinks({
    frame: (d) => frames.push(Buffer.from(d)),
    down: (_s, reason) => downs.push(reason),
  });
  return { l, frames, downs };
}

const waitFor = async (check: () => boolean) => {
  // A guard against a hang, not a measure: each wait ends on an I/O event.
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
};

describe('stream connections to relays (shell/relaylink.ts)', () => {
  it('writes ChannelData padded to 4 and hands back whole messages however the relay chunks them', async () => {
    const stun = encodeBindingRequest(randomBytes(12));
    const cd = encodeChannelData(0x4001, Buffer.from('hello')); // 9 bytes: 3 of padding on the stream
    const received: Buffer[] = [];
    const server = await listen((c) => {
      c.on('data', (d) => received.push(d));
      // Both back, one byte per write.
      const bytes = Buffer.concat([stun, cd, Buffer.alloc(3)]);
      let i = 0;
      const next = () => {
        if (i < bytes.length) c.write(bytes.subarray(i, ++i), next);
      };
      next();
    });
    const { l, frames, downs } = links();
    l.configure({ server, host: LOOPBACK, tls: false, pin: undefined });
    l.send({ to: server, data: cd, stream: true });
    await waitFor(() => frames.length === 2 && received.reduce((a, b) => a + b.length, 0) === 12);
    expect(frames[0]!.equals(stun)).toBe(true);
    expect(frames[1]!.equals(cd)).toBe(true);
    expect(Buffer.concat(received).equals(Buffer.concat([cd, Buffer.alloc(3)]))).toBe(true);
    expect(downs).toEqual([]);
    await l.close();
  });

  it('a hostile length closes the connection with its reason; the next transmit opens a new one', async () => {
    let conns = 0;
    let closedByUs = 0;
    const server = await listen((c) => {
      conns++;
      c.on('close', () => closedByUs++);
      c.on('error', () => {});
      c.resume(); // read, so our close reaches its 'close'
      c.write(Buffer.from([0x40, 0x00, 0xff, 0xff])); // ChannelData claiming 65,535 bytes
    });
    const { l, downs } = links();
    l.configure({ server, host: LOOPBACK, tls: false, pin: undefined });
    l.send({ to: server, data: encodeBindingRequest(randomBytes(12)), stream: true });
    await waitFor(() => downs.length === 1 && closedByUs === 1);
    expect(downs[0]).toMatch(/^TCP to 127\.0\.0\.1:\d+: the relay sent a bad frame: .*exceeds/);
    l.send({ to: server, data: encodeBindingRequest(randomBytes(12)), stream: true });
    await waitFor(() => conns === 2 && downs.length === 2);
    await l.close();
  });

  it('bounds what waits for the connection: past MAX_QUEUED_BYTES a transmit is dropped and counted', async () => {
    let got = 0;
    const server = await listen((c) => c.on('data', (d) => (got += d.length)));
    const { l } = links();
    l.configure({ server, host: LOOPBACK, tls: false, pin: undefined });
    const frame = encodeChannelData(0x4000, Buffer.alloc(1020)); // 1,024 bytes, no padding
    const n = MAX_QUEUED_BYTES / 1024 + 50;
    // All before the connection opens (it cannot within this synchronous loop).
    for (let i = 0; i < n; i++) l.send({ to: server, data: frame, stream: true });
    expect(l.dropped).toBe(50);
    await waitFor(() => got === MAX_QUEUED_BYTES);
    await l.close();
  });

  it('close does not wait on a relay that keeps its half of the connection open', async () => {
    let got = 0;
    let conn: net.Socket | undefined;
    const srv = net.createServer({ allowHalfOpen: true }, (c) => {
      conn = c;
      c.on('data', (d) => (got += d.length));
      c.on('error', () => {});
    });
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(0, LOOPBACK, r));
    const server = { address: LOOPBACK, port: (srv.address() as net.AddressInfo).port };
    const { l, downs } = links();
    l.configure({ server, host: LOOPBACK, tls: false, pin: undefined });
    l.send({ to: server, data: encodeBindingRequest(randomBytes(12)), stream: true });
    await waitFor(() => got === 20);
    await l.close(); // resolves: the grace ends in a destroy
    expect(downs).toEqual([]);
    conn?.destroy();
  });

  it('a transmit to a relay never configured is dropped and counted, opening nothing', () => {
    const { l, downs } = links();
    l.send({ to: { address: LOOPBACK, port: 9 }, data: Buffer.alloc(4, 0x40), stream: true });
    expect(l.dropped).toBe(1);
    expect(downs).toEqual([]);
  });
});
