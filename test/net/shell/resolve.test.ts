import { networkInterfaces } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ipScope } from '../../../source/net/nat/targets.js';
import {
  hostAddresses,
  localCandidates,
  resolveHostPort,
} from '../../../source/net/shell/resolve.js';

describe('names and local addresses', () => {
  it('takes a literal as is, without DNS, normalising an IPv4-mapped one', async () => {
    const v4 = { family: 4, dualStack: false } as const;
    expect(await resolveHostPort('127.0.0.1:9', v4)).toEqual([{ address: '127.0.0.1', port: 9 }]);
    expect(await resolveHostPort('[::ffff:127.0.0.1]:9', { family: 6, dualStack: true })).toEqual([
      { address: '127.0.0.1', port: 9 },
    ]);
  });

  it('looks a name up (localhost: /etc/hosts, no network) for the families the socket reaches only', async () => {
    const v4 = await resolveHostPort('localhost:7', { family: 4, dualStack: false });
    expect(v4.length).toBeGreaterThan(0);
    for (const a of v4) expect(a).toEqual({ address: expect.stringMatching(/^127\./), port: 7 });
  });

  it('offers at most 4 interface addresses, loopback last, no IPv6 link-local', () => {
    const list = localCandidates(4000, true);
    expect(list.length).toBeGreaterThan(0);
    expect(list.length).toBeLessThanOrEqual(4);
    const scopes = list.map((a) => ipScope(a.address));
    const firstLoopback = scopes.indexOf('loopback');
    if (firstLoopback >= 0)
      expect(scopes.slice(firstLoopback).every((s) => s === 'loopback')).toBe(true);
    for (const a of list) {
      expect(a.port).toBe(4000);
      expect(a.address.startsWith('fe80')).toBe(false);
    }
    // IPv4-only when the socket cannot reach IPv6.
    for (const a of localCandidates(4000, false)) expect(a.address).not.toContain(':');
  });

  it('names the bound address, or every non-internal interface for a wildcard', () => {
    expect(hostAddresses('127.0.0.1')).toEqual(['127.0.0.1']);
    const external = Object.values(networkInterfaces())
      .flatMap((l) => l ?? [])
      .filter((i) => !i.internal);
    expect(hostAddresses('0.0.0.0')).toHaveLength(external.length);
    expect(hostAddresses('::')).not.toContain('127.0.0.1');
  });
});
