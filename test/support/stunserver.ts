import dgram from 'node:dgram';
import { decodeStunMessage, encodeBindingResponse } from '../../source/net/nat/stun-codec.js';

/** A minimal STUN server on 127.0.0.1 that answers Binding requests (or stays silent). */
export async function stunServer(
  silent = false,
): Promise<{ address: string; close: () => Promise<void>; seen: number }> {
  const sock = dgram.createSocket('udp4');
  const state = { seen: 0 };
  sock.on('message', (msg, rinfo) => {
    state.seen++;
    if (silent) return;
    const req = decodeStunMessage(msg);
    sock.send(
      encodeBindingResponse(req.transactionId, { address: rinfo.address, port: rinfo.port }),
      rinfo.port,
      rinfo.address,
    );
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${sock.address().port}`,
    close: () => new Promise<void>((r) => sock.close(() => r())),
    get seen() {
      return state.seen;
    },
  };
}
