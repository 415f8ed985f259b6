import type dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { openSocket, Udp } from '../../../source/net/shell/udp.js';

/** Real UDP on 127.0.0.1 only. */
describe('the UDP layer', () => {
  it('sends every datagram with one shared callback (no closure per datagram) and counts refusals', async () => {
    const received: number[] = [];
    const rx = new Udp(
      await openSocket('127.0.0.1', 0),
      (d) => received.push(d.length),
      () => {},
    );
    const tx = new Udp(
      await openSocket('127.0.0.1', 0),
      () => {},
      () => {},
    );
    const callbacks = new Set<unknown>();
    const send = tx.socket.send.bind(tx.socket) as (...args: unknown[]) => void;
    (tx.socket as unknown as { send: (...args: unknown[]) => void }).send = (...args) => {
      callbacks.add(args[args.length - 1]);
      send(...args);
    };
    const to = rx.localAddress();
    let doneAtOnce = 0;
    for (let i = 0; i < 200; i++) if (tx.send({ to, data: Buffer.alloc(100) })) doneAtOnce++;
    await expect.poll(() => received.length).toBeGreaterThan(0);
    expect(callbacks.size).toBe(1);
    // Loopback takes them at once: the socket keeps none of their memory.
    expect(doneAtOnce).toBe(200);
    // A probing socket that does not exist: counted, not thrown.
    expect(tx.send({ to, data: Buffer.alloc(1), via: 99 })).toBe(false);
    expect(tx.sendErrors).toBe(1);
    await tx.close();
    await rx.close();
  });

  it('a dual-stack socket reaches IPv4 and IPv6 peers in turn (each at the right address)', async () => {
    const tx = new Udp(
      await openSocket(undefined, 0),
      () => {},
      () => {},
    );
    const got: string[] = [];
    let v6: Udp | undefined;
    try {
      v6 = new Udp(
        await openSocket('::1', 0),
        (d) => got.push(`6:${d.toString()}`),
        () => {},
      );
    } catch {
      // No IPv6 loopback here.
    }
    const v4 = new Udp(
      await openSocket('127.0.0.1', 0),
      (d) => got.push(`4:${d.toString()}`),
      () => {},
    );
    const want: string[] = [];
    if (tx.family === 6 && tx.dualStack && v6) {
      // Alternating, and twice in a row: the remembered mapping must follow the destination.
      const order: [Udp, string][] = [
        [v4, '4'],
        [v6, '6'],
        [v6, '6'],
        [v4, '4'],
        [v4, '4'],
        [v6, '6'],
      ];
      for (const [i, [rx, tag]] of order.entries()) {
        tx.send({ to: rx.localAddress(), data: Buffer.from(`m${i}`) });
        want.push(`${tag}:m${i}`);
      }
      await expect.poll(() => got.length).toBe(want.length);
      expect(got.sort()).toEqual(want.sort());
      expect(tx.sendErrors).toBe(0);
    } else console.warn('no dual-stack socket or IPv6 loopback here: not tested');
    await Promise.all([tx.close(), v4.close(), v6?.close()]);
  });

  it('opens and closes probing sockets on request, tagging what they receive', async () => {
    const seen: (number | undefined)[] = [];
    const main = await openSocket('127.0.0.1', 0);
    const udp = new Udp(
      main,
      (_d: Buffer, _r: dgram.RemoteInfo, via?: number) => seen.push(via),
      () => {},
    );
    udp.openProbes([1, 2]);
    expect(udp.probeCount).toBe(2);
    // The probe answers itself through the main socket's address: main receives untagged.
    udp.send({ to: udp.localAddress(), data: Buffer.from('x'), via: 1 });
    await expect.poll(() => seen.length).toBe(1);
    expect(seen[0]).toBeUndefined();
    // What probe 2 receives is tagged with its id.
    const probe = (udp as unknown as { probes: Map<number, dgram.Socket> }).probes.get(2)!;
    await expect.poll(() => probeBound(probe)).toBe(true);
    udp.send({ to: { address: '127.0.0.1', port: probe.address().port }, data: Buffer.from('y') });
    await expect.poll(() => seen.length).toBe(2);
    expect(seen[1]).toBe(2);
    udp.closeProbes([1, 2, 3]);
    expect(udp.probeCount).toBe(0);
    await udp.close();
  });
});

function probeBound(s: dgram.Socket): boolean {
  try {
    return s.address().port > 0;
  } catch {
    return false;
  }
}
