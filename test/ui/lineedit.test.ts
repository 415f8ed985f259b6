import { describe, expect, it } from 'vitest';
import { type KeyPress, parseKeys } from '../../source/ui/keys.js';
import { EMPTY, edit, type Line } from '../../source/ui/lineedit.js';

/** The line after typing `keys` (raw terminal bytes, one read) into `line`. */
function type(keys: string, line: Line = EMPTY): Line {
  let l = line;
  for (const k of parseKeys(keys)) {
    const r = edit(l, k);
    if (r.kind === 'edit') l = r.line;
  }
  return l;
}

const press = (k: Partial<KeyPress>): KeyPress => ({
  name: 'text',
  text: '',
  ctrl: false,
  meta: false,
  shift: false,
  ...k,
});

describe('edit', () => {
  it('inserts at the cursor and moves it', () => {
    expect(type('helo\x1b[Dl')).toEqual({ value: 'hello', cursor: 4 });
  });

  it('applies every key of a batched read in order', () => {
    expect(type('tyop\x7f\x7fpo')).toEqual({ value: 'typo', cursor: 4 });
  });

  it('deletes before the cursor by cluster, and by word', () => {
    expect(type('one two 👩‍👩‍👧\x7f')).toEqual({ value: 'one two ', cursor: 8 });
    expect(type('one two e\u0301\x7f').value).toBe('one two ');
    expect(type('one two \x17')).toEqual({ value: 'one ', cursor: 4 });
    expect(type('one two\x15')).toEqual({ value: '', cursor: 0 });
    // Alt+Backspace stops at punctuation, Ctrl+W only at spaces.
    expect(type('see /msg bob\x1b\x7f').value).toBe('see /msg ');
    expect(type('a path/to/x\x17').value).toBe('a ');
    expect(type('a path/to/x\x1b\x7f').value).toBe('a path/to/');
  });

  it('deletes after the cursor: Delete, Ctrl+D, Alt+D, Ctrl+K', () => {
    const at0 = { value: '🇯🇵 one two', cursor: 0 };
    expect(type('\x1b[3~', at0).value).toBe(' one two');
    expect(type('\x04', at0).value).toBe(' one two');
    expect(type('\x1bd', at0)).toEqual({ value: ' two', cursor: 0 });
    expect(type('\x1b[3;5~', at0)).toEqual({ value: ' two', cursor: 0 });
    expect(type('\x1b[C\x0b', at0)).toEqual({ value: '🇯🇵', cursor: 4 });
  });

  it('moves by cluster, by word and to either end', () => {
    const l = { value: 'ab 漢字 👩‍👩‍👧x', cursor: 0 };
    expect(type('\x05', l).cursor).toBe(l.value.length);
    expect(type('\x05\x1b[D\x1b[D', l).cursor).toBe(l.value.indexOf('👩'));
    expect(type('\x1b[1;5C', l).cursor).toBe(2);
    expect(type('\x1b[1;5C\x1b[1;5C', l).cursor).toBe(5);
    expect(type('\x1bf\x1bf\x1bb', l).cursor).toBe(3);
    expect(type('\x1b[F\x1b[1;3D', l).cursor).toBe(l.value.length - 1);
    expect(type('\x1b[F\x1b[H', l).cursor).toBe(0);
    expect(type('\x06\x06\x02', l).cursor).toBe(1);
  });

  it('keeps control characters out of the line', () => {
    expect(edit(EMPTY, press({ text: 'a\x1b[31mb\u202ec' }))).toEqual({
      kind: 'edit',
      line: { value: 'a[31mbc', cursor: 7 },
    });
  });

  it('submits on Enter and leaves Tab, arrows, paging and End on an empty line to the caller', () => {
    expect(edit({ value: 'hi', cursor: 1 }, press({ name: 'return' }))).toEqual({
      kind: 'submit',
      text: 'hi',
    });
    for (const name of ['tab', 'up', 'down', 'pageup', 'pagedown', 'end', 'escape'] as const) {
      expect(edit(EMPTY, press({ name })).kind).toBe('other');
    }
    expect(edit(EMPTY, press({ name: 'letter', text: 'c', ctrl: true })).kind).toBe('other');
  });
});
