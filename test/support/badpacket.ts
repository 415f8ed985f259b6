import { expect } from 'vitest';
import { BadPacket, type DropReason } from '../../source/net/core/errors.js';

/** Runs `fn`, asserts it threw a BadPacket (with `reason`, if given) and returns it. */
export function expectBadPacket(fn: () => unknown, reason?: DropReason): BadPacket {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(BadPacket);
  const bad = caught as BadPacket;
  if (reason !== undefined) expect(bad.reason).toBe(reason);
  return bad;
}

/** What `fn` threw: a BadPacket's reason, 'none', or 'other'. Cheap enough for hot loops. */
export function outcome(fn: () => unknown): DropReason | 'none' | 'other' {
  try {
    fn();
    return 'none';
  } catch (err) {
    return err instanceof BadPacket ? err.reason : 'other';
  }
}
