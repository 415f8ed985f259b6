import dnsPacket from 'dns-packet';
import { describe, expect, it } from 'vitest';
import type { Addr } from '../../../source/net/core/address.js';
import {
  fingerprint,
  generateIdentity,
  type Identity,
  signDetached,
} from '../../../source/net/crypto/identity.js';
import {
  instanceName,
  type LanItem,
  lanAnswers,
  lanIpv4,
  MdnsDiscovery,
  parseLanTxt,
  SERVICE,
} from '../../../source/net/discovery/mdns.js';
import { bep44SignedData, RecordPolicy, SALT } from '../../../source/net/discovery/policy.js';
import { type DiscoveryRecord, encodeRecord } from '../../../source/net/discovery/record.js';
import { expectBadPacket } from '../../support/badpacket.js';
import { FakeLan } from './fakelan.js';

const record: DiscoveryRecord = {
  nick: 'bob',
  nat: 'unknown',
  candidates: [{ kind: 'host', address: '192.168.7.2', port: 41000 }],
};

function lanItem(id: Identity, seq = 1000, r = record): LanItem {
  const v = encodeRecord(r);
  return {
    key: id.publicKey,
    v,
    seq,
    sig: signDetached(id, bep44SignedData(SALT, seq, v)),
    port: 41000,
    ipv4: ['192.168.7.2'],
  };
}

function node(lan: FakeLan, address: string, now = { t: 0 }) {
  const policy = new RecordPolicy();
  const found: { key: Buffer; record: DiscoveryRecord; via: Addr; seq: number }[] = [];
  const transport = lan.join(address);
  const mdns = new MdnsDiscovery(
    transport,
    policy,
    (key, v, via) => found.push({ key, record: v.record, via, seq: v.seq }),
    () => now.t,
  );
  return { mdns, policy, found, transport };
}

describe('mDNS discovery (over an in-memory LAN: nothing multicasts on real interfaces)', () => {
  it('finds a wanted key: browse (PTR query) → announce (PTR + SRV/TXT/A) → accepted record', () => {
    const lan = new FakeLan();
    const bob = generateIdentity();
    const b = node(lan, '192.168.7.2');
    const a = node(lan, '192.168.7.3');
    b.mdns.announce(lanItem(bob));
    expect(a.found).toHaveLength(0); // the announcement came before Alice wanted Bob: ignored
    expect(a.mdns.stats.ignored).toBe(1);
    a.mdns.want(bob.publicKey);
    expect(a.found).toHaveLength(1);
    expect(a.found[0]).toMatchObject({
      record,
      seq: 1000,
      via: { address: '192.168.7.2', port: 5353 },
    });
    expect(a.found[0]!.key.equals(bob.publicKey)).toBe(true);
    // What went on the wire is real DNS-SD and survives dns-packet's encoder.
    const answer = b.transport.sent.at(-1)!.packet as Parameters<typeof dnsPacket.encode>[0];
    const decoded = dnsPacket.decode(dnsPacket.encode({ type: 'response', ...answer }));
    expect(decoded.answers?.[0]).toMatchObject({
      type: 'PTR',
      name: SERVICE,
      data: instanceName(bob.publicKey),
    });
    const txt = decoded.additionals?.find((r) => r.type === 'TXT');
    expect(parseLanTxt(txt && 'data' in txt ? txt.data : undefined).key.equals(bob.publicKey)).toBe(
      true,
    );
  });

  it('rejects a LAN impostor claiming a wanted fingerprint it cannot sign for, and a stale replay', () => {
    const lan = new FakeLan();
    const bob = generateIdentity();
    const mallory = generateIdentity();
    const a = node(lan, '192.168.7.3');
    const m = node(lan, '192.168.7.66');
    a.mdns.want(bob.publicKey);
    // Mallory announces Bob's fingerprint with her own signature.
    const forged = { ...lanItem(mallory), key: bob.publicKey };
    m.mdns.announce(forged);
    expect(a.found).toHaveLength(0);
    expect(a.policy.rejected.signature).toBe(1);
    // Bob's real record (seq 2000) is accepted; his older one (seq 1000), replayed, is not.
    const b = node(lan, '192.168.7.2');
    b.mdns.announce(lanItem(bob, 2000));
    m.mdns.announce(lanItem(bob, 1000));
    expect(a.found.map((f) => f.seq)).toEqual([2000]);
    expect(a.policy.rejected.stale).toBe(1);
  });

  it('answers queries at most once a second after a burst of two', () => {
    const lan = new FakeLan();
    const clock = { t: 0 };
    const b = node(lan, '192.168.7.2', clock);
    b.mdns.announce(lanItem(generateIdentity()));
    const q = node(lan, '192.168.7.9');
    for (let i = 0; i < 100; i++) q.mdns.browse(); // 100 queries within the same instant
    const responses = b.transport.sent.filter((s) => s.kind === 'response').length;
    expect(responses).toBe(1 + 2); // the announcement, then the burst
    expect(b.mdns.stats.throttled).toBe(98);
    clock.t = 10_000;
    q.mdns.browse();
    expect(b.transport.sent.filter((s) => s.kind === 'response').length).toBe(4);
  });

  it('counts hostile TXT records and keeps going', () => {
    const lan = new FakeLan();
    const bob = generateIdentity();
    const a = node(lan, '192.168.7.3');
    a.mdns.want(bob.publicKey);
    const evil = lan.join('192.168.7.66');
    const name = instanceName(bob.publicKey);
    const bad: unknown[] = [
      [Buffer.from('v=2')],
      [Buffer.from('v=1'), Buffer.from(`fp=${fingerprint(bob.publicKey)}`)],
      [
        Buffer.from('v=1'),
        Buffer.from('fp=nope'),
        Buffer.from('q=1'),
        Buffer.from('r=x'),
        Buffer.from('s=y'),
      ],
      [
        Buffer.from('v=1'),
        Buffer.from(`fp=${fingerprint(bob.publicKey)}`),
        Buffer.from('q=-1'),
        Buffer.from('r=x'),
        Buffer.from('s=y'),
      ],
      42,
    ];
    for (const data of bad) evil.respond({ answers: [{ name, type: 'TXT', data } as never] });
    // A TXT under another fingerprint's instance name than its fp= field.
    const other = lanAnswers(lanItem(generateIdentity()))[2]!;
    evil.respond({ answers: [{ ...other, name } as never] });
    expect(a.mdns.stats.malformed).toBe(bad.length + 1);
    expect(a.found).toHaveLength(0);
    const b = node(lan, '192.168.7.2');
    b.mdns.announce(lanItem(bob));
    expect(a.found).toHaveLength(1);
  });

  it('names LAN addresses only in A records (no loopback, no IPv6)', () => {
    const addrs = [
      { address: '192.168.7.2', port: 1 },
      { address: '127.0.0.1', port: 1 },
      { address: 'fd00::2', port: 1 },
      { address: '10.0.0.5', port: 1 },
    ];
    expect(lanIpv4(addrs)).toEqual(['192.168.7.2', '10.0.0.5']);
  });

  it('parseLanTxt: first of a repeated key wins, keys are case-insensitive', () => {
    const bob = generateIdentity();
    const [, , txt] = lanAnswers(lanItem(bob));
    const strings = (txt as { data: Buffer[] }).data;
    const upper = strings.map((s) =>
      Buffer.concat([
        Buffer.from(s.subarray(0, s.indexOf(61)).toString().toUpperCase()),
        s.subarray(s.indexOf(61)),
      ]),
    );
    expect(parseLanTxt([...upper, Buffer.from('q=5')]).seq).toBe(1000);
    expectBadPacket(() => parseLanTxt([Buffer.from('novalue')]), 'version');
  });
});
