/**
 * Allocation per round trip, in one process: two of our sockets on
 * 127.0.0.1 ping-pong a 1 KiB message, and we read how much the heap (V8
 * heap plus ArrayBuffer backing stores, so the buffers of received datagrams
 * count) grows over many round trips between forced collections.
 *
 * Started with --expose-gc and a large young generation so that few
 * collections run while we count; those that do are accounted for with
 * v8.GCProfiler (the heap before and after each), so growth summed between
 * collections is what was allocated. Each count also reports what was still
 * retained after the next forced collection (growth there would be a leak).
 *
 * The harness allocates nothing per trip of its own beyond the promise send()
 * returns and its .catch: the same message buffer goes out every trip (its
 * bytes never change, so a retransmission of an earlier trip is identical),
 * the echo sends back the received content, and the next ping is sent from
 * the delivery hook itself.
 */
import { Session } from 'node:inspector/promises';
import { GCProfiler, getHeapStatistics } from 'node:v8';
import { MultiHolepunchSocket } from '../../source/net/shell/socket.js';
import { serve } from '../ipc.js';

const HOST = '127.0.0.1';

function collect(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  gc();
  gc();
}

/** V8 heap in use and ArrayBuffer backing stores (Buffers), bytes. */
interface Heap {
  heap: number;
  external: number;
}

const now = (): Heap => {
  const h = getHeapStatistics();
  return { heap: h.used_heap_size, external: h.external_memory };
};

interface GcHeap {
  usedHeapSize: number;
  externalMemory: number;
}
interface GcStat {
  beforeGC: { heapStatistics: GcHeap };
  afterGC: { heapStatistics: GcHeap };
}

/**
 * Bytes allocated from `start` to `end`: growth between collections, summed.
 * A collection that does run (V8 starts incremental marking on external
 * memory pressure, whatever the young generation's size) frees garbage we
 * would otherwise miss; GCProfiler gives the heap before and after each.
 */
function allocated(start: Heap, gcs: readonly GcStat[], end: Heap): Heap {
  let prev = start;
  const sum = { heap: 0, external: 0 };
  for (const g of gcs) {
    const b = g.beforeGC.heapStatistics;
    const a = g.afterGC.heapStatistics;
    sum.heap += b.usedHeapSize - prev.heap;
    sum.external += b.externalMemory - prev.external;
    prev = { heap: a.usedHeapSize, external: a.externalMemory };
  }
  sum.heap += end.heap - prev.heap;
  sum.external += end.external - prev.external;
  return sum;
}

export interface AllocResult {
  trips: number;
  /** Allocated per round trip, both ends, bytes: V8 heap + ArrayBuffer backing stores. */
  bytesPerTrip: number;
  heapPerTrip: number;
  externalPerTrip: number;
  /** Collections that ran while counting (accounted for, see allocated()). */
  gcsDuring: number;
  /** Growth still there after a forced collection, per trip (a leak if large). */
  retainedPerTrip: number;
}

async function pair(): Promise<{ a: MultiHolepunchSocket; b: MultiHolepunchSocket }> {
  const a = await MultiHolepunchSocket.bind({ host: HOST, port: 0, nick: 'a' });
  const b = await MultiHolepunchSocket.bind({ host: HOST, port: 0, nick: 'b' });
  await a.addPeers({ b: `${HOST}:${b.localAddress().port}` });
  await a.waitForPeer('b', { timeout: 10_000 });
  return { a, b };
}

/** `trips` round trips, each sent from the previous one's delivery; resolves after the last. */
function run(a: MultiHolepunchSocket, msg: Buffer, trips: number): Promise<void> {
  const ignore = () => {};
  return new Promise((resolve) => {
    let left = trips;
    const unhook = a.addHook(() => {
      if (--left === 0) {
        unhook();
        resolve();
      } else a.send(msg, { recipient: 'b' }).catch(ignore);
    });
    a.send(msg, { recipient: 'b' }).catch(ignore);
  });
}

async function count(ping: MultiHolepunchSocket, msg: Buffer, trips: number): Promise<AllocResult> {
  collect();
  const profiler = new GCProfiler();
  const before = now();
  profiler.start();
  await run(ping, msg, trips);
  const after = now();
  const gcs = (profiler.stop()?.statistics ?? []) as unknown as GcStat[];
  collect();
  const retained = now();
  const got = allocated(before, gcs, after);
  return {
    trips,
    bytesPerTrip: (got.heap + got.external) / trips,
    heapPerTrip: got.heap / trips,
    externalPerTrip: got.external / trips,
    gcsDuring: gcs.length,
    retainedPerTrip: (retained.heap + retained.external - before.heap - before.external) / trips,
  };
}

const api = {
  async measure(a: { trips: number; warmup: number; size: number }): Promise<AllocResult> {
    const { a: ping, b: echo } = await pair();
    try {
      echo.addHook((m) => {
        echo.send(m.content, { recipient: m.peer }).catch(() => {});
      });
      const msg = Buffer.alloc(a.size, 0x33);
      await run(ping, msg, a.warmup);
      // Let the last ACKs land so the count starts from a quiet connection.
      await new Promise((r) => setTimeout(r, 50));
      // External memory freed by a collection shows up late (backing stores
      // are swept concurrently), so a count with no collection in it is
      // exact and preferred; a few tries usually give one.
      let best: AllocResult | undefined;
      for (let attempt = 0; attempt < 5 && best?.gcsDuring !== 0; attempt++) {
        best = await count(ping, msg, a.trips);
      }
      return best!;
    } finally {
      await Promise.all([ping.close(), echo.close()]);
    }
  },

  /** Top allocation sites over `trips` round trips (profiling; not part of `npm run bench`). */
  async sites(a: {
    trips: number;
    warmup: number;
    size: number;
  }): Promise<{ site: string; bytesPerTrip: number }[]> {
    const { a: ping, b: echo } = await pair();
    try {
      echo.addHook((m) => {
        echo.send(m.content, { recipient: m.peer }).catch(() => {});
      });
      const msg = Buffer.alloc(a.size, 0x33);
      await run(ping, msg, a.warmup);
      return await allocationSites(ping, msg, a.trips);
    } finally {
      await Promise.all([ping.close(), echo.close()]);
    }
  },
};

interface SampleNode {
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  selfSize: number;
  children: SampleNode[];
}

/**
 * Where the bytes of `trips` round trips are allocated: V8's sampling heap
 * profiler with collected objects kept (the default drops garbage, which is
 * all we care about here), summed by function and line, bytes per trip.
 * ArrayBuffer backing stores are not on the V8 heap and do not show here.
 */
async function allocationSites(
  ping: MultiHolepunchSocket,
  msg: Buffer,
  trips: number,
): Promise<{ site: string; bytesPerTrip: number }[]> {
  const session = new Session();
  session.connect();
  try {
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 256,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    await run(ping, msg, trips);
    const { profile } = (await session.post('HeapProfiler.stopSampling')) as unknown as {
      profile: { head: SampleNode };
    };
    const sites = new Map<string, number>();
    const walk = (n: SampleNode, caller: string): void => {
      const f = n.callFrame;
      const file = f.url.replace(/^.*\/(source|node_modules|bench)\//, '$1/');
      const here = `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
      // Node internals are charged to our function that called them.
      const site = f.url.startsWith('node:') || f.url === '' ? `${here} <- ${caller}` : here;
      if (n.selfSize > 0) sites.set(site, (sites.get(site) ?? 0) + n.selfSize);
      for (const c of n.children)
        walk(c, f.url.startsWith('node:') || f.url === '' ? caller : here);
    };
    walk(profile.head, '(root)');
    return [...sites]
      .sort((x, y) => y[1] - x[1])
      .slice(0, 30)
      .map(([site, bytes]) => ({ site, bytesPerTrip: bytes / trips }));
  } finally {
    session.disconnect();
  }
}

export type AllocApi = typeof api;

serve(api);
