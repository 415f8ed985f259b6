import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    // Network tests share two cores: keep files in one worker pool of two and
    // never let a single test hang the run.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // One file at a time: the network-heavy files (real UDP under loss, the
    // fuzzer, the NAT lab, real terminals) would otherwise compete for the
    // two cores and turn timing into flakiness.
    fileParallelism: false,
    // No test may contact the default public STUN servers: every process the
    // tests start inherits this (tests that want STUN name the lab's server).
    // Likewise no public DHT router and no multicast on real interfaces
    // (tests that want them name a private DHT or build namespaces).
    env: { SRMUDP_STUN: 'none', SRMUDP_DHT: 'none', SRMUDP_MDNS: 'off' },
    maxWorkers: 2,
  },
});
