import { configDefaults, defineConfig } from 'vitest/config';

/**
 * The tests mutation testing runs (`npm run mutate`, stryker.config.mjs): the
 * unit and virtual-clock tests of the transport. Not the real-UDP, child
 * process, lab or end-to-end tests: they are slow, share the machine's two
 * cores with everything else, and are not deterministic.
 */
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    // Unit tests, plus the focused virtual-clock scenarios (lifecycle,
    // security). Not the long simulations (chaos's 60,000 messages, floods,
    // many-seed NAT runs): each would run once per mutant it covers and turn a
    // module's run into hours; the units cover the same code more directly.
    include: [
      'test/net/core/**/*.test.ts',
      'test/net/crypto/**/*.test.ts',
      'test/net/wire/**/*.test.ts',
      'test/net/recovery/**/*.test.ts',
      'test/net/store/**/*.test.ts',
      'test/net/lifecycle.test.ts',
      'test/net/security.test.ts',
    ],
    // Its permission test runs a child as another uid (nobody), which cannot
    // read Stryker's sandbox (created mode 0700), so the dry run fails; the
    // key file is not in the mutation scope, identity.ts has its own tests.
    exclude: [...configDefaults.exclude, 'test/net/store/identityfile.test.ts'],
    testTimeout: 60_000,
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    env: { SRMUDP_STUN: 'none' },
  },
});
