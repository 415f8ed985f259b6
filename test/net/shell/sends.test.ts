/**
 * Pending sends (shell/sends.ts): each send settles exactly once, when its
 * last recipient acknowledged, or fails; what is held for them is bounded
 * by what is pending, and the per-delivery path allocates no arrays or
 * closures (issue 16: the 1 KiB ping-pong's per-trip allocations).
 */
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Endpoint } from '../../../source/net/core/endpoint.js';
import { Sends } from '../../../source/net/shell/sends.js';

/** The four Endpoint calls Sends makes; message ids rise as the endpoint's do. */
function fakeEndpoint(nicks: string[]): Endpoint {
  let next = 1;
  const fake = {
    sendMessage: (recipients: readonly string[] | undefined) => ({
      id: next++,
      peers: (recipients ?? nicks).map((nick) => ({ id: nicks.indexOf(nick) + 1, nick })),
    }),
    connectedNicks: () => nicks,
    totalQueuedBytes: () => 0,
    queuedBytes: () => 0,
  };
  return fake as unknown as Endpoint;
}

function settled(p: Promise<void>): { state: 'pending' | 'ok' | string } {
  const s = { state: 'pending' as 'pending' | 'ok' | string };
  p.then(
    () => {
      s.state = 'ok';
    },
    (e: Error & { code?: string }) => {
      s.state = e.code ?? e.message;
    },
  );
  return s;
}

const tick = () => new Promise((r) => setImmediate(r));

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('Sends', () => {
  it('settles each send when its last recipient acknowledged, in any order, exactly once', async () => {
    const sends = new Sends(fakeEndpoint(['a', 'b']), () => {});
    const s = Array.from({ length: 6 }, () =>
      settled(sends.send(['a', 'b'], new Uint8Array(10), 60_000)),
    );
    // Out of order, and a duplicate acknowledgement: ids 1..6, peers 1 (a) and 2 (b).
    for (const [id, peer] of [
      [3, 1],
      [1, 2],
      [3, 2],
      [3, 2],
      [1, 1],
      [6, 1],
      [5, 2],
      [6, 2],
    ] as const)
      sends.delivered(id, peer);
    await tick();
    expect(s.map((x) => x.state)).toEqual(['ok', 'pending', 'ok', 'pending', 'pending', 'ok']);
    expect(sends.pending.size).toBe(3);
    sends.undeliverable(2, 'a', 'gone');
    sends.delivered(4, 1);
    sends.delivered(4, 2);
    sends.delivered(5, 1);
    sends.delivered(2, 1); // settled already: ignored
    await tick();
    expect(s.map((x) => x.state)).toEqual(['ok', 'undeliverable', 'ok', 'ok', 'ok', 'ok']);
    expect(sends.pending.size).toBe(0);
    // Nothing pending, nothing held.
    expect(sends.pending.slotsHeld).toBe(0);
  });

  it('holds slots for what is pending only, however long it runs', async () => {
    const sends = new Sends(fakeEndpoint(['a']), () => {});
    let peak = 0;
    const ok: { state: string }[] = [];
    // 20,000 sends, acknowledged 10 behind, and every tenth one 35 behind.
    for (let i = 1; i <= 20_000; i++) {
      ok.push(settled(sends.send(['a'], new Uint8Array(1), 60_000)));
      if (i > 10 && (i - 10) % 10 !== 0) sends.delivered(i - 10, 1);
      if (i > 35 && (i - 35) % 10 === 0) sends.delivered(i - 35, 1);
      peak = Math.max(peak, sends.pending.slotsHeld);
    }
    for (let id = 1; id <= 20_000; id++) sends.delivered(id, 1);
    await tick();
    expect(ok.every((x) => x.state === 'ok')).toBe(true);
    expect(sends.pending.slotsHeld).toBe(0);
    // A late ack keeps the settled records after it (≈ 35 here); the settled
    // prefix is dropped once past 1024 slots and half the array.
    expect(peak).toBeLessThan(2100);
    // Compaction work stays linear in the sends (each slot moved O(1) times).
    expect(sends.pending.compactWork).toBeLessThan(2 * 20_000);
  });

  it('a delivery allocates no array and makes no closure (no splice, no findIndex)', async () => {
    const sends = new Sends(fakeEndpoint(['a', 'b', 'c']), () => {});
    const all = Array.from({ length: 50 }, () =>
      settled(sends.send(undefined, new Uint8Array(1), 60_000)),
    );
    const splice = vi.spyOn(Array.prototype, 'splice');
    const findIndex = vi.spyOn(Array.prototype, 'findIndex');
    try {
      for (let id = 1; id <= 50; id++) for (const peer of [2, 3, 1]) sends.delivered(id, peer);
      expect(splice).not.toHaveBeenCalled();
      expect(findIndex).not.toHaveBeenCalled();
    } finally {
      splice.mockRestore();
      findIndex.mockRestore();
    }
    await tick();
    expect(all.every((x) => x.state === 'ok')).toBe(true);
  });

  it('rejects at the deadline with the recipients that did not acknowledge, and all at close', async () => {
    // sends.ts reads node:perf_hooks' performance, which fake timers leave alone.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.spyOn(performance, 'now').mockImplementation(() => Date.now());
    const sends = new Sends(fakeEndpoint(['a', 'b']), () => {});
    const failures: string[] = [];
    const early = sends.send(['a', 'b'], new Uint8Array(1), 1000).catch((e: Error) => {
      failures.push(e.message);
    });
    const late = settled(sends.send(['a'], new Uint8Array(1), 5000));
    sends.delivered(1, 1);
    await vi.advanceTimersByTimeAsync(1001);
    await early;
    expect(failures).toEqual(['not acknowledged within 1000 ms by: b (delivery unknown)']);
    expect(late.state).toBe('pending');
    sends.close();
    await vi.advanceTimersByTimeAsync(0);
    expect(late.state).toBe('closed');
    expect(sends.pending.slotsHeld).toBe(0);
  });
});
