import type { Addr } from '../../source/net/core/address.js';
import {
  decodeStunMessage,
  encodeAddressValue,
  encodeStunMessage,
  type IntegrityKey,
  isChannelData,
  isStun,
  StunAttr,
  type StunAttribute,
  type StunMessage,
  verifyMessageIntegrity,
} from '../../source/net/nat/stun-codec.js';
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
} from '../../source/net/nat/turn-codec.js';
import type { FakeNetwork, SimNode } from './fakenet.js';

/**
 * A TURN server (RFC 8656) on the fake network, small but honest about what
 * matters to its clients: long-term credentials (401 challenge, signed
 * answers), one allocation per client 5-tuple on its own relayed port,
 * permissions by peer IP (§9) enforced both ways, channels (§12) and Send /
 * Data indications (§11). No lifetimes expire (tests run minutes, not the
 * 600 s of an allocation), nothing is rate-limited.
 */
export class FakeRelay implements SimNode {
  readonly addr: Addr;
  private readonly out: { to: Addr; data: Buffer }[] = [];
  private readonly allocations = new Map<string, Allocation>();
  private nextPort = 49152;
  readonly realm = 'fake';
  private readonly nonce = 'n0nce';
  /** Datagrams a relayed port refused: no permission for the sender's IP. */
  refused = 0;
  /** Payload bytes relayed each way. */
  relayed = 0;
  /** Allocations released by their client (Refresh with LIFETIME 0, RFC 8656 §8). */
  released = 0;
  /** When set, an authenticated Allocate is refused with this signed error (403, 486...). */
  refuse: { code: number; reason: string } | undefined;
  /** When true, nothing is answered or relayed (a relay that never answers). */
  silent = false;

  constructor(
    private readonly net: FakeNetwork,
    ip: string,
    readonly username = 'user',
    readonly password = 'secret',
  ) {
    this.addr = net.attach(this, { address: ip, port: 3478 });
  }

  handleDatagram(data: Buffer, from: Addr): void {
    if (this.silent) return;
    const alloc = this.allocations.get(key(from));
    if (isChannelData(data)) {
      const { channel, data: payload } = decodeChannelData(data);
      const peer = alloc?.channels.get(channel);
      if (alloc && peer) alloc.port.relay(peer, payload);
      return;
    }
    if (!isStun(data)) return;
    const msg = decodeStunMessage(data);
    if (msg.class === 'indication') {
      const peer = xorAddressOf(msg, TurnAttr.XorPeerAddress);
      const payload = firstAttr(msg, TurnAttr.Data);
      if (alloc && peer && payload && msg.method === TurnMethod.Send)
        alloc.port.relay(peer, payload);
      return;
    }
    if (msg.class === 'request') this.request(data, msg, from);
  }

  handleTimeout(): void {}

  pollTransmit(): { to: Addr; data: Buffer } | undefined {
    return this.out.shift();
  }

  nextDeadline(): number | undefined {
    return undefined;
  }

  /** Every allocation: its client (as the relay sees it), relayed address and permitted IPs. */
  list(): { client: Addr; relayed: Addr; permissions: ReadonlySet<string> }[] {
    return [...this.allocations.values()].map((a) => ({
      client: a.client,
      relayed: a.port.addr,
      permissions: a.permissions,
    }));
  }

  /** A datagram `peer` sent to `alloc`'s relayed address: to the client, if permitted. */
  fromPeer(alloc: Allocation, peer: Addr, data: Buffer): void {
    if (!alloc.permissions.has(peer.address)) {
      this.refused++;
      return;
    }
    this.relayed += data.length;
    const channel = alloc.byPeer.get(key(peer));
    if (channel !== undefined)
      this.out.push({ to: alloc.client, data: encodeChannelData(channel, data) });
    else {
      const id = Buffer.alloc(12, 7);
      this.out.push({
        to: alloc.client,
        data: encodeStunMessage(stunType(TurnMethod.Data, 'indication'), id, [
          xorPeerAttr(peer, id),
          dataAttr(data),
        ]),
      });
    }
    this.net.poke(this.addr);
  }

  private integrity(): IntegrityKey {
    return {
      key: longTermKey(this.username, this.realm, this.password, PasswordAlgorithm.MD5),
      sha256: false,
    };
  }

  private request(raw: Buffer, msg: StunMessage, from: Addr): void {
    const id = msg.transactionId;
    const signed = msg.attributes.some((a) => a.type === StunAttr.MessageIntegrity);
    if (!signed || !verifyMessageIntegrity(raw, msg, this.integrity())) {
      this.reply(from, stunType(msg.method, 'error'), id, [
        errorCode(401, 'Unauthorized'),
        textAttr(StunAttr.Realm, this.realm),
        textAttr(StunAttr.Nonce, this.nonce),
      ]);
      return;
    }
    if (textOf(msg, StunAttr.Nonce) !== this.nonce) return;
    const attrs: StunAttribute[] = [];
    let alloc = this.allocations.get(key(from));
    switch (msg.method) {
      case TurnMethod.Allocate:
        if (this.refuse) {
          const { code, reason } = this.refuse;
          this.reply(from, stunType(msg.method, 'error'), id, [errorCode(code, reason)], true);
          return;
        }
        if (!alloc) {
          const port = new RelayedPort(this.net, this, {
            address: this.addr.address,
            port: this.nextPort++,
          });
          alloc = new Allocation({ ...from }, port);
          port.alloc = alloc;
          this.allocations.set(key(from), alloc);
        }
        attrs.push(
          {
            type: TurnAttr.XorRelayedAddress,
            value: encodeAddressValue(alloc.port.addr, id, true),
          },
          { type: StunAttr.XorMappedAddress, value: encodeAddressValue(from, id, true) },
          lifetimeAttr(lifetimeOf(msg) ?? 600),
        );
        break;
      case TurnMethod.Refresh:
        if (lifetimeOf(msg) === 0) {
          this.released++;
          // §8: the allocation is deleted; its port is gone (a new Allocate gets a new one, as coturn does).
          if (alloc) {
            this.allocations.delete(key(from));
            this.net.detach(alloc.port.addr);
          }
        }
        attrs.push(lifetimeAttr(lifetimeOf(msg) ?? 600));
        break;
      case TurnMethod.CreatePermission: {
        const peer = xorAddressOf(msg, TurnAttr.XorPeerAddress);
        if (alloc && peer) alloc.permissions.add(peer.address);
        break;
      }
      case TurnMethod.ChannelBind: {
        const peer = xorAddressOf(msg, TurnAttr.XorPeerAddress);
        const ch = firstAttr(msg, TurnAttr.ChannelNumber);
        if (alloc && peer && ch) {
          const channel = ch.readUInt16BE(0);
          alloc.permissions.add(peer.address);
          alloc.channels.set(channel, { address: peer.address, port: peer.port });
          alloc.byPeer.set(key(peer), channel);
        }
        break;
      }
    }
    this.reply(from, stunType(msg.method, 'success'), id, attrs, true);
  }

  private reply(to: Addr, type: number, id: Buffer, attrs: StunAttribute[], sign = false): void {
    this.out.push({
      to,
      data: encodeStunMessage(
        type,
        id,
        attrs,
        sign ? { integrity: this.integrity(), fingerprint: true } : {},
      ),
    });
  }
}

class Allocation {
  readonly permissions = new Set<string>();
  readonly channels = new Map<number, Addr>();
  readonly byPeer = new Map<string, number>();
  constructor(
    readonly client: Addr,
    readonly port: RelayedPort,
  ) {}
}

/** One relayed transport address: what peers send there goes to the client, what the client sends leaves from here. */
class RelayedPort implements SimNode {
  readonly addr: Addr;
  alloc!: Allocation;
  private readonly out: { to: Addr; data: Buffer }[] = [];

  constructor(
    private readonly net: FakeNetwork,
    private readonly server: FakeRelay,
    addr: Addr,
  ) {
    this.addr = net.attach(this, addr);
  }

  /** The client's data to `peer` (§9: only to a permitted IP). */
  relay(peer: Addr, data: Buffer): void {
    if (!this.alloc.permissions.has(peer.address)) return;
    this.out.push({ to: { address: peer.address, port: peer.port }, data: Buffer.from(data) });
    this.net.poke(this.addr);
  }

  handleDatagram(data: Buffer, from: Addr): void {
    this.server.fromPeer(this.alloc, from, data);
  }

  handleTimeout(): void {}

  pollTransmit(): { to: Addr; data: Buffer } | undefined {
    return this.out.shift();
  }

  nextDeadline(): number | undefined {
    return undefined;
  }
}

function key(a: Addr): string {
  return `${a.address}:${a.port}`;
}

function errorCode(code: number, reason: string): StunAttribute {
  const text = Buffer.from(reason);
  const value = Buffer.alloc(4 + text.length);
  value[2] = Math.floor(code / 100);
  value[3] = code % 100;
  value.set(text, 4);
  return { type: StunAttr.ErrorCode, value };
}
