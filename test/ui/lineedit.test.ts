import type { Key } from 'ink';
import { describe, expect, it } from 'vitest';
import { EMPTY, edit, type Line } from '../../source/ui/lineedit.js';

const none: Key = {
  upArrow: false,
  downArrow: false,
  leftArrow: false,
  rightArrow: false,
  pageDown: false,
  pageUp: false,
  home: false,
  end: false,
  return: false,
  escape: false,
  ctrl: false,
  shift: false,
  tab: false,
  backspace: false,
  delete: false,
  meta: false,
  super: false,
  hyper: false,
  capsLock: false,
  numLock: false,
};

function type(line: Line, input: string, key: Partial<Key> = {}): Line {
  const r = edit(line, input, { ...none, ...key });
  if (r.kind !== 'edit') throw new Error(`not an edit: ${r.kind}`);
  return r.line;
}

describe('edit', () => {
  it('inserts at the cursor and moves it', () => {
    let l = type(EMPTY, 'helo');
    l = type(l, '', { leftArrow: true });
    l = type(l, 'l');
    expect(l).toEqual({ value: 'hello', cursor: 4 });
  });

  it('deletes before the cursor, by character and by word', () => {
    let l = type(EMPTY, 'one two 😀');
    l = type(l, '', { backspace: true });
    expect(l).toEqual({ value: 'one two ', cursor: 8 });
    l = type(l, 'w', { ctrl: true });
    expect(l).toEqual({ value: 'one ', cursor: 4 });
    l = type(l, 'u', { ctrl: true });
    expect(l).toEqual({ value: '', cursor: 0 });
  });

  it('moves home and end', () => {
    let l = type(EMPTY, 'abc');
    l = type(l, 'a', { ctrl: true });
    expect(l.cursor).toBe(0);
    l = type(l, '', { end: true });
    expect(l.cursor).toBe(3);
  });

  it('keeps control characters out of the line', () => {
    expect(type(EMPTY, 'a\x1b[31mb\u202ec')).toEqual({ value: 'a[31mbc', cursor: 7 });
  });

  it('submits on Enter and leaves Tab, arrows and paging to the caller', () => {
    expect(edit({ value: 'hi', cursor: 1 }, '\r', { ...none, return: true })).toEqual({
      kind: 'submit',
      text: 'hi',
    });
    for (const k of ['tab', 'upArrow', 'downArrow', 'pageUp', 'pageDown'] as const) {
      expect(edit(EMPTY, '', { ...none, [k]: true }).kind).toBe('other');
    }
  });
});
