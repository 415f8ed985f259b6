/**
 * Mutation testing of the transport's core (`npm run mutate`; not in CI).
 * One module at a time on a shared machine:
 *   npm run mutate -- --mutate source/net/core/conn/replay.ts
 * Survivors are recorded in test/mutation-survivors.md.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'test/mutation/vitest.config.ts', related: true },
  // The scope: crypto, replay window, cookies, session keys and rekey,
  // packet and frame codecs, recovery, streams and reassembly, the peer
  // state machine and trust decisions. pages.ts is the streams' reassembly
  // store; streamlimits.ts the window both halves agree on.
  mutate: [
    'source/net/crypto/{noise,cipher,identity}.ts',
    'source/net/core/conn/{replay,session,sendstream,recvstream,streamlimits,pages}.ts',
    'source/net/core/handshake/cookies.ts',
    'source/net/wire/{packet,frames,reader}.ts',
    'source/net/recovery/{rtt,loss,sentlog,congestion,rangeset}.ts',
    'source/net/core/peers/*.ts',
    'source/net/store/truststore.ts',
  ],
  // TypeScript 7 (the native compiler) has no JS API for Stryker's tsconfig
  // rewriting; nothing needs it (vitest transpiles, no type checker runs), so
  // point it at a file that does not exist.
  tsconfigFile: '.scratch/no-tsconfig.json',
  coverageAnalysis: 'perTest',
  concurrency: 1,
  // Added to each mutant's expected time: a mutant that loops forever is
  // counted (as a timeout, i.e. detected) without waiting long.
  timeoutMS: 10_000,
  reporters: ['clear-text', 'progress', 'json'],
  jsonReporter: { fileName: '.scratch/mutation/mutation.json' },
  tempDirName: '.scratch/stryker-tmp',
  cleanTempDir: 'always',
};
