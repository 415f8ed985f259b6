/**
 * The part of @hyperswarm/secret-stream 6.9 (CommonJS, no shipped types)
 * the benchmark uses: a Noise XX handshake, then libsodium secretstream
 * (XChaCha20-Poly1305) over any raw duplex, here a udx-native stream.
 */
declare module '@hyperswarm/secret-stream' {
  import type { EventEmitter } from 'node:events';
  import type UDX from 'udx-native';

  namespace NoiseSecretStream {
    interface KeyPair {
      publicKey: Buffer;
      secretKey: Buffer;
    }

    interface Options {
      keyPair?: KeyPair;
    }
  }

  /** Emits 'data' (one decrypted message per write on the other side), 'drain', 'error', 'close'. */
  class NoiseSecretStream extends EventEmitter {
    constructor(isInitiator: boolean, rawStream: UDX.Stream, opts?: NoiseSecretStream.Options);
    static keyPair(seed?: Buffer): NoiseSecretStream.KeyPair;
    /** Resolves true once the handshake completed, false if the stream was destroyed first. */
    readonly opened: Promise<boolean>;
    readonly rawStream: UDX.Stream;
    readonly destroyed: boolean;
    write(data: Uint8Array): boolean;
    flush(): Promise<boolean>;
    destroy(err?: Error): void;
  }

  export = NoiseSecretStream;
}
