import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type BindOptions, MultiHolepunchSocket } from '../../source/net/shell/socket.js';
import { type PrivateDht, privateDht } from '../net/discovery/privatedht.js';

/**
 * A library gap the DHT lab found (dht.test.ts counts it as "names not yet
 * pinned"), reproduced on loopback (no namespaces needed): issue 18 asks
 * that a name added by key be pinned to that key. When the wanted peer
 * dials us first as a stranger whose own nick is the very name we gave it,
 * Discovery.onPeer sees `want.nick === nick` and does nothing, and act()
 * never dials a connected key: the name stays unpinned for as long as the
 * peer's record does not change, so a different key may later take it.
 *
 * `it.fails`: passes while the gap is there. Whoever fixes onPeer (pin when
 * the connected stranger's key is wanted, whatever its name) turns this
 * into `it`.
 */

let swarm: PrivateDht;
const open: MultiHolepunchSocket[] = [];

async function bind(opts: BindOptions): Promise<MultiHolepunchSocket> {
  const s = await MultiHolepunchSocket.bind({ host: '127.0.0.1', ...opts });
  open.push(s);
  return s;
}

beforeEach(async () => {
  swarm = await privateDht(20);
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  await swarm.close();
});

describe('a wanted key that dials us first under the name we gave it', () => {
  it.fails('is pinned to that name (today: it is not)', async () => {
    const alice = await bind({
      nick: 'alice',
      dht: { bootstrap: swarm.bootstrap, publish: false },
    });
    // Bob publishes nothing: no record of his can change and pin him later.
    const bob = await bind({ nick: 'bob' });
    await alice.addPeers({ bob: bob.fingerprint });
    await bob.addPeers({ alice: `127.0.0.1:${alice.localAddress().port}` });
    const info = await alice.waitForPeer('bob', { timeout: 30_000 });
    expect(info.fingerprint).toBe(bob.fingerprint);
    // The rename path (another nick, socket-bykey.test.ts) pins within a tick.
    await vi.waitFor(() => expect(alice.pinnedFingerprint('bob')).toBe(bob.fingerprint), {
      timeout: 3_000,
      interval: 50,
    });
  });
});
