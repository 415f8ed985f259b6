import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../../source/net/core/errors.js';
import { type PeerAddress, parsePeerEntry } from '../../../../source/net/core/peers/entry.js';
import { fingerprint } from '../../../../source/net/crypto/identity.js';
import { encodeInvite } from '../../../../source/net/nat/invite.js';

/**
 * What `addPeers` accepts for one peer (entry.ts), checked before anything is
 * added: the parsed entry exactly (what gets resolved, dialed and pinned), and
 * for every mistake a UsageError whose words tell the user what to fix.
 */

const KEY_A = Buffer.alloc(32, 1);
const KEY_B = Buffer.alloc(32, 2);
const FP_A = fingerprint(KEY_A);
const FP_B = fingerprint(KEY_B);
const A1 = { address: '203.0.113.1', port: 4001 };
const A2 = { address: '198.51.100.2', port: 4002 };
const RELAYED = { address: '198.18.0.2', port: 49152 };

const invite = (identity: Buffer, addrs = [A1], relayed?: (typeof A1)[]): string =>
  encodeInvite({
    identity,
    nick: 'bob',
    addrs,
    nat: 'endpoint-independent',
    ...(relayed ? { relayed } : {}),
  });

const empty = {
  nick: 'bob',
  hosts: [],
  invited: [],
  relayed: [],
  key: undefined,
  nat: undefined,
  byKey: false,
};

/** The UsageError's message for an entry (fails the test if it does not throw one). */
function refusal(value: PeerAddress, opts?: { discovery?: boolean }, nick = 'bob'): string {
  try {
    parsePeerEntry(nick, value, opts);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('accepted');
}

describe('parsePeerEntry', () => {
  it('a host:port is resolved later, with no key and not by key', () => {
    expect(parsePeerEntry('bob', 'example.org:4000')).toEqual({
      ...empty,
      hosts: ['example.org:4000'],
    });
    expect(parsePeerEntry('bob', { address: '127.0.0.1:5' })).toEqual({
      ...empty,
      hosts: ['127.0.0.1:5'],
    });
  });

  it('several addresses, hosts and invite codes mixed, each in its place', () => {
    const e = parsePeerEntry('bob', {
      address: ['127.0.0.1:5', invite(KEY_A, [A1, A2], [RELAYED]), '[::1]:6'],
    });
    expect(e).toEqual({
      ...empty,
      hosts: ['127.0.0.1:5', '[::1]:6'],
      invited: [A1, A2],
      relayed: [RELAYED],
      key: KEY_A,
      nat: 'endpoint-independent',
    });
  });

  it('an invite code carries its key, addresses and NAT hint; with its fingerprint too, they agree', () => {
    const code = invite(KEY_A);
    const expected = { ...empty, invited: [A1], key: KEY_A, nat: 'endpoint-independent' };
    expect(parsePeerEntry('bob', code)).toEqual(expected);
    expect(parsePeerEntry('bob', { address: code, fingerprint: FP_A })).toEqual(expected);
    // Two codes for the same key add up; no relayed list is an empty one.
    expect(parsePeerEntry('bob', { address: [code, invite(KEY_A, [A2])] })).toEqual({
      ...expected,
      invited: [A1, A2],
    });
  });

  it('an invite code that lists only a relayed address is not key-only', () => {
    const e = parsePeerEntry('bob', invite(KEY_A, [], [RELAYED]));
    expect(e).toEqual({
      ...empty,
      relayed: [RELAYED],
      key: KEY_A,
      nat: 'endpoint-independent',
    });
  });

  it('a fingerprint with an address: the key the answer must prove', () => {
    const e = parsePeerEntry('bob', { address: '127.0.0.1:5', fingerprint: FP_A });
    expect(e).toEqual({ ...empty, hosts: ['127.0.0.1:5'], key: KEY_A });
  });

  it('a bare fingerprint, plain or grouped with spaces or dashes, is a key found by discovery', () => {
    const byKey = { ...empty, key: KEY_A, byKey: true };
    expect(parsePeerEntry('bob', FP_A, { discovery: true })).toEqual(byKey);
    const spaced = FP_A.replace(/(.{4})/g, '$1 ').trim();
    expect(parsePeerEntry('bob', spaced, { discovery: true })).toEqual(byKey);
    const dashed = FP_A.toUpperCase().replace(/(.{4})/g, '$1-');
    expect(parsePeerEntry('bob', dashed, { discovery: true })).toEqual(byKey);
    expect(parsePeerEntry('bob', { fingerprint: FP_A }, { discovery: true })).toEqual(byKey);
    expect(parsePeerEntry('bob', invite(KEY_A, []), { discovery: true })).toEqual({
      ...byKey,
      nat: 'endpoint-independent',
    });
  });

  it('text that only resembles a fingerprint is an address, refused as one', () => {
    // 51 or 53 characters, a character outside base32, or a colon anywhere.
    for (const text of [FP_A.slice(1), `${FP_A}a`, `${FP_A.slice(1)}1`, `${FP_A.slice(1)}:`]) {
      expect(refusal(text, { discovery: true })).toMatch(/^bad address /);
    }
    // Inside a longer text a fingerprint is not one (the pattern is anchored).
    expect(refusal(`x${FP_A}`, { discovery: true })).toMatch(/^bad address /);
    expect(refusal(`${FP_A}x`, { discovery: true })).toMatch(/^bad address /);
  });

  it('a key alone needs discovery, and the message says which kind of key it was', () => {
    expect(refusal(FP_A)).toBe(
      'bob: a key alone (a fingerprint or a key-only invite code) needs discovery (bind with dht or mdns on), or give an address or an invite code with addresses',
    );
    expect(refusal({ fingerprint: FP_A }, {})).toMatch(/^bob: a key alone/);
    expect(refusal(invite(KEY_A, []), { discovery: false })).toMatch(/^bob: a key alone/);
  });

  it('nothing to reach: no address given', () => {
    expect(refusal({})).toBe('bob: no address given');
    expect(refusal({ address: [] }, { discovery: true })).toBe('bob: no address given');
  });

  it('keys that disagree are refused, naming both fingerprints', () => {
    expect(refusal({ address: [invite(KEY_A), invite(KEY_B)] })).toBe(
      'bob: two invite codes with different keys',
    );
    expect(refusal({ address: invite(KEY_A), fingerprint: FP_B })).toBe(
      `bob: the invite code carries key ${FP_A}, but the fingerprint given is ${FP_B}`,
    );
  });

  it('the wrong shapes are UsageErrors that say what is expected', () => {
    expect(refusal(42 as unknown as PeerAddress)).toBe(
      'bob: give an address, an invite code or { address, fingerprint }',
    );
    expect(refusal(null as unknown as PeerAddress)).toBe(
      'bob: give an address, an invite code or { address, fingerprint }',
    );
    expect(refusal({ address: [7 as unknown as string] })).toBe('bob: an address must be a string');
    expect(refusal({ address: 'nohost' })).toMatch(/^bad address "nohost"/);
    expect(refusal({ address: '127.0.0.1:5', fingerprint: 'short' })).toMatch(/fingerprint/);
    expect(refusal('127.0.0.1:5', {}, 'no spaces allowed')).toMatch(/^bad nickname/);
  });
});
