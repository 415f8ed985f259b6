/**
 * Time to first delivered message on a fresh pair of sockets, both in this
 * process: ours (addPeers → Noise handshake → first message seen by the
 * receiver's hook) against raw dgram (one datagram on two fresh sockets).
 */
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { generateIdentity } from '../source/net/crypto/identity.js';
import { MultiHolepunchSocket } from '../source/net/socket.js';

const HOST = '127.0.0.1';

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

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
