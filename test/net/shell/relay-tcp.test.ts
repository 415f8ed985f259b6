import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Addr } from '../../../source/net/core/address.js';
import { decodeInvite, encodeInvite } from '../../../source/net/nat/invite.js';
import type { RelayOption } from '../../../source/net/shell/relayuri.js';
import { MultiHolepunchSocket } from '../../../source/net/shell/socket.js';
import {
  Coturn,
  freeTcpPort,
  LOOPBACK,
  SKIP,
  selfSignedCert,
  WAIT_MS,
} from '../../support/coturn.js';

/**
 * TURN over TCP and TLS to a real coturn on loopback (RFC 8656 §12.5, issue
 * 17 item 2): two sockets talk through stream allocations, a pinned
 * self-signed certificate is taken and an unpinned or mismatched one refused
 * with its reason, a refused port says so, and a `turn:` relay whose UDP is
 * a black hole is reached over TCP on the same port.
 */

/** Resolves when `check` holds; a guard against a hang, not a measure. */
function until(check: () => boolean, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + WAIT_MS;
    const tick = () => {
      if (check()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 20);
    };
    tick();
  });
}

const settled = (s: MultiHolepunchSocket) => {
  const st = s.stats().relay?.state;
  return st === 'allocated' || st === 'failed';
};

/** Bob, given only alice's relayed address, connects; a message goes through. */
async function talkThroughRelay(alice: MultiHolepunchSocket, bob: MultiHolepunchSocket) {
  const invite = decodeInvite(alice.invite());
  expect(invite.relayed).toHaveLength(1);
  await bob.addPeers({ alice: encodeInvite({ ...invite, addrs: [] }) });
  const info = await bob.waitForPeer('alice', { timeout: WAIT_MS });
  expect(info.stats.path).toBe('relay');
  const got = new Promise<string>((r) => alice.once('message', (m) => r(m.content.toString())));
  await bob.send('over a stream to the relay', { recipient: 'alice' });
  expect(await got).toBe('over a stream to the relay');
}

describe.skipIf(SKIP)('TURN over TCP and TLS with a real coturn', () => {
  const coturn = new Coturn();
  let server: Addr;
  let fingerprint = '';
  const open: MultiHolepunchSocket[] = [];
  const bind = async (nick: string, relays: RelayOption[]) => {
    const s = await MultiHolepunchSocket.bind({ nick, host: LOOPBACK, relays });
    open.push(s);
    return s;
  };

  beforeAll(async () => {
    const cert = selfSignedCert(coturn.dir);
    fingerprint = cert.fingerprint;
    server = await coturn.start(['--lt-cred-mech', '--user', 'u:p'], { tcp: true, tls: cert });
  }, WAIT_MS * 2);
  afterAll(async () => {
    await Promise.all(open.map((s) => s.close()));
    await coturn.stop();
  });

  it(
    'two sockets on 127.0.0.1 allocate over TCP and talk through the relay',
    async () => {
      const relays = [
        { urls: `turn:${LOOPBACK}:${server.port}?transport=tcp`, username: 'u', credential: 'p' },
      ];
      const alice = await bind('alice', relays);
      const bob = await bind('bob', relays);
      await until(() => settled(alice) && settled(bob), 'the allocations');
      const st = alice.stats().relay!;
      expect(st).toMatchObject({ state: 'allocated', transport: 'tcp', reason: undefined });
      expect(st.relayed).toMatch(/^127\.0\.0\.1:\d+$/);
      await talkThroughRelay(alice, bob);
      expect(bob.stats().relay!.bytesSent).toBeGreaterThan(0);
      expect(alice.stats().relay!.bytesReceived).toBeGreaterThan(0);
    },
    WAIT_MS * 3,
  );

  it(
    'turns: with the self-signed certificate pinned allocates over TLS; a peer reaches us through it',
    async () => {
      const alice = await bind('alice', [
        {
          urls: `turns:${LOOPBACK}:${coturn.tlsPort}`,
          username: 'u',
          credential: 'p',
          certificateFingerprint: fingerprint,
        },
      ]);
      const bob = await bind('bob', [
        { urls: `turn:${LOOPBACK}:${server.port}`, username: 'u', credential: 'p' },
      ]);
      await until(() => settled(alice) && settled(bob), 'the allocations');
      expect(alice.stats().relay).toMatchObject({ state: 'allocated', transport: 'tls' });
      expect(bob.stats().relay).toMatchObject({ state: 'allocated', transport: 'udp' });
      await talkThroughRelay(alice, bob);
    },
    WAIT_MS * 3,
  );

  it(
    'an unpinned self-signed certificate (system CAs), a wrong pin, and a refused port each fail with their reason',
    async () => {
      const tls = `turns:${LOOPBACK}:${coturn.tlsPort}`;
      const unpinned = await bind('unpinned', [{ urls: tls, username: 'u', credential: 'p' }]);
      const wrongPin = await bind('wrongpin', [
        { urls: tls, username: 'u', credential: 'p', certificateFingerprint: '00'.repeat(32) },
      ]);
      const closedPort = await freeTcpPort();
      const refused = await bind('refused', [
        { urls: `turn:${LOOPBACK}:${closedPort}?transport=tcp`, username: 'u', credential: 'p' },
      ]);
      const errors: string[] = [];
      refused.on('error', (e) => errors.push(e.message));
      await until(() => [unpinned, wrongPin, refused].every(settled), 'the three failures');
      expect(unpinned.stats().relay).toMatchObject({ state: 'failed', transport: 'tls' });
      expect(unpinned.stats().relay!.reason).toMatch(/TLS .*self[- ]signed/i);
      expect(wrongPin.stats().relay!.state).toBe('failed');
      expect(wrongPin.stats().relay!.reason).toMatch(/pin mismatch.*SHA-256 [0-9A-F:]{95}/);
      expect(wrongPin.stats().relay!.reason).toContain(fingerprint);
      expect(refused.stats().relay).toMatchObject({ state: 'failed', transport: 'tcp' });
      expect(refused.stats().relay!.reason).toMatch(/connection refused/);
      expect(errors.join('\n')).toMatch(/connection refused/);
      // Nothing relayed, no invite candidate: the sockets still work without a relay.
      expect(decodeInvite(refused.invite()).relayed ?? []).toEqual([]);
    },
    WAIT_MS * 3,
  );
});

describe.skipIf(SKIP)('turn: over UDP falls back to TCP on the same port', () => {
  // coturn without a UDP listener: UDP to its port is a black hole, TCP answers.
  const coturn = new Coturn();
  let server: Addr;
  const open: MultiHolepunchSocket[] = [];
  beforeAll(async () => {
    server = await coturn.start(['--lt-cred-mech', '--user', 'u:p'], { tcp: true, noUdp: true });
  }, WAIT_MS * 2);
  afterAll(async () => {
    await Promise.all(open.map((s) => s.close()));
    await coturn.stop();
  });

  it(
    'allocates over TCP once the UDP Allocate goes unanswered for 3 RTOs, and a peer reaches us through it',
    async () => {
      const relays = [{ urls: `turn:${LOOPBACK}:${server.port}`, username: 'u', credential: 'p' }];
      // A short RTO: TCP races the silent UDP Allocate after 3 RTOs (30 ms; 1.5 s at the default 500).
      const alice = await MultiHolepunchSocket.bind({
        nick: 'alice',
        host: LOOPBACK,
        relays,
        relayRto: 10,
      });
      open.push(alice);
      const bob = await MultiHolepunchSocket.bind({ nick: 'bob', host: LOOPBACK });
      open.push(bob);
      expect(alice.stats().relay).toMatchObject({ state: 'allocating', transport: 'udp' });
      await until(() => settled(alice), 'the allocation');
      const st = alice.stats().relay!;
      expect(st).toMatchObject({ state: 'allocated', transport: 'tcp' });
      expect(st.server).toBe(`${LOOPBACK}:${server.port}`);
      await talkThroughRelay(alice, bob);
    },
    WAIT_MS * 3,
  );
});
