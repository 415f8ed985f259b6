import { describe, expect, it } from 'vitest';
import { checkProfile, type ProfileWatch } from '../../source/app/profilewatch.js';

function watch(exists: boolean, keep: () => Promise<unknown> = async () => true) {
  const calls: string[] = [];
  const w: ProfileWatch = {
    identityPath: '/profile/identity.json',
    exists: (p) => {
      calls.push(`exists ${p}`);
      return exists;
    },
    keepIdentity: async () => {
      calls.push('keep');
      return keep();
    },
    restoreKnown: () => calls.push('restore'),
    say: (t) => calls.push(`say ${t}`),
    fail: (t) => calls.push(`fail ${t}`),
  };
  return { w, calls };
}

describe('checkProfile', () => {
  it('does nothing while the identity file is there', async () => {
    const { w, calls } = watch(true);
    expect(await checkProfile(w)).toBe(false);
    expect(calls).toEqual(['exists /profile/identity.json']);
  });

  it('writes the key back, then the known peers, and says so when the file is gone', async () => {
    const { w, calls } = watch(false);
    expect(await checkProfile(w)).toBe(true);
    expect(calls.slice(1, 3)).toEqual(['keep', 'restore']);
    expect(calls[3]).toMatch(
      /^say the identity file \/profile\/identity\.json was deleted while the chat ran: .*fingerprint stays the same$/,
    );
    expect(calls).toHaveLength(4);
  });

  it('a write that fails is an error line naming the file and why, and nothing else is written', async () => {
    const { w, calls } = watch(false, async () => {
      throw new Error('EACCES');
    });
    expect(await checkProfile(w)).toBe(false);
    expect(calls.slice(1)).toEqual([
      'keep',
      'fail the identity file /profile/identity.json was deleted while the chat ran and could not be written again: EACCES',
    ]);
  });
});
