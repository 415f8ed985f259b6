/**
 * The part of udx-native 1.21 (CommonJS, no shipped types) the benchmark
 * uses. Streams are streamx Duplexes; only the members called here are
 * declared.
 */
declare module 'udx-native' {
  import type { EventEmitter } from 'node:events';

  namespace UDX {
    interface Address {
      host: string;
      family: number;
      port: number;
    }

    interface Socket extends EventEmitter {
      bind(port?: number, host?: string): void;
      address(): Address | null;
      /** Resolves once every stream on the socket has closed. */
      close(): Promise<void>;
      setRecvBufferSize(size: number): number;
      setSendBufferSize(size: number): number;
      getRecvBufferSize(): number;
      getSendBufferSize(): number;
      readonly packetsDroppedByKernel: number;
    }

    interface StreamOptions {
      /**
       * Deliver whole frames with a 3-byte little-endian length prefix (the
       * secret-stream framing) in one 'data' event where they fit, instead of
       * one event per packet. hyperdht makes its raw streams this way.
       */
      framed?: boolean;
    }

    /** A reliable, ordered byte stream between two stream ids (emits 'data', 'drain', 'error', 'close'). */
    interface Stream extends EventEmitter {
      readonly id: number;
      /** Current packet size limit (path MTU as libudx counts it). */
      readonly mtu: number;
      /** Smoothed RTT, ms. */
      readonly rtt: number;
      readonly cwnd: number;
      readonly retransmits: number;
      readonly rtoCount: number;
      readonly fastRecoveries: number;
      readonly packetsTransmitted: number;
      /** UDP payload bytes sent, udx header included. */
      readonly bytesTransmitted: number;
      readonly destroyed: boolean;
      connect(socket: Socket, remoteId: number, port: number, host: string): void;
      write(data: Uint8Array): boolean;
      /** Resolves once everything written so far is acknowledged by the peer. */
      flush(): Promise<boolean>;
      destroy(err?: Error): void;
    }
  }

  class UDX {
    createSocket(): UDX.Socket;
    createStream(id: number, opts?: UDX.StreamOptions): UDX.Stream;
  }

  export = UDX;
}
