import type { Addr } from '../core/address.js';
import {
  encodeStunMessage,
  type IntegrityKey,
  STUN_TRANSACTION_ID_LENGTH,
  StunAttr,
  type StunAttribute,
  type StunMessage,
  verifyMessageIntegrity,
} from './stun-codec.js';
import {
  longTermKey,
  PasswordAlgorithm,
  passwordAlgorithmAttr,
  passwordAlgorithmsOf,
  stunType,
  TurnAttr,
  textAttr,
  textOf,
} from './turn-codec.js';

/**
 * TURN's request layer: one retransmitting transaction per request (RFC 8489
 * §6.2.1, as the Binding client in stun.ts), signed with long-term
 * credentials (§9.2). It learns REALM and NONCE from the first 401, signs
 * every later request, follows 438 Stale Nonce, and accepts a success
 * response only when its MESSAGE-INTEGRITY(-SHA256) verifies: an on-path
 * forger who saw the transaction id still cannot finish one. Sans I/O.
 */

export interface TurnCredentials {
  username: string;
  password: string;
}

export interface TurnTxOptions {
  /** Initial retransmission timeout in ms (RFC 8489 §6.2.1: 500). */
  rto?: number;
  /** Transmissions per request before giving up (Rc, default 7). */
  maxTransmits?: number;
  /** After the last transmission wait this many RTOs (Rm, default 16). */
  lastWaitFactor?: number;
  /** SOFTWARE attribute on requests (RFC 8489 §14.14); none when absent. */
  software?: string;
  randomBytes: (n: number) => Buffer;
}

/** What a response (or the lack of one) did to a request; `T` is the caller's label. */
export type TxOutcome<T> =
  | { kind: 'success'; label: T; msg: StunMessage }
  | { kind: 'failed'; label: T; code: number | undefined; reason: string };

interface Auth {
  realm: string;
  nonce: string;
  key: IntegrityKey;
  /** The server's PASSWORD-ALGORITHMS value, echoed back (RFC 8489 §9.2.4). */
  algorithms: Buffer | undefined;
  algorithm: number | undefined;
  /** PASSWORD-ALGORITHMS as the first challenge gave it, supported or not, for §9.2.5's comparison. */
  offered: Buffer | undefined;
}

interface Tx<T> {
  label: T;
  method: number;
  attrs: (id: Buffer) => StunAttribute[];
  id: Buffer;
  request: Buffer;
  signed: boolean;
  transmits: number;
  rto: number;
  deadline: number;
  staleRetries: number;
}

/** 438 is answered with the new nonce this many times in a row, then reported. */
const MAX_STALE_RETRIES = 3;

export class TurnTransactions<T> {
  private readonly pending = new Map<string, Tx<T>>();
  private auth: Auth | undefined;
  private readonly rto: number;
  private readonly maxTransmits: number;
  private readonly lastWait: number;
  /** Responses dropped, by why. */
  readonly dropped = { unknownTransaction: 0, notResponse: 0, badIntegrity: 0 };
  /**
   * Responses that matched one of our transactions (a 401 included): the
   * server is reachable on this transport, whatever it said.
   */
  answered = 0;

  constructor(
    private readonly server: Addr,
    private readonly creds: TurnCredentials,
    private readonly opts: TurnTxOptions,
    private readonly out: { to: Addr; data: Buffer }[],
  ) {
    this.rto = opts.rto ?? 500;
    this.maxTransmits = opts.maxTransmits ?? 7;
    this.lastWait = opts.lastWaitFactor ?? 16;
  }

  /** The realm the server named, once it has. */
  get realm(): string | undefined {
    return this.auth?.realm;
  }

  /** True when requests are signed with MESSAGE-INTEGRITY-SHA256 (the server listed PASSWORD-ALGORITHMS). */
  get sha256(): boolean {
    return this.auth?.key.sha256 === true;
  }

  get size(): number {
    return this.pending.size;
  }

  has(pred: (label: T) => boolean): boolean {
    for (const tx of this.pending.values()) if (pred(tx.label)) return true;
    return false;
  }

  /** Starts a request; `attrs` builds its attributes for a transaction id (XOR-PEER-ADDRESS depends on it). */
  start(label: T, method: number, attrs: (id: Buffer) => StunAttribute[], now: number): void {
    const tx = this.build(label, method, attrs, 0);
    this.send(tx, now);
  }

  cancel(pred: (label: T) => boolean = () => true): void {
    for (const [key, tx] of [...this.pending]) if (pred(tx.label)) this.pending.delete(key);
  }

  nextDeadline(): number | undefined {
    let at: number | undefined;
    for (const tx of this.pending.values())
      if (at === undefined || tx.deadline < at) at = tx.deadline;
    return at;
  }

  handleTimeout(now: number): TxOutcome<T>[] {
    const out: TxOutcome<T>[] = [];
    for (const [key, tx] of [...this.pending]) {
      if (now < tx.deadline) continue;
      if (tx.transmits < this.maxTransmits) {
        tx.rto *= 2;
        this.send(tx, now);
        continue;
      }
      this.pending.delete(key);
      out.push({
        kind: 'failed',
        label: tx.label,
        code: undefined,
        reason: `no answer from the TURN server after ${tx.transmits} transmissions`,
      });
    }
    return out;
  }

  /** A decoded response from the server (the caller checked the source); undefined when it finished nothing. */
  handleResponse(raw: Uint8Array, msg: StunMessage, now: number): TxOutcome<T> | undefined {
    const key = msg.transactionId.toString('hex');
    const tx = this.pending.get(key);
    if (!tx) {
      this.dropped.unknownTransaction++;
      return undefined;
    }
    if (msg.method !== tx.method || (msg.class !== 'success' && msg.class !== 'error')) {
      this.dropped.notResponse++;
      return undefined;
    }
    this.answered++;
    const code = msg.errorCode?.code;
    if (msg.class === 'error' && (code === 401 || code === 438)) {
      // RFC 8489 §9.2.5: neither is signed (the server may not know our key yet).
      this.pending.delete(key);
      return this.challenge(tx, msg, code, now);
    }
    if (!this.authentic(raw, msg, tx)) {
      // §9.2.5: discard as if never received; retransmissions go on.
      this.dropped.badIntegrity++;
      return undefined;
    }
    this.pending.delete(key);
    if (msg.class === 'success') return { kind: 'success', label: tx.label, msg };
    return {
      kind: 'failed',
      label: tx.label,
      code: code ?? 0,
      reason: msg.errorCode?.reason ?? 'error response without ERROR-CODE',
    };
  }

  /**
   * A success must carry a valid MESSAGE-INTEGRITY(-SHA256) under our key; an
   * unsigned success (before any 401 told us the realm) is refused too, since
   * we always hold credentials. An error response is taken unsigned (a
   * server may reject before authenticating), but not with a bad signature.
   */
  private authentic(raw: Uint8Array, msg: StunMessage, tx: Tx<T>): boolean {
    const auth = this.auth;
    const signedAttr = msg.attributes.some(
      (a) => a.type === StunAttr.MessageIntegrity || a.type === StunAttr.MessageIntegritySha256,
    );
    if (msg.class === 'error' && !signedAttr) return true;
    if (!auth || !tx.signed) return false;
    return verifyMessageIntegrity(raw, msg, auth.key);
  }

  /** 401 → learn realm and nonce, sign and retry; 438 → the new nonce, retry (RFC 8489 §9.2.5). */
  private challenge(
    tx: Tx<T>,
    msg: StunMessage,
    code: number,
    now: number,
  ): TxOutcome<T> | undefined {
    const reason = msg.errorCode?.reason ?? '';
    const nonce = textOf(msg, StunAttr.Nonce);
    const realm = textOf(msg, StunAttr.Realm) ?? this.auth?.realm;
    const fail = (why: string): TxOutcome<T> => ({
      kind: 'failed',
      label: tx.label,
      code,
      reason: `${why}${reason ? ` (${reason})` : ''}`,
    });
    if (nonce === undefined || realm === undefined) return fail(`${code} without REALM and NONCE`);
    if (code === 401 && tx.signed) return fail('the TURN server refused our credentials');
    if (code === 438 && tx.staleRetries >= MAX_STALE_RETRIES) return fail('nonce stale again');
    // RFC 8489 §9.2.5: once a server offered PASSWORD-ALGORITHMS, a later
    // challenge must offer the same, or an on-path forger could bid us down
    // to MD5 and MESSAGE-INTEGRITY.
    const offered = msg.attributes.find((a) => a.type === TurnAttr.PasswordAlgorithms)?.value;
    if (this.auth && !sameBytes(this.auth.offered, offered)) {
      return fail('PASSWORD-ALGORITHMS changed between challenges');
    }
    this.learn(msg, realm, nonce);
    const retry = this.build(
      tx.label,
      tx.method,
      tx.attrs,
      tx.staleRetries + (code === 438 ? 1 : 0),
    );
    this.send(retry, now);
    return undefined;
  }

  private learn(msg: StunMessage, realm: string, nonce: string): void {
    const listed = passwordAlgorithmsOf(msg);
    const algorithms = msg.attributes.find((a) => a.type === TurnAttr.PasswordAlgorithms)?.value;
    // RFC 8489 §9.2.4: the first listed algorithm we support. A server that
    // lists them is an RFC 8489 one, so we sign with MESSAGE-INTEGRITY-SHA256.
    const algorithm = listed.find(
      (a) => a === PasswordAlgorithm.MD5 || a === PasswordAlgorithm.SHA256,
    );
    const key = longTermKey(this.creds.username, realm, this.creds.password, algorithm);
    this.auth = {
      realm,
      nonce,
      key: { key, sha256: algorithms !== undefined && algorithm !== undefined },
      algorithms: algorithms && algorithm !== undefined ? Buffer.from(algorithms) : undefined,
      algorithm,
      offered: algorithms && Buffer.from(algorithms),
    };
  }

  private build(
    label: T,
    method: number,
    attrs: (id: Buffer) => StunAttribute[],
    staleRetries: number,
  ): Tx<T> {
    let id = this.opts.randomBytes(STUN_TRANSACTION_ID_LENGTH);
    while (this.pending.has(id.toString('hex'))) {
      id = this.opts.randomBytes(STUN_TRANSACTION_ID_LENGTH);
    }
    id = Buffer.from(id);
    const list = attrs(id);
    if (this.opts.software !== undefined)
      list.push(textAttr(StunAttr.Software, this.opts.software));
    const auth = this.auth;
    if (auth) {
      list.push(
        textAttr(StunAttr.Username, this.creds.username),
        textAttr(StunAttr.Realm, auth.realm),
        textAttr(StunAttr.Nonce, auth.nonce),
      );
      if (auth.algorithms && auth.algorithm !== undefined) {
        list.push(
          { type: TurnAttr.PasswordAlgorithms, value: auth.algorithms },
          passwordAlgorithmAttr(auth.algorithm),
        );
      }
    }
    const request = encodeStunMessage(
      stunType(method, 'request'),
      id,
      list,
      auth ? { integrity: auth.key, fingerprint: true } : { fingerprint: true },
    );
    const tx: Tx<T> = {
      label,
      method,
      attrs,
      id,
      request,
      signed: auth !== undefined,
      transmits: 0,
      rto: this.rto,
      deadline: 0,
      staleRetries,
    };
    this.pending.set(id.toString('hex'), tx);
    return tx;
  }

  private send(tx: Tx<T>, now: number): void {
    tx.transmits++;
    tx.deadline = now + (tx.transmits < this.maxTransmits ? tx.rto : this.rto * this.lastWait);
    this.out.push({ to: this.server, data: tx.request });
  }
}

function sameBytes(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.equals(b);
}
