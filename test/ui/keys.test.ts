import { describe, expect, it } from 'vitest';
import { parseKeys } from '../../source/ui/keys.js';

/** Compact names: text as itself, keys as <mods+name>. */
const names = (chunk: string) =>
  parseKeys(chunk).map((k) =>
    k.name === 'text'
      ? k.text
      : `<${k.ctrl ? 'C-' : ''}${k.meta ? 'M-' : ''}${k.shift ? 'S-' : ''}${k.name === 'letter' ? k.text : k.name}>`,
  );

describe('parseKeys', () => {
  it('splits a batched read into its keys', () => {
    expect(names('tyop\x7f\x7fpo')).toEqual(['tyop', '<backspace>', '<backspace>', 'po']);
    expect(names('ab\x01\x05\x15\x17\x0bcd')).toEqual([
      'ab',
      '<C-a>',
      '<C-e>',
      '<C-u>',
      '<C-w>',
      '<C-k>',
      'cd',
    ]);
    expect(names('/list\r/help\r\nx\ty')).toEqual([
      '/list',
      '<return>',
      '/help',
      '<return>',
      'x',
      '<tab>',
      'y',
    ]);
  });

  it('decodes CSI and SS3 keys with xterm modifiers', () => {
    expect(names('\x1b[A\x1b[B\x1b[C\x1b[D\x1b[H\x1b[F\x1bOH\x1bOF')).toEqual([
      '<up>',
      '<down>',
      '<right>',
      '<left>',
      '<home>',
      '<end>',
      '<home>',
      '<end>',
    ]);
    expect(names('\x1b[3~\x1b[5~\x1b[6~\x1b[1~\x1b[4~\x1b[2~')).toEqual([
      '<delete>',
      '<pageup>',
      '<pagedown>',
      '<home>',
      '<end>',
      '<insert>',
    ]);
    expect(names('\x1b[1;5D\x1b[1;5C\x1b[1;3D\x1b[3;5~\x1b[1;2A\x1b[Z\x1bOd')).toEqual([
      '<C-left>',
      '<C-right>',
      '<M-left>',
      '<C-delete>',
      '<S-up>',
      '<S-tab>',
      '<C-left>',
    ]);
  });

  it('reads ESC before a key as Alt, and a lone ESC as Escape', () => {
    expect(names('\x1b\x7f\x1bd\x1bB\x1b\x1b[D\x1b')).toEqual([
      '<M-backspace>',
      '<M-d>',
      '<M-S-b>',
      '<M-left>',
      '<escape>',
    ]);
  });

  it('never turns an unknown sequence into text', () => {
    expect(names('a\x1b[299~b\x1b[?1;2cc')).toEqual(['a', '<unknown>', 'b', '<unknown>', 'c']);
  });

  it('reads the bracketed-paste marks (xterm mode 2004) as keys, never as text', () => {
    expect(names('\x1b[200~x\ry\x1b[201~')).toEqual([
      '<pastestart>',
      'x',
      '<return>',
      'y',
      '<pasteend>',
    ]);
  });
});
