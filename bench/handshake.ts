/**
 * Time to first delivered message on a fresh pair of sockets, both in this
 * process: ours (addPeers → Noise handshake → first message seen by the
 * receiver's hook) against raw dgram (one datagram on two fresh sockets),
 * @hyperswarm/secret-stream over udx-native (connect → Noise XX → first
 * byte delivered) and node:tls 1.3 over TCP (tls.connect → full handshake →
 * first byte at the server). Long-term keys and certificates are made up
 * front for all of them; sockets are bound (or the server listening) before
 * the clock starts.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import SecretStream from '@hyperswarm/secret-stream';
import UDX from 'udx-native';
import { generateIdentity } from '../source/net/crypto/identity.js';
import { MultiHolepunchSocket } from '../source/net/shell/socket.js';
import { within } from './stats.js';
import type { TlsPem } from './tlscert.js';

const HOST = '127.0.0.1';

/** ms from `addPeers` on the dialer to the first message delivered at the listener. */
export async function oursFirstMessage(timeoutMs: number): Promise<number> {
  // Identities are made up front so key generation is not part of the figure.
  const [idA, idB] = [generateIdentity(), generateIdentity()];
  const a = await MultiHolepunchSocket.bind({ host: HOST, nick: 'dialer', identity: idA });
  let b: MultiHolepunchSocket | undefined;
  try {
    b = await MultiHolepunchSocket.bind({ host: HOST, nick: 'listener', identity: idB });
    const listener = b;
    const delivered = new Promise<number>((resolve) => {
      listener.addHook(() => resolve(performance.now()));
    });
    const t0 = performance.now();
    await a.addPeers({ listener: `${HOST}:${listener.localAddress().port}` });
    const sent = a.send('hello', { recipient: 'listener', timeout: timeoutMs });
    sent.catch(() => {}); // the race below reports a failure
    const t1 = await within(delivered, timeoutMs, 'first message');
    await sent;
    return t1 - t0;
  } finally {
    await Promise.all([a.close(), b?.close()]);
  }
}

async function openDgram(): Promise<dgram.Socket> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, HOST, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  return sock;
}

/** ms from send to delivery of one datagram between two fresh sockets. */
export async function rawFirstDatagram(timeoutMs: number): Promise<number> {
  const a = await openDgram();
  const b = await openDgram();
  try {
    const delivered = new Promise<number>((resolve) => {
      b.once('message', () => resolve(performance.now()));
    });
    const t0 = performance.now();
    a.send('hello', b.address().port, HOST);
    const t1 = await within(delivered, timeoutMs, 'first datagram');
    return t1 - t0;
  } finally {
    await Promise.all([
      new Promise<void>((r) => a.close(() => r())),
      new Promise<void>((r) => b.close(() => r())),
    ]);
  }
}

let udx: UDX | undefined;
let nextStreamId = 1;

/** ms from connecting two fresh udx streams (secret-stream on both) to the first byte delivered. */
export async function secretFirstByte(timeoutMs: number): Promise<number> {
  udx ??= new UDX();
  const u = udx;
  const [keyA, keyB] = [SecretStream.keyPair(), SecretStream.keyPair()];
  const sa = u.createSocket();
  const sb = u.createSocket();
  const streams: { destroy(): void; readonly destroyed: boolean }[] = [];
  try {
    sa.bind(0, HOST);
    sb.bind(0, HOST);
    const portA = sa.address()?.port ?? 0;
    const portB = sb.address()?.port ?? 0;
    const t0 = performance.now();
    const ra = u.createStream(nextStreamId++, { framed: true });
    const rb = u.createStream(nextStreamId++, { framed: true });
    streams.push(ra, rb);
    for (const r of [ra, rb]) r.on('error', () => {});
    ra.connect(sa, rb.id, portB, HOST);
    rb.connect(sb, ra.id, portA, HOST);
    const a = new SecretStream(true, ra, { keyPair: keyA });
    const b = new SecretStream(false, rb, { keyPair: keyB });
    streams.push(a, b);
    for (const s of [a, b]) s.on('error', () => {});
    const delivered = new Promise<number>((resolve, reject) => {
      b.once('data', () => resolve(performance.now()));
      for (const s of [a, b]) s.once('error', reject);
    });
    a.write(Buffer.from('hello'));
    const t1 = await within(delivered, timeoutMs, 'secret-stream first byte');
    return t1 - t0;
  } finally {
    for (const s of streams.reverse()) if (!s.destroyed) s.destroy();
    await Promise.all([
      within(sa.close(), 2000, 'udx socket close'),
      within(sb.close(), 2000, 'udx socket close'),
    ]);
  }
}

/** The client side's trust in the throwaway certificate, made once (not part of the figure). */
export function tlsClientContext(pem: TlsPem): tls.SecureContext {
  return tls.createSecureContext({ ca: pem.cert, minVersion: 'TLSv1.3' });
}

/** ms from tls.connect (full TLS 1.3 handshake, no resumption) to the first byte at the server. */
export async function tlsFirstByte(
  pem: TlsPem,
  client: tls.SecureContext,
  timeoutMs: number,
): Promise<number> {
  const server = tls.createServer({
    key: pem.key,
    cert: pem.cert,
    minVersion: 'TLSv1.3',
    noDelay: true,
  });
  const sockets: tls.TLSSocket[] = [];
  server.on('tlsClientError', () => {});
  try {
    server.listen(0, HOST);
    await once(server, 'listening');
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('tls server has no port');
    let fail: (err: Error) => void = () => {};
    const delivered = new Promise<number>((resolve, reject) => {
      fail = reject;
      server.once('secureConnection', (s: tls.TLSSocket) => {
        sockets.push(s);
        s.on('error', () => {});
        s.once('data', () => resolve(performance.now()));
      });
      server.once('tlsClientError', reject);
    });
    const t0 = performance.now();
    const c = tls.connect({ host: HOST, port: addr.port, secureContext: client });
    sockets.push(c);
    c.setNoDelay(true);
    c.on('error', (err) => fail(err));
    c.write('hello');
    const t1 = await within(delivered, timeoutMs, 'tls first byte');
    return t1 - t0;
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
