import { describe, expect, it } from 'vitest';
import {
  generateIdentity,
  signDetached,
  verifyDetached,
} from '../../../source/net/crypto/identity.js';
import {
  bep44SignedData,
  DIALS_PER_KEY_PER_MINUTE,
  MAX_DIALED_CANDIDATES,
  RecordPolicy,
  SALT,
  Sequencer,
  type SignedItem,
} from '../../../source/net/discovery/policy.js';
import { type DiscoveryRecord, encodeRecord } from '../../../source/net/discovery/record.js';

const alice = generateIdentity();
const mallory = generateIdentity();
const record: DiscoveryRecord = {
  nick: 'alice',
  nat: 'unknown',
  candidates: [{ kind: 'reflexive', address: '198.51.100.4', port: 4000 }],
};

function item(seq: number, signer = alice, r: DiscoveryRecord = record): SignedItem {
  const v = encodeRecord(r);
  return {
    k: signer.publicKey,
    salt: SALT,
    seq,
    v,
    sig: signDetached(signer, bep44SignedData(SALT, seq, v)),
  };
}

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');

describe('BEP 44 signed data', () => {
  it('matches the BEP 44 test vectors (mutable, and mutable with salt)', () => {
    const k = hex('77ff84905a91936367c01360803104f92432fcd904a43511876df5cdf3e7e548');
    const v = Buffer.from('Hello World!');
    expect(bep44SignedData(undefined, 1, v).toString()).toBe('3:seqi1e1:v12:Hello World!');
    const salted = bep44SignedData(Buffer.from('foobar'), 1, v);
    expect(salted.toString()).toBe('4:salt6:foobar3:seqi1e1:v12:Hello World!');
    const sig1 = hex(`305ac8aeb6c9c151fa120f120ea2cfb923564e11552d06a5d856091e5e853cff
      1260d3f39e4999684aa92eb73ffd136e6f4f3ecbfda0ce53a1608ecd7ae21f01`);
    const sig2 = hex(`6834284b6b24c3204eb2fea824d82f88883a3d95e8b4a21b8c0ded553d17d17d
      df9a8a7104b1258f30bed3787e6cb896fca78c58f8e03b5f18f14951a87d9a08`);
    expect(verifyDetached(k, bep44SignedData(undefined, 1, v), sig1)).toBe(true);
    expect(verifyDetached(k, salted, sig2)).toBe(true);
    expect(verifyDetached(k, salted, sig1)).toBe(false);
  });

  it('writes a millisecond seq as a bencoded integer after the 7-byte salt', () => {
    const v = Buffer.from([1, 0, 1, 0x61, 0]);
    const signed = bep44SignedData(SALT, 1_764_000_000_123, v);
    const expected = Buffer.concat([Buffer.from('4:salt7:srmudp13:seqi1764000000123e1:v5:'), v]);
    expect(signed.equals(expected)).toBe(true);
  });
});

describe('Sequencer', () => {
  it('gives ms since the epoch, strictly increasing within a millisecond and across a clock step back', () => {
    const s = new Sequencer();
    expect(s.next(1_764_000_000_000.7)).toBe(1_764_000_000_000);
    expect(s.next(1_764_000_000_000)).toBe(1_764_000_000_001);
    expect(s.next(1_763_000_000_000)).toBe(1_764_000_000_002);
    expect(s.next(1_765_000_000_000)).toBe(1_765_000_000_000);
  });
});

describe('RecordPolicy.judge', () => {
  it('accepts a record signed by the key asked for, newer than any seen', () => {
    const p = new RecordPolicy();
    const v = p.judge(alice.publicKey, item(100));
    expect(v).toEqual({ ok: true, record, seq: 100, fresh: true });
    // The same seq again is accepted but not fresh (nothing to redial); a higher one is.
    expect(p.judge(alice.publicKey, item(100))).toMatchObject({ ok: true, fresh: false });
    expect(p.judge(alice.publicKey, item(101))).toMatchObject({ ok: true, fresh: true });
    expect(p.accepted).toBe(3);
  });

  it('rejects and counts: forged signature, foreign key, wrong salt, stale seq, oversized, malformed', () => {
    const p = new RecordPolicy();
    p.judge(alice.publicKey, item(500));
    const forged = { ...item(600), sig: Buffer.from(item(600).sig).fill(7, 0, 8) };
    expect(p.judge(alice.publicKey, forged)).toEqual({ ok: false, reason: 'signature' });
    // Mallory signs correctly, but with her own key: not the one asked for.
    expect(p.judge(alice.publicKey, item(700, mallory))).toEqual({
      ok: false,
      reason: 'foreign-key',
    });
    // Alice's key, but a signature made for another seq (a replay with seq bumped).
    const bumped = { ...item(500), seq: 900 };
    expect(p.judge(alice.publicKey, bumped)).toEqual({ ok: false, reason: 'signature' });
    const other = Buffer.from('other');
    const v = encodeRecord(record);
    const salted = {
      ...item(800),
      salt: other,
      sig: signDetached(alice, bep44SignedData(other, 800, v)),
    };
    expect(p.judge(alice.publicKey, salted)).toEqual({ ok: false, reason: 'salt' });
    expect(p.judge(alice.publicKey, item(499))).toEqual({ ok: false, reason: 'stale' });
    const big = Buffer.alloc(1000, 1);
    const huge = {
      ...item(900),
      v: big,
      sig: signDetached(alice, bep44SignedData(SALT, 900, big)),
    };
    expect(p.judge(alice.publicKey, huge)).toEqual({ ok: false, reason: 'oversized' });
    const junk = Buffer.from([1, 9, 9]);
    const bad = {
      ...item(901),
      v: junk,
      sig: signDetached(alice, bep44SignedData(SALT, 901, junk)),
    };
    expect(p.judge(alice.publicKey, bad)).toEqual({ ok: false, reason: 'malformed' });
    expect(p.judge(alice.publicKey, { ...item(902), seq: -1 })).toEqual({
      ok: false,
      reason: 'malformed',
    });
    expect(p.rejected).toMatchObject({
      signature: 2,
      'foreign-key': 1,
      salt: 1,
      stale: 1,
      oversized: 1,
      malformed: 2,
    });
    expect(p.accepted).toBe(1);
    // None of the rejects moved the high-water mark: 500 is still current.
    expect(p.judge(alice.publicKey, item(500))).toMatchObject({ ok: true, fresh: false });
  });
});

describe('RecordPolicy.dialTargets', () => {
  const local = { addresses: ['192.168.1.5'] };
  const many: DiscoveryRecord = {
    nick: 'x',
    nat: 'unknown',
    candidates: [
      { kind: 'host', address: '224.0.0.1', port: 9 }, // multicast: never
      { kind: 'host', address: '10.0.0.9', port: 9 }, // a private range we are not in
      { kind: 'host', address: '127.0.0.1', port: 9 }, // loopback, we are not bound to it
      ...Array.from({ length: 5 }, (_, i) => ({
        kind: 'reflexive' as const,
        address: `198.51.100.${i + 1}`,
        port: 5000,
      })),
    ],
  };

  it('dials only permitted targets, at most MAX_DIALED_CANDIDATES of them', () => {
    const p = new RecordPolicy();
    const t = p.dialTargets(alice.publicKey, many, undefined, local, 0);
    expect(t).toHaveLength(MAX_DIALED_CANDIDATES);
    expect(t.every((a) => a.address.startsWith('198.51.100.'))).toBe(true);
    expect(p.refusedTargets).toBe(8 - MAX_DIALED_CANDIDATES);
    // A LAN host that answered mDNS from 10.0.0.2 vouches for its own range.
    const lan = p.dialTargets(
      mallory.publicKey,
      many,
      { address: '10.0.0.2', port: 5353 },
      local,
      0,
    );
    expect(lan[0]).toEqual({ kind: 'host', address: '10.0.0.9', port: 9 });
  });

  it('bounds re-dials per key and per node: a record cannot make us a packet cannon', () => {
    const p = new RecordPolicy();
    let dials = 0;
    // One key republishing every second for ten minutes.
    for (let s = 0; s < 600; s++)
      if (p.dialTargets(alice.publicKey, many, undefined, local, s * 1000).length) dials++;
    expect(dials).toBeLessThanOrEqual(2 + DIALS_PER_KEY_PER_MINUTE * 10);
    expect(dials).toBeGreaterThanOrEqual(DIALS_PER_KEY_PER_MINUTE * 10);
    // Many keys at once: the node-wide budget holds (a burst of 16, then 60 a minute).
    const q = new RecordPolicy();
    let all = 0;
    for (let i = 0; i < 500; i++) {
      const key = Buffer.alloc(32, 0);
      key.writeUInt32BE(i);
      if (q.dialTargets(key, many, undefined, local, i * 10).length) all++;
    }
    expect(all).toBeLessThanOrEqual(16 + 5);
    expect(q.rejected['rate-limited']).toBe(500 - all);
  });
});
