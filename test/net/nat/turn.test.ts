import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Addr } from '../../../source/net/core/address.js';
import {
  decodeStunMessage,
  encodeAddressValue,
  encodeStunMessage,
  type IntegrityKey,
  StunAttr,
  type StunAttribute,
  type StunMessage,
  verifyMessageIntegrity,
} from '../../../source/net/nat/stun-codec.js';
import { TurnClient, type TurnEvent } from '../../../source/net/nat/turn.js';
import {
  dataAttr,
  decodeChannelData,
  encodeChannelData,
  firstAttr,
  lifetimeAttr,
  lifetimeOf,
  longTermKey,
  PasswordAlgorithm,
  stunType,
  TurnAttr,
  TurnMethod,
  textAttr,
  textOf,
  xorAddressOf,
  xorPeerAttr,
} from '../../../source/net/nat/turn-codec.js';

const SERVER: Addr = { address: '198.18.0.2', port: 3478 };
const RELAYED: Addr = { address: '198.18.0.2', port: 50000 };
const MAPPED: Addr = { address: '198.18.0.21', port: 40000 };
const PEER: Addr = { address: '198.18.0.30', port: 9000 };

function counterIds(): (n: number) => Buffer {
  let next = 0;
  return (n) => {
    const b = Buffer.alloc(n);
    b.writeUInt32BE(++next, n - 4);
    return b;
  };
}

/**
 * A TURN server in a few lines, enough to drive the client: it challenges
 * unsigned requests with 401, answers a stale nonce with 438, checks the
 * signature, and signs its success responses as RFC 8489 §9.2.3 says.
 */
class FakeTurn {
  nonce = 'nonce-1';
  realm = 'test';
  password = 'p';
  lifetime: number | undefined; // grant what is asked when undefined
  sha256 = false;
  /** Answer Allocate with a 3-byte LIFETIME (signed, so only the client's parser can catch it). */
  badLifetime = false;
  /** Leave PASSWORD-ALGORITHMS out of challenges while still verifying with the SHA-256 key (a bid-down). */
  stripAlgorithms = false;
  /** Error to answer the next request of this method with, once. */
  failNext = new Map<number, { code: number; reason: string }>();
  requests: StunMessage[] = [];
  sends: { peer: Addr; data: Buffer }[] = [];
  channelData: { channel: number; data: Buffer }[] = [];

  private key(): IntegrityKey {
    const alg = this.sha256 ? PasswordAlgorithm.SHA256 : PasswordAlgorithm.MD5;
    return { key: longTermKey('u', this.realm, this.password, alg), sha256: this.sha256 };
  }

  answer(data: Buffer): Buffer | undefined {
    if (data[0]! >= 0x40 && data[0]! <= 0x4f) {
      this.channelData.push(decodeChannelData(data));
      return undefined;
    }
    const msg = decodeStunMessage(data);
    if (msg.class === 'indication') {
      const peer = xorAddressOf(msg, TurnAttr.XorPeerAddress)!;
      this.sends.push({ peer, data: Buffer.from(firstAttr(msg, TurnAttr.Data)!) });
      return undefined;
    }
    this.requests.push(msg);
    const id = msg.transactionId;
    const err = (code: number, reason: string, attrs: StunAttribute[] = []) =>
      encodeStunMessage(stunType(msg.method, 'error'), id, [errorCode(code, reason), ...attrs]);
    const challenge = [textAttr(StunAttr.Realm, this.realm), textAttr(StunAttr.Nonce, this.nonce)];
    if (this.sha256 && !this.stripAlgorithms) {
      challenge.push({
        type: TurnAttr.PasswordAlgorithms,
        value: Buffer.from('0002000000010000', 'hex'),
      });
    }
    const signed = msg.attributes.some(
      (a) => a.type === StunAttr.MessageIntegrity || a.type === StunAttr.MessageIntegritySha256,
    );
    if (!signed || !verifyMessageIntegrity(data, msg, this.key())) {
      return err(401, 'Unauthorized', challenge);
    }
    if (textOf(msg, StunAttr.Nonce) !== this.nonce) return err(438, 'Stale Nonce', challenge);
    const fail = this.failNext.get(msg.method);
    if (fail) {
      this.failNext.delete(msg.method);
      return encodeStunMessage(
        stunType(msg.method, 'error'),
        id,
        [errorCode(fail.code, fail.reason)],
        {
          integrity: this.key(),
        },
      );
    }
    const attrs: StunAttribute[] = [];
    if (msg.method === TurnMethod.Allocate) {
      attrs.push(
        { type: TurnAttr.XorRelayedAddress, value: encodeAddressValue(RELAYED, id, true) },
        { type: StunAttr.XorMappedAddress, value: encodeAddressValue(MAPPED, id, true) },
        this.badLifetime
          ? { type: TurnAttr.Lifetime, value: Buffer.alloc(3) }
          : lifetimeAttr(this.lifetime ?? lifetimeOf(msg) ?? 600),
      );
    } else if (msg.method === TurnMethod.Refresh) {
      const asked = lifetimeOf(msg) ?? 600;
      attrs.push(lifetimeAttr(asked === 0 ? 0 : (this.lifetime ?? asked)));
    }
    return encodeStunMessage(stunType(msg.method, 'success'), id, attrs, {
      integrity: this.key(),
      fingerprint: true,
    });
  }

  count(method: number): number {
    return this.requests.filter((r) => r.method === method).length;
  }
}

function errorCode(code: number, reason: string): StunAttribute {
  const text = Buffer.from(reason);
  const value = Buffer.alloc(4 + text.length);
  value[2] = Math.floor(code / 100);
  value[3] = code % 100;
  value.set(text, 4);
  return { type: StunAttr.ErrorCode, value };
}

/** Client and server on a virtual clock; `lose(n)` drops the client's next n datagrams. */
class Rig {
  now = 0;
  readonly server = new FakeTurn();
  readonly client: TurnClient;
  readonly events: TurnEvent[] = [];
  transmissions = 0;
  private drop = 0;
  /** When false, the server never answers. */
  answering = true;

  constructor(password = 'p') {
    this.client = new TurnClient({
      server: SERVER,
      username: 'u',
      password,
      randomBytes: counterIds(),
    });
  }

  lose(n: number): void {
    this.drop = n;
  }

  /** Delivers everything in flight until quiet. */
  pump(): void {
    for (let t = this.client.pollTransmit(); t; t = this.client.pollTransmit()) {
      this.transmissions++;
      expect(t.to).toEqual(SERVER);
      if (this.drop > 0) {
        this.drop--;
        continue;
      }
      if (!this.answering) continue;
      const reply = this.server.answer(t.data);
      if (reply) this.client.handleDatagram(reply, SERVER, this.now);
    }
    for (let e = this.client.pollEvent(); e; e = this.client.pollEvent()) this.events.push(e);
  }

  /** Runs the client's timers up to `until`, pumping at each deadline. */
  runUntil(until: number): void {
    this.pump();
    for (;;) {
      const at = this.client.nextDeadline();
      if (at === undefined || at > until) break;
      this.now = Math.max(this.now, at);
      this.client.handleTimeout(this.now);
      this.pump();
    }
    this.now = until;
  }

  allocate(): void {
    this.client.allocate(this.now);
    this.pump();
    expect(this.client.state).toBe('allocated');
  }

  kinds(): string[] {
    return this.events.map((e) => (e.kind === 'failed' ? `failed:${e.op}:${e.code}` : e.kind));
  }
}

describe('TurnClient: allocation', () => {
  it('answers 401 with USERNAME, REALM, NONCE and MESSAGE-INTEGRITY, and allocates', () => {
    const rig = new Rig();
    rig.allocate();
    expect(rig.transmissions).toBe(2);
    const [first, second] = rig.server.requests;
    expect(first!.attributes.some((a) => a.type === StunAttr.MessageIntegrity)).toBe(false);
    expect(firstAttr(first!, TurnAttr.RequestedTransport)?.[0]).toBe(17);
    expect(textOf(second!, StunAttr.Username)).toBe('u');
    expect(textOf(second!, StunAttr.Realm)).toBe('test');
    expect(textOf(second!, StunAttr.Nonce)).toBe('nonce-1');
    expect(second!.transactionId.equals(first!.transactionId)).toBe(false);
    expect(rig.events).toEqual([
      { kind: 'allocated', relayed: RELAYED, mapped: MAPPED, lifetime: 600 },
    ]);
    expect(rig.client.relayed).toEqual(RELAYED);
    expect(rig.client.sha256).toBe(false);
  });

  it('signs with MESSAGE-INTEGRITY-SHA256 and the SHA-256 key when the 401 lists PASSWORD-ALGORITHMS', () => {
    const rig = new Rig();
    rig.server.sha256 = true;
    rig.allocate();
    const signed = rig.server.requests[1]!;
    expect(signed.attributes.some((a) => a.type === StunAttr.MessageIntegritySha256)).toBe(true);
    expect(firstAttr(signed, TurnAttr.PasswordAlgorithm)?.readUInt16BE(0)).toBe(
      PasswordAlgorithm.SHA256,
    );
    expect(firstAttr(signed, TurnAttr.PasswordAlgorithms)?.toString('hex')).toBe(
      '0002000000010000',
    );
    expect(rig.client.sha256).toBe(true);
  });

  it('refuses a later challenge that drops the PASSWORD-ALGORITHMS of the first (bid-down)', () => {
    const rig = new Rig();
    rig.server.sha256 = true;
    rig.allocate();
    rig.server.nonce = 'nonce-2';
    rig.server.stripAlgorithms = true;
    rig.runUntil(480_000);
    expect(rig.server.count(TurnMethod.Refresh)).toBe(1);
    expect(rig.kinds()).toEqual(['allocated', 'failed:refresh:438']);
    expect(rig.events.at(-1)).toMatchObject({
      reason: expect.stringMatching(/PASSWORD-ALGORITHMS/),
    });
  });

  it('follows 438 Stale Nonce with the new nonce', () => {
    const rig = new Rig();
    rig.allocate();
    rig.server.nonce = 'nonce-2';
    rig.runUntil(480_000);
    // Refresh with the old nonce → 438 → again with the new one.
    expect(rig.server.count(TurnMethod.Refresh)).toBe(2);
    expect(textOf(rig.server.requests.at(-1)!, StunAttr.Nonce)).toBe('nonce-2');
    expect(rig.kinds()).toEqual(['allocated', 'refreshed']);
  });

  it('gives up on a nonce that is stale every time', () => {
    const rig = new Rig();
    rig.allocate();
    const real = rig.server.answer.bind(rig.server);
    rig.server.answer = (d) => {
      rig.server.nonce = `n-${rig.server.requests.length}`;
      return real(d);
    };
    rig.runUntil(480_000);
    expect(rig.server.count(TurnMethod.Refresh)).toBe(4);
    expect(rig.kinds()).toEqual(['allocated', 'failed:refresh:438']);
    expect(rig.client.state).toBe('failed');
  });

  it('reports wrong credentials, a quota and other errors with code and reason', () => {
    const wrong = new Rig('not-p');
    wrong.client.allocate(0);
    wrong.pump();
    expect(wrong.transmissions).toBe(2);
    expect(wrong.client.state).toBe('failed');
    expect(wrong.events[0]).toMatchObject({ kind: 'failed', op: 'allocate', code: 401 });
    expect((wrong.events[0] as { reason: string }).reason).toMatch(/refused our credentials/);

    const quota = new Rig();
    quota.server.failNext.set(TurnMethod.Allocate, {
      code: 486,
      reason: 'Allocation Quota Reached',
    });
    quota.client.allocate(0);
    quota.pump();
    expect(quota.events).toEqual([
      { kind: 'failed', op: 'allocate', code: 486, reason: 'Allocation Quota Reached' },
    ]);
  });

  it('fails, rather than hangs, on a signed Allocate success it cannot read', () => {
    const rig = new Rig();
    rig.server.badLifetime = true;
    rig.client.allocate(0);
    rig.pump();
    expect(rig.client.state).toBe('failed');
    expect(rig.kinds()).toEqual(['failed:allocate:undefined']);
    expect(rig.client.nextDeadline()).toBeUndefined();
  });

  it('retransmits a lost request on RFC 8489 §6.2.1 timers, and times out after Rc sends', () => {
    const rig = new Rig();
    rig.lose(2);
    rig.client.allocate(0);
    rig.pump();
    expect(rig.client.nextDeadline()).toBe(500);
    rig.runUntil(1_499);
    expect(rig.transmissions).toBe(2);
    rig.runUntil(1_500); // 500 + 1000: the third send gets through, then the 401 retry
    expect(rig.transmissions).toBe(4);
    expect(rig.client.state).toBe('allocated');

    const silent = new Rig();
    silent.answering = false;
    silent.client.allocate(0);
    silent.runUntil(39_499);
    expect(silent.client.state).toBe('allocating');
    silent.runUntil(39_500); // 500·(1+2+4+8+16+32) = 31 500, then Rm·RTO = 8 000
    expect(silent.transmissions).toBe(7);
    expect(silent.kinds()).toEqual(['failed:allocate:undefined']);
    expect(silent.client.nextDeadline()).toBeUndefined();
  });

  it('refuses a success response without a valid MESSAGE-INTEGRITY and keeps waiting', () => {
    const rig = new Rig();
    rig.client.allocate(0);
    const request = decodeStunMessage(rig.client.pollTransmit()!.data);
    const forged = encodeStunMessage(
      stunType(TurnMethod.Allocate, 'success'),
      request.transactionId,
      [
        {
          type: TurnAttr.XorRelayedAddress,
          value: encodeAddressValue(PEER, request.transactionId, true),
        },
        lifetimeAttr(600),
      ],
    );
    expect(rig.client.handleDatagram(forged, SERVER, 10)).toBe('ignored');
    expect(rig.client.droppedResponses.badIntegrity).toBe(1);
    expect(rig.client.state).toBe('allocating');
    // The same forgery from elsewhere is not even looked at.
    expect(rig.client.handleDatagram(forged, PEER, 10)).toBe('ignored');
    expect(rig.client.dropped.wrongSource).toBe(1);
    expect(rig.client.pollEvent()).toBeUndefined();
  });
});

describe('TurnClient: refresh, permissions, channels', () => {
  it('refreshes at 80 % of the granted lifetime, and fails at expiry when the server is gone', () => {
    const rig = new Rig();
    rig.server.lifetime = 300;
    rig.allocate();
    expect(rig.client.nextDeadline()).toBe(240_000);
    rig.runUntil(240_000);
    expect(rig.server.count(TurnMethod.Refresh)).toBe(1);
    expect(rig.client.nextDeadline()).toBe(480_000);
    rig.answering = false;
    rig.runUntil(540_000);
    expect(rig.kinds()).toEqual([
      'allocated',
      'refreshed',
      'failed:refresh:undefined',
      'failed:refresh:undefined',
    ]);
    expect(rig.client.state).toBe('failed');
  });

  it('loses the allocation on 437 to a refresh', () => {
    const rig = new Rig();
    rig.allocate();
    rig.server.failNext.set(TurnMethod.Refresh, { code: 437, reason: 'Allocation Mismatch' });
    rig.runUntil(480_000);
    expect(rig.kinds()).toEqual(['allocated', 'failed:refresh:437']);
    expect(rig.client.state).toBe('failed');
    expect(() => rig.client.send(PEER, Buffer.from('x'), rig.now)).toThrow(/state failed/);
  });

  it('keeps permissions (< 300 s) and channels (< 600 s) alive over 20 minutes', () => {
    const rig = new Rig();
    rig.allocate();
    rig.client.permit({ address: '198.18.0.31', port: 1 }, rig.now);
    const channel = rig.client.bindChannel(PEER, rig.now);
    expect(channel).toBe(0x4000);
    expect(rig.client.bindChannel(PEER, rig.now)).toBe(0x4000);
    rig.pump();
    const times = new Map<string, number[]>();
    const real = rig.server.answer.bind(rig.server);
    rig.server.answer = (d) => {
      const m = decodeStunMessage(d);
      const key = `${m.method}:${xorAddressOf(m, TurnAttr.XorPeerAddress)?.address ?? ''}`;
      times.set(key, [...(times.get(key) ?? []), rig.now]);
      return real(d);
    };
    rig.runUntil(1_200_000);
    const gaps = (k: string) => {
      const t = [0, ...(times.get(k) ?? [])];
      return t.slice(1).map((x, i) => x - t[i]!);
    };
    expect(gaps(`${TurnMethod.CreatePermission}:198.18.0.31`)).toEqual([
      240_000, 240_000, 240_000, 240_000, 240_000,
    ]);
    expect(gaps(`${TurnMethod.CreatePermission}:${PEER.address}`)).toEqual([
      240_000, 240_000, 240_000, 240_000, 240_000,
    ]);
    expect(gaps(`${TurnMethod.ChannelBind}:${PEER.address}`)).toEqual([480_000, 480_000]);
    expect(rig.kinds().filter((k) => k !== 'refreshed')).toEqual([
      'allocated',
      'permission',
      'channel',
    ]);
    expect(rig.client.state).toBe('allocated');
  });

  it('sends by Send indication before the channel is bound, by ChannelData after', () => {
    const rig = new Rig();
    rig.allocate();
    expect(rig.client.send(PEER, Buffer.from('one'), rig.now)).toBe('indication');
    rig.pump();
    expect(rig.server.count(TurnMethod.CreatePermission)).toBe(1);
    expect(rig.server.sends).toEqual([{ peer: PEER, data: Buffer.from('one') }]);
    rig.client.bindChannel(PEER, rig.now);
    expect(rig.client.send(PEER, Buffer.from('two'), rig.now)).toBe('indication');
    rig.pump();
    expect(rig.client.send(PEER, Buffer.from('three'), rig.now)).toBe('channel');
    const wire = rig.client.pollTransmit()!.data;
    expect(wire.length).toBe(4 + 5);
    expect(decodeChannelData(wire)).toEqual({ channel: 0x4000, data: Buffer.from('three') });
    // Payload bytes, not headers: what the stats will call "bytes relayed".
    expect(rig.client.relayedBytes).toEqual({ sent: 3 + 3 + 5, received: 0 });
  });

  it('delivers Data indications and ChannelData from permitted peers and bound channels only', () => {
    const rig = new Rig();
    rig.allocate();
    const id = Buffer.alloc(12, 7);
    const indication = (from: Addr, text: string) =>
      encodeStunMessage(stunType(TurnMethod.Data, 'indication'), id, [
        xorPeerAttr(from, id),
        dataAttr(Buffer.from(text)),
      ]);
    expect(rig.client.handleDatagram(indication(PEER, 'early'), SERVER, 0)).toBe('ignored');
    expect(rig.client.dropped.noPermission).toBe(1);
    expect(rig.client.handleDatagram(encodeChannelData(0x4000, Buffer.from('x')), SERVER, 0)).toBe(
      'ignored',
    );
    expect(rig.client.dropped.unknownChannel).toBe(1);
    rig.client.bindChannel(PEER, rig.now);
    // Asked for but not yet confirmed: the server may not relay on it (§12.2).
    expect(rig.client.handleDatagram(encodeChannelData(0x4000, Buffer.from('x')), SERVER, 0)).toBe(
      'ignored',
    );
    rig.pump();
    rig.events.length = 0;
    expect(rig.client.handleDatagram(indication(PEER, 'hi'), SERVER, 0)).toBe('handled');
    expect(rig.client.handleDatagram(encodeChannelData(0x4000, Buffer.from('yo')), SERVER, 0)).toBe(
      'handled',
    );
    expect(rig.client.handleDatagram(encodeChannelData(0x4001, Buffer.from('no')), SERVER, 0)).toBe(
      'ignored',
    );
    expect(
      rig.client.handleDatagram(
        indication({ address: '198.18.0.99', port: 1 }, 'forged'),
        SERVER,
        0,
      ),
    ).toBe('ignored');
    rig.pump();
    expect(rig.events).toEqual([
      { kind: 'data', peer: PEER, data: Buffer.from('hi'), channel: undefined },
      { kind: 'data', peer: PEER, data: Buffer.from('yo'), channel: 0x4000 },
    ]);
    expect(rig.client.dropped).toMatchObject({ unknownChannel: 3, noPermission: 2 });
    expect(rig.client.relayedBytes).toEqual({ sent: 0, received: 4 });
  });

  it('reports a refused permission and forgets it', () => {
    const rig = new Rig();
    rig.allocate();
    rig.server.failNext.set(TurnMethod.CreatePermission, { code: 403, reason: 'Forbidden IP' });
    rig.client.permit(PEER, rig.now);
    rig.pump();
    expect(rig.events.at(-1)).toEqual({
      kind: 'failed',
      op: 'permission',
      code: 403,
      reason: 'Forbidden IP',
      peer: { address: PEER.address, port: 0 },
    });
    expect(rig.client.nextDeadline()).toBe(480_000); // only the allocation's refresh is left
  });

  it('closes with a Refresh of LIFETIME 0', () => {
    const rig = new Rig();
    rig.allocate();
    rig.client.close(rig.now);
    expect(rig.client.state).toBe('closing');
    rig.pump();
    const last = rig.server.requests.at(-1)!;
    expect(last.method).toBe(TurnMethod.Refresh);
    expect(lifetimeOf(last)).toBe(0);
    expect(rig.kinds()).toEqual(['allocated', 'closed']);
    expect(rig.client.nextDeadline()).toBeUndefined();
  });

  it('never throws on hostile datagrams from the server, and counts them', () => {
    const rig = new Rig();
    rig.allocate();
    rig.client.bindChannel(PEER, rig.now);
    rig.pump();
    let handledOrIgnored = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 80 }),
          fc
            .uint8Array({ minLength: 16, maxLength: 60 })
            .map((b) =>
              Buffer.concat([
                Buffer.from('0017', 'hex'),
                Buffer.from([0, b.length & ~3]),
                Buffer.from('2112a442', 'hex'),
                Buffer.from(b),
              ]),
            ),
          fc
            .uint8Array({ maxLength: 40 })
            .map((b) => Buffer.concat([Buffer.from([0x40, 0x00]), Buffer.from(b)])),
        ),
        (bytes) => {
          const r = rig.client.handleDatagram(bytes, SERVER, rig.now);
          if (r === 'handled' || r === 'ignored') handledOrIgnored++;
        },
      ),
    );
    expect(handledOrIgnored).toBe(100);
    expect(rig.client.dropped.malformed).toBeGreaterThan(0);
    expect(rig.client.state).toBe('allocated');
  });
});
