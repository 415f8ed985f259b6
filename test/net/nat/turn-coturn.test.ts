import { createHmac, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Addr } from '../../../source/net/core/address.js';
import { decodeStunMessage, isStun } from '../../../source/net/nat/stun-codec.js';
import { TurnClient, type TurnEvent } from '../../../source/net/nat/turn.js';
import { TurnMethod } from '../../../source/net/nat/turn-codec.js';
import { Coturn, LOOPBACK, SKIP, WAIT_MS } from '../../support/coturn.js';

/**
 * The TURN client against a real coturn on 127.0.0.1: allocate, permission
 * and channel to a plain UDP socket, data both ways through the relay (Send
 * and Data indications, then ChannelData), the refreshes, and the release.
 * The harness below is a test's: a dgram socket that feeds the sans-I/O
 * client and runs its timers. The client's clock is the real one plus a
 * skew the test may advance, so refreshes due in minutes happen now.
 */

/** A dgram socket driving a TurnClient: deliver, transmit, run timers, collect events. */
class Harness {
  readonly sock = dgram.createSocket('udp4');
  readonly client: TurnClient;
  readonly events: TurnEvent[] = [];
  /** Requests sent, by STUN method. */
  readonly requests = new Map<number, number>();
  skew = 0;
  private timer: NodeJS.Timeout | undefined;
  private waiters: (() => void)[] = [];

  constructor(server: Addr, username: string, password: string) {
    this.client = new TurnClient({ server, username, password, software: 'srmudp-tui test' });
    this.sock.on('message', (msg, rinfo) => {
      this.client.handleDatagram(msg, { address: rinfo.address, port: rinfo.port }, this.now());
      this.flush();
    });
  }

  now(): number {
    return performance.now() + this.skew;
  }

  async bind(): Promise<void> {
    await new Promise<void>((r) => this.sock.bind(0, LOOPBACK, r));
  }

  /** Sends what the client wants sent, collects its events, re-arms its timer. */
  flush(): void {
    for (let t = this.client.pollTransmit(); t; t = this.client.pollTransmit()) {
      this.sock.send(t.data, t.to.port, t.to.address);
      if (isStun(t.data)) {
        const m = decodeStunMessage(t.data);
        if (m.class === 'request')
          this.requests.set(m.method, (this.requests.get(m.method) ?? 0) + 1);
      }
    }
    for (let e = this.client.pollEvent(); e; e = this.client.pollEvent()) {
      // Copy: `data` views the datagram, and the test keeps it.
      this.events.push(e.kind === 'data' ? { ...e, data: Buffer.from(e.data) } : e);
    }
    for (const w of this.waiters.splice(0)) w();
    clearTimeout(this.timer);
    const at = this.client.nextDeadline();
    if (at !== undefined) {
      this.timer = setTimeout(
        () => {
          this.client.handleTimeout(this.now());
          this.flush();
        },
        Math.max(0, at - this.now()),
      );
    }
  }

  /** Advances the client's clock (the server's is untouched) and runs what fell due. */
  advance(ms: number): void {
    this.skew += ms;
    this.client.handleTimeout(this.now());
    this.flush();
  }

  /** The first event from index `from` on that matches. */
  async waitFor(pred: (e: TurnEvent) => boolean, from = 0): Promise<TurnEvent> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const hit = this.events.slice(from).find(pred);
      if (hit) return hit;
      if (Date.now() > deadline) {
        throw new Error(`no such event; got ${JSON.stringify(this.events.map((e) => e.kind))}`);
      }
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }

  async waitUntil(cond: () => boolean): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error('condition never held');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }

  close(): void {
    clearTimeout(this.timer);
    this.sock.close();
  }
}

/** A plain UDP socket standing for the remote peer. */
async function plainPeer(): Promise<{
  sock: dgram.Socket;
  addr: Addr;
  next: () => Promise<{ data: Buffer; from: Addr }>;
}> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, LOOPBACK, r));
  const queue: { data: Buffer; from: Addr }[] = [];
  const waiters: (() => void)[] = [];
  sock.on('message', (data, rinfo) => {
    queue.push({ data, from: { address: rinfo.address, port: rinfo.port } });
    for (const w of waiters.splice(0)) w();
  });
  const next = async () => {
    const deadline = Date.now() + WAIT_MS;
    while (queue.length === 0) {
      if (Date.now() > deadline) throw new Error('the peer received nothing');
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 200);
      });
    }
    return queue.shift()!;
  };
  return { sock, addr: { address: LOOPBACK, port: sock.address().port }, next };
}

const isKind =
  <K extends TurnEvent['kind']>(kind: K) =>
  (e: TurnEvent): e is Extract<TurnEvent, { kind: K }> =>
    e.kind === kind;

describe.skipIf(SKIP)('TurnClient against coturn (long-term credentials)', () => {
  const coturn = new Coturn();
  let server: Addr;
  beforeAll(async () => {
    server = await coturn.start(['--lt-cred-mech', '--user', 'u:p']);
  });
  afterAll(async () => {
    await coturn.stop();
  });

  it('allocates, relays both ways by indication then channel, refreshes and releases', async () => {
    const h = new Harness(server, 'u', 'p');
    const peer = await plainPeer();
    try {
      await h.bind();
      h.client.allocate(h.now());
      h.flush();
      const alloc = await h.waitFor(isKind('allocated'));
      if (alloc.kind !== 'allocated') throw new Error('unreachable');
      expect(alloc.relayed.address).toBe(LOOPBACK);
      expect(alloc.mapped).toEqual({ address: LOOPBACK, port: h.sock.address().port });
      expect(alloc.lifetime).toBeGreaterThan(0);

      // Send indication, after the permission is in.
      h.client.permit(peer.addr, h.now());
      h.flush();
      await h.waitFor(isKind('permission'));
      expect(h.client.send(peer.addr, Buffer.from('by indication'), h.now())).toBe('indication');
      h.flush();
      const got1 = await peer.next();
      expect(got1.data.toString()).toBe('by indication');
      expect(got1.from).toEqual(alloc.relayed);

      // The peer answers the relayed address: a Data indication.
      peer.sock.send('back by data indication', alloc.relayed.port, alloc.relayed.address);
      const back1 = await h.waitFor(isKind('data'));
      expect(back1).toEqual({
        kind: 'data',
        peer: peer.addr,
        data: Buffer.from('back by data indication'),
        channel: undefined,
      });

      // A channel: ChannelData both ways.
      const channel = h.client.bindChannel(peer.addr, h.now());
      h.flush();
      await h.waitFor(isKind('channel'));
      expect(h.client.send(peer.addr, Buffer.from('by channel'), h.now())).toBe('channel');
      h.flush();
      expect((await peer.next()).data.toString()).toBe('by channel');
      const mark = h.events.length;
      peer.sock.send('back by channel', alloc.relayed.port, alloc.relayed.address);
      expect(await h.waitFor(isKind('data'), mark)).toMatchObject({
        data: Buffer.from('back by channel'),
        channel,
      });

      // Eight minutes on the client's clock: allocation, permission and
      // channel refreshes all fall due and coturn accepts each.
      const before = h.events.length;
      const sent = (m: number) => h.requests.get(m) ?? 0;
      const [perms, binds] = [sent(TurnMethod.CreatePermission), sent(TurnMethod.ChannelBind)];
      h.advance(480_000);
      await h.waitFor(isKind('refreshed'), before);
      expect(sent(TurnMethod.CreatePermission)).toBeGreaterThan(perms);
      expect(sent(TurnMethod.ChannelBind)).toBeGreaterThan(binds);
      // Every refresh answered: the next timer is the permissions' next round, minutes away.
      await h.waitUntil(() => (h.client.nextDeadline() ?? 0) > h.now() + 200_000);
      expect(h.client.state).toBe('allocated');
      expect(h.client.send(peer.addr, Buffer.from('after refresh'), h.now())).toBe('channel');
      h.flush();
      expect((await peer.next()).data.toString()).toBe('after refresh');
      expect(h.events.slice(before).filter((e) => e.kind === 'failed')).toEqual([]);

      h.client.close(h.now());
      h.flush();
      await h.waitFor(isKind('closed'));
      expect(h.events.filter((e) => e.kind === 'failed')).toEqual([]);
      expect(h.client.droppedResponses.badIntegrity).toBe(0);
    } finally {
      h.close();
      peer.sock.close();
    }
  });

  it('reports wrong credentials as a 401 failure', async () => {
    const h = new Harness(server, 'u', 'wrong');
    try {
      await h.bind();
      h.client.allocate(h.now());
      h.flush();
      const e = await h.waitFor(isKind('failed'));
      expect(e).toMatchObject({ kind: 'failed', op: 'allocate', code: 401 });
      expect(h.client.state).toBe('failed');
    } finally {
      h.close();
    }
  });
});

/** coturn's REST-API credentials: username "expiry:user", password base64(HMAC-SHA1(secret, username)). */
function timeLimited(secret: string, user: string, expiresAtS: number): [string, string] {
  const username = `${expiresAtS}:${user}`;
  return [username, createHmac('sha1', secret).update(username).digest('base64')];
}

describe.skipIf(SKIP)('TurnClient against coturn (time-limited credentials)', () => {
  const coturn = new Coturn();
  const secret = randomBytes(16).toString('hex');
  let server: Addr;
  beforeAll(async () => {
    server = await coturn.start([
      '--lt-cred-mech',
      '--use-auth-secret',
      '--static-auth-secret',
      secret,
    ]);
  });
  afterAll(async () => {
    await coturn.stop();
  });

  it('allocates and relays with a valid one, and is refused with an expired one', async () => {
    const [user, pass] = timeLimited(secret, 'alice', Math.floor(Date.now() / 1000) + 3600);
    const h = new Harness(server, user, pass);
    const peer = await plainPeer();
    const [oldUser, oldPass] = timeLimited(secret, 'alice', Math.floor(Date.now() / 1000) - 60);
    const old = new Harness(server, oldUser, oldPass);
    try {
      await h.bind();
      h.client.allocate(h.now());
      h.flush();
      const alloc = await h.waitFor(isKind('allocated'));
      if (alloc.kind !== 'allocated') throw new Error('unreachable');
      h.client.bindChannel(peer.addr, h.now());
      h.flush();
      await h.waitFor(isKind('channel'));
      h.client.send(peer.addr, Buffer.from('time-limited'), h.now());
      h.flush();
      expect((await peer.next()).data.toString()).toBe('time-limited');
      h.client.close(h.now());
      h.flush();
      await h.waitFor(isKind('closed'));

      await old.bind();
      old.client.allocate(old.now());
      old.flush();
      expect(await old.waitFor(isKind('failed'))).toMatchObject({ op: 'allocate', code: 401 });
    } finally {
      h.close();
      old.close();
      peer.sock.close();
    }
  });
});
