/**
 * Per-packet crypto cost through the transport's own `createPacketKey`, on a
 * full-size DATA packet: payloadRoom(datagram) bytes of plaintext plus the
 * 14-byte header as associated data (a `datagram`-byte datagram once sealed).
 * In-process, measured alone (nothing else running in this process).
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { payloadRoom } from '../source/net/core/conn/session.js';
import { type CipherName, createPacketKey, TAG_LENGTH } from '../source/net/crypto/cipher.js';
import { BASE_PLPMTU, DATA_HEADER_LENGTH } from '../source/net/wire/packet.js';
import { median } from './stats.js';

export interface CryptoCost {
  cipher: CipherName;
  /** µs per seal / open: median over rounds. */
  sealUs: number;
  openUs: number;
  plaintextBytes: number;
  datagramBytes: number;
}

function timeRounds(rounds: number, batch: number, op: (i: number) => void): number {
  const perOp: number[] = [];
  let i = 0;
  for (let r = 0; r < rounds + 1; r++) {
    const t0 = performance.now();
    for (let b = 0; b < batch; b++) op(i++);
    const us = ((performance.now() - t0) * 1000) / batch;
    if (r > 0) perOp.push(us); // round 0 warms the JIT up
  }
  return median(perOp);
}

/** Seal and open of one full DATA packet of `datagram` bytes (default: the 1200-byte base size). */
export function measureCrypto(
  cipher: CipherName,
  rounds: number,
  batch: number,
  datagram = BASE_PLPMTU,
): CryptoCost {
  const payload = payloadRoom(datagram);
  const key = createPacketKey(cipher, randomBytes(32));
  const ad = randomBytes(DATA_HEADER_LENGTH);
  const plaintext = randomBytes(payload);
  const sealed = Buffer.alloc(payload + TAG_LENGTH);
  const opened = Buffer.alloc(payload);

  const sealUs = timeRounds(rounds, batch, (i) => key.seal(i, ad, plaintext, sealed));

  const nonce = 7;
  key.seal(nonce, ad, plaintext, sealed);
  if (!key.open(nonce, ad, sealed, opened) || !opened.equals(plaintext)) {
    throw new Error(`${cipher}: open did not return the sealed plaintext`);
  }
  let failures = 0;
  const openUs = timeRounds(rounds, batch, () => {
    if (!key.open(nonce, ad, sealed, opened)) failures++;
  });
  if (failures > 0) throw new Error(`${cipher}: ${failures} opens failed`);

  return {
    cipher,
    sealUs,
    openUs,
    plaintextBytes: payload,
    datagramBytes: DATA_HEADER_LENGTH + payload + TAG_LENGTH,
  };
}
