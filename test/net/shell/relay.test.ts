import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Addr } from '../../../source/net/core/address.js';
import { UsageError } from '../../../source/net/core/errors.js';
import { decodeInvite, encodeInvite } from '../../../source/net/nat/invite.js';
import { parseRelays, parseTurnUri } from '../../../source/net/shell/relayuri.js';
import { MultiHolepunchSocket } from '../../../source/net/shell/socket.js';
import { Coturn, LOOPBACK, SKIP, WAIT_MS } from '../../support/coturn.js';

describe('relay URIs (RFC 7065)', () => {
  it('reads turn: and turns: with their default ports, IPv6 literals and the transport', () => {
    expect(parseTurnUri('turn:relay.example.org')).toEqual({
      secure: false,
      host: 'relay.example.org',
      port: 3478,
      transport: 'udp',
    });
    expect(parseTurnUri('turns:relay.example.org')).toEqual({
      secure: true,
      host: 'relay.example.org',
      port: 5349,
      transport: 'tcp',
    });
    expect(parseTurnUri('TURN:[2001:db8::1]:3479?transport=tcp')).toEqual({
      secure: false,
      host: '2001:db8::1',
      port: 3479,
      transport: 'tcp',
    });
    expect(parseTurnUri('turn:192.0.2.1:40000?transport=udp').port).toBe(40000);
  });

  it.each([
    ['stun:relay.example.org', /expected turn:/],
    ['turn:', /expected turn:/],
    ['turn:relay.example.org:0', /port must be 1-65535/],
    ['turn:relay.example.org:70000', /port must be 1-65535/],
    ['turn:relay.example.org?transport=sctp', /transport=udp\|tcp/],
    ['turn:relay.example.org?foo=bar', /transport=udp\|tcp/],
    ['turns:relay.example.org?transport=udp', /over TCP/],
    ['turn:2001:db8::1', /expected turn:|bad host/],
    ['turn:[relay]:3478', /not an IPv6 address/],
    ['turn:bad_host', /bad host/],
  ])('refuses %s as a UsageError', (uri, why) => {
    expect(() => parseTurnUri(uri)).toThrow(UsageError);
    expect(() => parseTurnUri(uri)).toThrow(why);
  });

  it('checks whole relay options: the first UDP URI is preferred, TCP and TLS are taken, a pin is read', () => {
    const ok = parseRelays([
      { urls: ['turns:r.example.org', 'turn:r.example.org'], username: 'u', credential: 'p' },
    ]);
    expect(ok).toEqual([
      {
        uri: { secure: false, host: 'r.example.org', port: 3478, transport: 'udp' },
        username: 'u',
        password: 'p',
        pin: undefined,
      },
    ]);
    const fp = `${'AB:'.repeat(31)}CD`;
    const [tls] = parseRelays([
      { urls: 'turns:r.example.org', username: 'u', credential: 'p', certificateFingerprint: fp },
    ]);
    expect(tls!.uri).toEqual({ secure: true, host: 'r.example.org', port: 5349, transport: 'tcp' });
    expect(tls!.pin).toEqual(Buffer.from(`${'ab'.repeat(31)}cd`, 'hex'));
    const [tcp] = parseRelays([
      { urls: 'turn:r.example.org?transport=tcp', username: 'u', credential: 'p' },
    ]);
    expect(tcp!.uri.transport).toBe('tcp');
    expect(() =>
      parseRelays([
        { urls: 'turns:r', username: 'u', credential: 'p', certificateFingerprint: 'abc' },
      ]),
    ).toThrow(/64 hex digits/);
    expect(() =>
      parseRelays([{ urls: 'turn:r', username: 'u', credential: 'p', certificateFingerprint: fp }]),
    ).toThrow(/turns: \(TLS\) relay only/);
    expect(() => parseRelays([{ urls: 'turn:r', username: '', credential: 'p' }])).toThrow(
      /username/,
    );
    expect(() => parseRelays([{ urls: [], username: 'u', credential: 'p' }])).toThrow(/urls/);
  });

  it('bind refuses a bad relay before it opens anything', async () => {
    await expect(
      MultiHolepunchSocket.bind({
        nick: 'alice',
        host: LOOPBACK,
        relays: [{ urls: 'turn:relay.example.org:99999', username: 'u', credential: 'p' }],
      }),
    ).rejects.toThrow(UsageError);
  });
});

/** Resolves when `check` holds, polled on the socket's own events; a guard, not a measure. */
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

describe.skipIf(SKIP)('sockets with a real coturn relay', () => {
  const coturn = new Coturn();
  let server: Addr;
  beforeAll(async () => {
    server = await coturn.start(['--lt-cred-mech', '--user', 'u:p']);
  }, WAIT_MS * 2);
  afterAll(async () => {
    await coturn.stop();
  });

  it(
    'allocates when bound, puts the relayed address in the invite, and a peer given only that address connects through it',
    async () => {
      const relays = [{ urls: `turn:${LOOPBACK}:${server.port}`, username: 'u', credential: 'p' }];
      const alice = await MultiHolepunchSocket.bind({ nick: 'alice', host: LOOPBACK, relays });
      const bob = await MultiHolepunchSocket.bind({ nick: 'bob', host: LOOPBACK, relays });
      try {
        await until(
          () =>
            alice.stats().relay?.state === 'allocated' && bob.stats().relay?.state === 'allocated',
          'the allocations',
        );
        const st = alice.stats().relay!;
        expect(st.server).toBe(`${LOOPBACK}:${server.port}`);
        expect(st.relayed).toMatch(/^127\.0\.0\.1:\d+$/);
        const invite = decodeInvite(alice.invite());
        expect(invite.relayed?.map((a) => `${a.address}:${a.port}`)).toEqual([st.relayed]);
        // Bob knows alice only by her relayed address: the session must go through coturn.
        const onlyRelayed = encodeInvite({ ...invite, addrs: [] });
        await bob.addPeers({ alice: onlyRelayed });
        const info = await bob.waitForPeer('alice', { timeout: WAIT_MS });
        expect(info.stats.path).toBe('relay');
        const got = new Promise<string>((r) =>
          alice.once('message', (m) => r(m.content.toString())),
        );
        await bob.send('through coturn', { recipient: 'alice' });
        expect(await got).toBe('through coturn');
        expect(bob.stats().relay!.bytesSent).toBeGreaterThan(0);
        expect(alice.stats().relay!.bytesReceived).toBeGreaterThan(0);
      } finally {
        await alice.close();
        await bob.close();
      }
    },
    WAIT_MS * 3,
  );
});
