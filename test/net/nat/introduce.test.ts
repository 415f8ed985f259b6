import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../source/net/core/errors.js';
import {
  decodeControl,
  decodeIntroduction,
  encodeIntroduction,
  encodeNatMapping,
  type Introduction,
} from '../../../source/net/nat/introduce.js';
import { decodeInvite, encodeInvite, isKeyOnly } from '../../../source/net/nat/invite.js';
import { ipScope } from '../../../source/net/nat/targets.js';
import { expectBadPacket } from '../../support/badpacket.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// Golden bytes, recorded from the encoder before the address codec moved to
// wire/ip.ts: the wire format must not change by a single byte.
const CAROL: Introduction = {
  identity: Buffer.alloc(32, 7),
  nick: 'carol',
  addrs: [
    { address: '198.51.100.2', port: 6000 },
    { address: '2001:db8::1', port: 7 },
    { address: 'fe80:0:0:1::2', port: 65535 },
  ],
  nat: 'endpoint-dependent',
};
const CAROL_BYTES = hex(`
  0101 ${'07'.repeat(32)} 05 6361726f6c
  03
  04 c6336402 1770
  06 20010db8000000000000000000000001 0007
  06 fe800000000000010000000000000002 ffff
  02`);
const BOB_INVITE = 'srmudp1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQNib2IBBMsAcQIH0A';

describe('introductions and invite codes on the wire', () => {
  it('encodes an introduction to the recorded bytes and back', () => {
    expect(encodeIntroduction(CAROL).toString('hex')).toBe(CAROL_BYTES.toString('hex'));
    expect(decodeIntroduction(CAROL_BYTES)).toEqual(CAROL);
    expect(decodeControl(CAROL_BYTES)).toEqual({ type: 'introduce', intro: CAROL });
  });

  it('encodes a NAT mapping message and an invite code to the recorded bytes', () => {
    expect(encodeNatMapping('endpoint-independent').toString('hex')).toBe('010201');
    expect(decodeControl(hex('010201'))).toEqual({
      type: 'nat-mapping',
      nat: 'endpoint-independent',
    });
    const bob = {
      identity: Buffer.alloc(32, 1),
      nick: 'bob',
      addrs: [{ address: '203.0.113.2', port: 2000 }],
    };
    expect(encodeInvite(bob)).toBe(BOB_INVITE);
    expect(decodeInvite(BOB_INVITE)).toEqual(bob);
  });

  it('carries relayed candidates after the NAT byte, and still reads codes made before them', () => {
    // Made by main before relayed candidates existed (nat/invite.ts then).
    const OLD_WITH_NAT =
      'srmudp1:AQGrq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urqwVhbGljZQIEywBxAQ-hBAoAAQIPoQE';
    const OLD_V6 =
      'srmudp1:AQGrq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urqwNib2IBBiABDbgAAAAAAAAAAAAAAAEjKA';
    const identity = Buffer.alloc(32, 0xab);
    expect(decodeInvite(OLD_WITH_NAT)).toEqual({
      identity,
      nick: 'alice',
      addrs: [
        { address: '203.0.113.1', port: 4001 },
        { address: '10.0.1.2', port: 4001 },
      ],
      nat: 'endpoint-independent',
    });
    expect(decodeInvite(OLD_V6)).toEqual({
      identity,
      nick: 'bob',
      addrs: [{ address: '2001:db8::1', port: 9000 }],
    });
    const relayed = [{ address: '198.51.100.1', port: 49152 }];
    const carol = { ...CAROL, nat: undefined, relayed };
    const bytes = encodeIntroduction(carol);
    // The old layout, then nat 0 (unknown, written because something follows), then section 1: the relayed list.
    const oldPart = encodeIntroduction({ ...CAROL, nat: undefined });
    expect(bytes.subarray(0, oldPart.length).equals(oldPart)).toBe(true);
    expect(bytes.subarray(oldPart.length).toString('hex')).toBe(
      '00 01 01 04 c6336401 c000'.replace(/ /g, ''),
    );
    const { nat: _nat, ...withoutNat } = carol;
    expect(decodeIntroduction(bytes)).toEqual(withoutNat);
    // With a known NAT and only a relayed address (a node whose UDP goes only to its relay).
    const blocked = {
      identity,
      nick: 'dave',
      addrs: [],
      nat: 'endpoint-dependent' as const,
      relayed,
    };
    expect(decodeInvite(encodeInvite(blocked))).toEqual(blocked);
    // A key-only code (nick and key; discovery finds the addresses) decodes as such.
    const keyOnly = decodeInvite(encodeInvite({ identity, nick: 'eve', addrs: [] }));
    expect(keyOnly).toEqual({ identity, nick: 'eve', addrs: [] });
    expect(isKeyOnly(keyOnly)).toBe(true);
    expect(isKeyOnly(blocked)).toBe(false);
  });

  it('reads an IPv4-mapped IPv6 address as the IPv4 address it is, so its scope is judged as IPv4', () => {
    // family 6, ::ffff:127.0.0.1, port 9: under the hex spelling ::ffff:7f00:1
    // it would pass for a global IPv6 address (nat/targets.ts).
    const bytes = hex(`0101 ${'07'.repeat(32)} 00 01 06 00000000000000000000ffff7f000001 0009`);
    const intro = decodeIntroduction(bytes);
    expect(intro.addrs).toEqual([{ address: '127.0.0.1', port: 9 }]);
    expect(ipScope(intro.addrs[0]!.address)).toBe('loopback');
    // Encoding the mapped spelling keeps the 16 bytes it came with.
    const again = encodeIntroduction({
      ...intro,
      addrs: [{ address: '::ffff:127.0.0.1', port: 9 }],
    });
    expect(again.toString('hex')).toBe(bytes.toString('hex'));
  });

  it('refuses to encode an address that is not an IP literal instead of writing garbage', () => {
    for (const address of ['example.com', '1.2.3', '']) {
      expect(() => encodeIntroduction({ ...CAROL, addrs: [{ address, port: 1 }] })).toThrow(
        UsageError,
      );
    }
    // A zone is local to this host: dropped, not a crash.
    const zoned = encodeIntroduction({ ...CAROL, addrs: [{ address: 'fe80::1%eth0', port: 1 }] });
    expect(decodeIntroduction(zoned).addrs).toEqual([{ address: 'fe80::1', port: 1 }]);
  });

  it('throws BadPacket for an address of an unknown family', () => {
    const bytes = hex(`0101 ${'07'.repeat(32)} 00 01 05 01020304 0009`);
    expectBadPacket(() => decodeIntroduction(bytes), 'protocol');
  });
});
