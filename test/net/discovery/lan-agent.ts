/**
 * A node for the mDNS namespace test (lan.test.ts), run inside a network
 * namespace: binds with mDNS on (and nothing else), adds the peers named on
 * the command line by fingerprint alone, and prints one JSON line per event.
 *
 *   lan-agent.ts <nick> <secret key hex> [<peer nick>=<fingerprint> ...]
 */
import { MultiHolepunchSocket } from '../../../source/index.js';

const [nick, skHex, ...peerArgs] = process.argv.slice(2);
const secretKey = Buffer.from(skHex!, 'hex');
const identity = { secretKey, publicKey: secretKey.subarray(32) };
const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

const sock = await MultiHolepunchSocket.bind({ nick: nick!, identity, mdns: true });
sock.on('peer', (info, change) => {
  if (change === 'connected')
    say({ event: 'connected', nick: info.nick, fingerprint: info.fingerprint });
});
const peers = Object.fromEntries(peerArgs.map((a) => a.split('=') as [string, string]));
await sock.addPeers(peers);
say({ event: 'ready', fingerprint: sock.fingerprint });
process.stdin.on('data', async (d) => {
  if (d.toString().includes('stats'))
    say({
      event: 'stats',
      discovery: sock.stats().discovery,
      peers: sock.peers().map((p) => ({ nick: p.nick, address: p.address, state: p.state.kind })),
    });
  if (d.toString().includes('quit')) {
    await sock.close();
    process.exit(0);
  }
});
