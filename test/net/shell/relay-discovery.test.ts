import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Addr } from '../../../source/net/core/address.js';
import { decodeInvite } from '../../../source/net/nat/invite.js';
import { MultiHolepunchSocket } from '../../../source/net/shell/socket.js';
import { Coturn, LOOPBACK, SKIP, WAIT_MS } from '../../support/coturn.js';
import { UdpProxy } from '../../support/udpproxy.js';
import { type PrivateDht, privateDht } from '../discovery/privatedht.js';

/**
 * Our published discovery record follows our relayed address (issue 17):
 * an allocation made after the first record went out (a slow relay, or a
 * new allocation after an idle release, on a new port) is republished at
 * once, not at the next periodic refresh minutes later. A real coturn on
 * 127.0.0.1 behind a UDP proxy held dark until the first record is out.
 */

async function until(what: string, check: () => boolean): Promise<void> {
  const end = Date.now() + WAIT_MS;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(SKIP)('the discovery record and the relayed address', () => {
  const coturn = new Coturn();
  let server: Addr;
  let swarm: PrivateDht;
  const open: { close(): Promise<void> | void }[] = [];
  beforeAll(async () => {
    server = await coturn.start(['--lt-cred-mech', '--user', 'u:p']);
    swarm = await privateDht(3);
  }, WAIT_MS * 2);
  afterAll(async () => {
    for (const s of open.splice(0).reverse()) await s.close();
    await swarm.close();
    await coturn.stop();
  });

  it(
    'an allocation made after the first record is published at once',
    async () => {
      const proxy = await UdpProxy.start(server, 1);
      open.push(proxy);
      proxy.blackout = true; // the relay does not answer yet
      const alice = await MultiHolepunchSocket.bind({
        nick: 'alice',
        host: LOOPBACK,
        dht: { bootstrap: swarm.bootstrap },
        relays: [{ urls: `turn:${proxy.address}`, username: 'u', credential: 'p' }],
        // Retransmissions for ~25 s: the relay comes up long before the Allocate gives up.
        relayRto: 200,
      });
      open.push(alice);
      await until('the first record', () => (alice.stats().discovery?.versions ?? 0) >= 1);
      const first = alice.stats().discovery!.versions;
      expect(alice.stats().relay?.state).toBe('allocating');
      expect(decodeInvite(alice.invite()).relayed ?? []).toEqual([]);
      proxy.blackout = false;
      await until('the allocation', () => alice.stats().relay?.state === 'allocated');
      const relayed = alice.stats().relay!.relayed!;
      expect(decodeInvite(alice.invite()).relayed?.map((a) => `${a.address}:${a.port}`)).toEqual([
        relayed,
      ]);
      // A new record version carrying it, made as the allocation was (the same
      // turn of the event loop), not at the next periodic refresh.
      expect(alice.stats().discovery!.versions).toBe(first + 1);
    },
    WAIT_MS * 3,
  );
});
