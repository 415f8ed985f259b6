/**
 * The part of bittorrent-dht (11.x, BEP 5 + BEP 44) that discovery uses; the
 * package ships no types. What comes back from the network is typed
 * `unknown`, so every caller has to check it.
 */
declare module 'bittorrent-dht' {
  import { EventEmitter } from 'node:events';

  export interface DhtContact {
    host: string;
    port: number;
  }

  /** Ed25519 verification, as the library calls it: (signature, signed bytes, public key). */
  export type DhtVerify = (signature: unknown, message: Buffer, publicKey: unknown) => boolean;

  export interface DhtOptions {
    /** Never leave this undefined: the library then uses the public routers. */
    bootstrap: false | string[];
    nodeId?: Buffer;
    /** Used for items others put to us, and by default for get. */
    verify?: DhtVerify;
    /** Query timeout in ms (k-rpc-socket; default 2000). */
    timeout?: number;
    /** Items stored for others (default 1000). */
    maxValues?: number;
    /** Our own address for announce; false to leave it out. */
    host?: string | false;
  }

  export interface DhtPutMutable {
    k: Buffer;
    v: Buffer;
    seq: number;
    salt?: Buffer;
    sign: (signedData: Buffer) => Buffer;
  }

  export interface DhtGetOptions {
    salt?: Buffer;
    verify?: DhtVerify;
    /** false: ask the network even when this node stores the item. */
    cache?: boolean;
  }

  /** A reply's `r` dictionary, as received: hostile. */
  export interface DhtGetResult {
    v?: unknown;
    k?: unknown;
    sig?: unknown;
    seq?: unknown;
    salt?: unknown;
  }

  export default class DHT extends EventEmitter {
    constructor(opts: DhtOptions);
    readonly nodeId: Buffer;
    readonly listening: boolean;
    readonly destroyed: boolean;
    readonly ready?: boolean;
    listen(port: number, host: string, onListening?: () => void): void;
    address(): { address: string; family: string; port: number };
    /** Stores a mutable item on the nodes closest to its target; `n` = nodes that took it. */
    put(opts: DhtPutMutable, cb: (err: Error | null, target: Buffer, n: number) => void): Buffer;
    get(
      target: Buffer,
      opts: DhtGetOptions,
      cb: (err: Error | null, res: DhtGetResult | null) => void,
    ): void;
    addNode(node: DhtContact): void;
    toJSON(): { nodes: DhtContact[] };
    destroy(cb?: () => void): void;
  }
}
