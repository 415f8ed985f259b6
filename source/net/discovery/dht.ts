import { createHash } from 'node:crypto';
import DHT, { type DhtGetResult } from 'bittorrent-dht';
import { verifyDetached } from '../crypto/identity.js';
import { type RecordPolicy, SALT, type SignedItem, type Verdict, validSeq } from './policy.js';

/**
 * Our node in the BitTorrent Mainline DHT (BEP 5), used for BEP 44 mutable
 * items only: we publish our discovery record under our Ed25519 identity
 * key (salt `srmudp1`) and look others' up by theirs. The DHT has its own
 * UDP socket, apart from the peer socket, so nothing it receives reaches
 * the transport; a malformed DHT message is the library's 'warning' (or a
 * throw we catch), counted, never fatal.
 *
 * The bootstrap list is always explicit: bittorrent-dht falls back to the
 * public routers when it is undefined, and tests must never reach them.
 */

export interface DhtNodeOptions {
  /** `host:port` of nodes to join through; [] = a first node that others join. */
  bootstrap: string[];
  /** Address to bind the DHT socket (IPv4: bittorrent-dht speaks BEP 5 over IPv4). */
  host: string;
  port?: number;
  /** Per-query timeout in ms (default 2000, bittorrent-dht's). */
  timeout?: number;
  /**
   * Resolve only once the routing table is populated (default true). The
   * socket does not wait: a lookup or publish before then starts from the
   * bootstrap nodes, and bind should not take seconds when some are down.
   */
  waitReady?: boolean;
}

/**
 * The longest publish and resolve wait for the bootstrap walk. It ends by
 * itself once its queries answer or time out (2 s each); this only bounds
 * a library that never says 'ready'.
 */
export const JOIN_WAIT = 15_000;

export interface DhtStats {
  publishes: number;
  publishFailures: number;
  lookups: number;
  /** Lookups that found no acceptable record. */
  notFound: number;
  /** Malformed or unexpected DHT messages (the library's warnings, and handler throws we caught). */
  badMessages: number;
}

/** BEP 44: a mutable item lives at SHA-1(k ‖ salt). */
export function mutableTarget(key: Uint8Array, salt: Uint8Array = SALT): Buffer {
  return createHash('sha1').update(key).update(salt).digest();
}

/** Verification for items others store on us (BEP 44 put): the signature only. */
function verifyStored(sig: unknown, message: Buffer, key: unknown): boolean {
  return Buffer.isBuffer(sig) && Buffer.isBuffer(key) && verifyDetached(key, message, sig);
}

export class DhtNode {
  readonly stats: DhtStats = {
    publishes: 0,
    publishFailures: 0,
    lookups: 0,
    notFound: 0,
    badMessages: 0,
  };

  /**
   * Settles once the routing table is populated (bittorrent-dht's 'ready',
   * after its bootstrap walk), or after JOIN_WAIT whatever happened. A walk
   * before then starts from the bootstrap nodes alone, and a node that holds
   * our key's item answers a `get` with the item and no closer nodes (BEP 44
   * §"get message"; bittorrent-dht's _onget): the walk ends at the first
   * holder. A restarted peer's new record then lands on that one node, not
   * on the nodes closest to its key, and lookups keep finding the old one.
   */
  private readonly joined: Promise<void>;
  private endJoinWait: () => void = () => {};
  private closed = false;

  private constructor(
    private readonly dht: DHT,
    private readonly policy: RecordPolicy,
  ) {
    this.joined = new Promise((resolve) => {
      if (dht.ready) return resolve();
      const bound = setTimeout(resolve, JOIN_WAIT);
      bound.unref();
      this.endJoinWait = () => {
        clearTimeout(bound);
        resolve();
      };
      dht.once('ready', this.endJoinWait);
    });
    dht.on('warning', () => {
      this.stats.badMessages++;
    });
    // A socket error (EACCES, EADDRINUSE) must not become an uncaught 'error'.
    dht.on('error', () => {
      this.stats.badMessages++;
    });
    this.guardQueries();
  }

  /** Binds the DHT socket and joins through `bootstrap`; resolves once the table is populated. */
  static async start(policy: RecordPolicy, opts: DhtNodeOptions): Promise<DhtNode> {
    const dht = new DHT({
      bootstrap: opts.bootstrap.length > 0 ? [...opts.bootstrap] : false,
      verify: verifyStored,
      host: false,
      ...(opts.timeout !== undefined ? { timeout: opts.timeout } : {}),
    });
    const node = new DhtNode(dht, policy);
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => reject(err);
      dht.once('error', fail);
      dht.listen(opts.port ?? 0, opts.host, () => {
        dht.off('error', fail);
        resolve();
      });
    });
    if (opts.waitReady !== false) await node.joined;
    return node;
  }

  address(): { host: string; port: number } {
    const a = this.dht.address();
    return { host: a.address, port: a.port };
  }

  /** Nodes in our routing table (for tests and stats). */
  get nodeCount(): number {
    return this.dht.toJSON().nodes.length;
  }

  /**
   * Stores our signed item (policy.ts signItem) on the nodes closest to
   * its target. Resolves with the nodes that took it; 0 when none did
   * (counted as a failure).
   */
  async publish(item: SignedItem): Promise<number> {
    await this.joined;
    if (this.closed) return 0; // a destroyed DHT never calls back
    await this.refreshClosest(mutableTarget(item.k));
    return new Promise((resolve) => {
      this.dht.put(
        {
          k: Buffer.from(item.k),
          v: Buffer.from(item.v),
          seq: item.seq,
          salt: SALT,
          sign: () => Buffer.from(item.sig),
        },
        (err, _target, n) => {
          if (err || n === 0) this.stats.publishFailures++;
          else this.stats.publishes++;
          resolve(err ? 0 : n);
        },
      );
    });
  }

  /**
   * A fresh walk towards `target`, so the put goes to the nodes closest
   * now. bittorrent-dht caches the closest nodes per target for 5 minutes
   * and reuses them even when the last walk found none (bootstrap not up
   * yet): every put in that window then fails with "No nodes to query".
   * A get walks again and replaces the cache (values are not wanted here).
   */
  private refreshClosest(target: Buffer): Promise<void> {
    return new Promise((resolve) => {
      this.dht.get(target, { salt: SALT, cache: false, verify: () => false }, () => resolve());
    });
  }

  /**
   * Looks `key` up. Every reply passes our verify hook first, which counts
   * foreign keys and bad signatures (the library would drop them
   * silently); the highest-seq survivor is judged by the policy (stale,
   * oversized, malformed). Undefined when nothing acceptable was found.
   */
  async resolve(key: Uint8Array): Promise<Extract<Verdict, { ok: true }> | undefined> {
    this.stats.lookups++;
    await this.joined; // as publish: a walk from the bootstrap alone may stop at a stale holder
    if (this.closed) return undefined;
    const asked = Buffer.from(key);
    const verify = (sig: unknown, message: Buffer, k: unknown): boolean => {
      if (!Buffer.isBuffer(k) || !k.equals(asked)) {
        this.policy.reject('foreign-key');
        return false;
      }
      if (!Buffer.isBuffer(sig) || !verifyDetached(k, message, sig)) {
        this.policy.reject('signature');
        return false;
      }
      return true;
    };
    return new Promise((resolve) => {
      this.dht.get(mutableTarget(asked), { salt: SALT, verify, cache: false }, (err, res) => {
        const verdict = err || !res ? undefined : this.judge(asked, res);
        if (!verdict?.ok) this.stats.notFound++;
        resolve(verdict?.ok ? verdict : undefined);
      });
    });
  }

  private judge(asked: Buffer, res: DhtGetResult): Verdict {
    const { k, sig, seq, salt, v } = res;
    if (!Buffer.isBuffer(k) || !Buffer.isBuffer(sig) || !Buffer.isBuffer(v) || !validSeq(seq))
      return this.policy.reject('malformed');
    return this.policy.judge(asked, {
      k,
      sig,
      v,
      seq,
      salt: Buffer.isBuffer(salt) ? salt : undefined,
    });
  }

  close(): Promise<void> {
    this.closed = true;
    this.endJoinWait();
    return new Promise((resolve) => this.dht.destroy(() => resolve()));
  }

  /**
   * bittorrent-dht's query handlers trust field types (a `put` whose `k` is
   * a number throws inside the socket's 'message' handler, which would
   * take the process down). Wrap the one entry point so such a query is
   * counted and dropped instead.
   */
  private guardQueries(): void {
    const inner = this.dht as unknown as { _onquery(query: unknown, peer: unknown): void };
    const original = inner._onquery.bind(inner);
    inner._onquery = (query, peer) => {
      try {
        original(query, peer);
      } catch {
        this.stats.badMessages++;
      }
    };
  }
}
