import { describe, expect, it } from 'vitest';
import { describeState, fingerprint, shortFingerprint } from '../../../source/index.js';

/** One wording for a peer's state, the library's, which the chat shows too. */
describe('describeState', () => {
  const key = Buffer.alloc(32, 7);
  const expected = fingerprint(key);
  const got = fingerprint(Buffer.alloc(32, 9));

  it('words every state once', () => {
    expect(describeState({ kind: 'connected', since: 0 })).toBe('connected');
    expect(describeState({ kind: 'connecting', since: 0, attempt: 0 })).toBe('connecting');
    expect(describeState({ kind: 'connecting', since: 0, attempt: 3 })).toBe(
      'connecting (attempt 3)',
    );
    expect(describeState({ kind: 'unreachable', since: 0, reason: 'no answer' })).toBe(
      'unreachable: no answer',
    );
    expect(
      describeState({
        kind: 'disconnected',
        since: 0,
        reason: 'closed',
        cause: { kind: 'remote', code: 0 },
      }),
    ).toBe('disconnected: closed');
  });

  it('names both keys of a mismatch by their short fingerprints', () => {
    expect(describeState({ kind: 'key-mismatch', since: 0, expected, got })).toBe(
      `KEY CHANGED: expected ${shortFingerprint(key)}, got ${got.slice(0, 8)}`,
    );
  });

  it('shortens a fingerprint given as text the same way as one given as a key', () => {
    expect(shortFingerprint(expected)).toBe(shortFingerprint(key));
    expect(shortFingerprint(expected)).toHaveLength(8);
  });
});
