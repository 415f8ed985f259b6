import type { MessagePort } from 'node:worker_threads';
import type {
  BindOptions,
  PeerAddress,
  PeerChange,
  PeerInfo,
  SendOptions,
  SocketStats,
  StunInfo,
} from '../index.js';
import { BadPacket, TransportError, UsageError } from '../index.js';

type TransportErrorCode = TransportError['code'];

/**
 * The messages between the chat's main thread and the worker that owns its
 * MultiHolepunchSocket (socketworker.ts, remotesocket.ts). Everything here
 * must survive structured cloning: plain data, bytes as Uint8Array (a Buffer
 * arrives as a Uint8Array anyway), errors as WireError.
 */

/** An error as data: re-created on the other side with its class and code. */
export interface WireError {
  name: string;
  message: string;
  code?: string;
  reason?: string;
}

/** The options the worker binds with (BindOptions minus what cannot be cloned). */
export type WorkerBindOptions = Omit<BindOptions, 'identity'>;

/**
 * Messages handed to the main thread and not yet read there, at most. The
 * worker acknowledges every message to the peer at once, so a stalled main
 * thread no longer slows the sender: past this the worker discards messages
 * (counted in stats, reported once per overflow), as the socket's own
 * receive queue does (BindOptions.receiveQueueLimit / receiveQueueBytes).
 */
export interface UnreadLimit {
  messages: number;
  bytes: number;
}

export const DEFAULT_UNREAD_LIMIT: UnreadLimit = { messages: 10_000, bytes: 32 * 1024 * 1024 };

/** What the worker is given at start (workerData). */
export interface WorkerStart {
  bind: WorkerBindOptions;
  unread: UnreadLimit;
  /** The sync-call channel: the worker answers on it, then wakes the caller (see remotesocket.ts). */
  syncPort: MessagePort;
  /** Int32Array over a SharedArrayBuffer: slot 0 is 1 once a sync answer is posted. */
  syncFlag: SharedArrayBuffer;
}

/** Peers as of one moment; `version` grows so an older snapshot never replaces a newer one. */
export interface PeersSnapshot {
  version: number;
  peers: PeerInfo[];
}

/** Methods that return a promise: sent as requests, answered by id. */
export interface AsyncMethods {
  send: [content: Uint8Array, opts: SendOptions];
  addPeers: [peers: Record<string, PeerAddress>];
  trustNewKey: [nick: string];
  startStun: [servers: string[], rto?: number];
  keepIdentityFile: [];
  close: [];
}

/** Methods the chat calls synchronously (some throw synchronously): answered over the sync channel. */
export interface SyncMethods {
  removePeer: [nick: string];
  block: [nickOrFingerprint: string];
  unblock: [fingerprint: string];
  isBlocked: [fingerprint: string];
  pinnedFingerprint: [nick: string];
  invite: [opts: { addresses?: boolean }];
}

export type AsyncMethod = keyof AsyncMethods;
export type SyncMethod = keyof SyncMethods;

/** Main thread → worker: a call, answered by `id`. */
export type CallRequest = {
  [M in AsyncMethod]: { type: 'call'; id: number; method: M; args: AsyncMethods[M] };
}[AsyncMethod];

/** Main thread → worker: a call, or how many handed-over messages (and bytes) it has read. */
export type Request = CallRequest | { type: 'read'; messages: number; bytes: number };

export type SyncRequest = {
  [M in SyncMethod]: { type: 'sync'; seq: number; method: M; args: SyncMethods[M] };
}[SyncMethod];

/**
 * `seq` echoes the request's: a reply that came after its caller gave up is
 * told apart. `stats` (see 'reply') rides along on user commands.
 */
export type SyncReply =
  | {
      seq: number;
      ok: true;
      value: string | boolean | undefined;
      snapshot: PeersSnapshot;
      stats?: SocketStats;
    }
  | { seq: number; ok: false; error: WireError; snapshot: PeersSnapshot; stats?: SocketStats };

/** A received message as handed to the main thread (batched: one post per worker turn). */
export interface HandedMessage {
  content: Uint8Array;
  peer: string;
  timestamp: number;
  stream: number;
}

/** Worker → main thread. */
export type WorkerMessage =
  | {
      type: 'ready';
      fingerprint: string;
      localAddress: { address: string; port: number };
      stats: SocketStats;
      stunInfo: StunInfo | undefined;
      snapshot: PeersSnapshot;
    }
  | { type: 'bind-failed'; error: WireError }
  /**
   * `stats` as of the reply, on every call but send(): what a command just
   * changed (a name now looked up by key, in stats().discovery) is seen by
   * the next command, not only after the next 250 ms tick.
   */
  | { type: 'reply'; id: number; ok: true; snapshot: PeersSnapshot; stats?: SocketStats }
  | {
      type: 'reply';
      id: number;
      ok: false;
      error: WireError;
      snapshot: PeersSnapshot;
      stats?: SocketStats;
    }
  | { type: 'messages'; list: HandedMessage[] }
  | { type: 'peer'; peer: PeerInfo; change: PeerChange; snapshot: PeersSnapshot }
  | { type: 'stun'; info: StunInfo }
  | { type: 'stats'; stats: SocketStats; snapshot: PeersSnapshot }
  | { type: 'error'; error: WireError };

export function toWireError(err: unknown): WireError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const out: WireError = { name: err.name, message: err.message };
  if (err instanceof TransportError) out.code = err.code;
  if (err instanceof BadPacket) out.reason = err.reason;
  return out;
}

/**
 * The error again, with its class: the chat blames the user for a
 * UsageError and the network for a TransportError, by class and code.
 */
export function fromWireError(e: WireError): Error {
  switch (e.name) {
    case 'UsageError':
      return new UsageError(e.message);
    case 'TransportError':
      return new TransportError(e.message, (e.code ?? 'socket') as TransportErrorCode);
    default: {
      const err = new Error(e.message);
      if (e.name !== 'Error') err.name = e.name;
      return err;
    }
  }
}

/**
 * The bytes of `data` alone. Cloning a view clones its whole ArrayBuffer, and
 * a Buffer is often a view into an 8 KiB pool or a larger datagram.
 */
export function ownBytes(data: Uint8Array): Uint8Array {
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) return data;
  return new Uint8Array(data);
}
