import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../../source/chat/commands/index.js';
import { errorOf } from './helpers.js';

describe('/msg', () => {
  it('takes a nick and the rest of the line', () => {
    expect(parseCommand('/msg bob hi there  you')).toEqual({
      type: 'msg',
      nick: 'bob',
      text: 'hi there  you',
    });
    expect(parseCommand('/msg bob /not a command')).toEqual({
      type: 'msg',
      nick: 'bob',
      text: '/not a command',
    });
  });

  it('needs both', () => {
    for (const line of ['/msg', '/msg bob', '/msg bob    ', '/msg   ']) {
      expect(errorOf(line)).toBe('usage: /msg <nick> <text>');
    }
  });

  it('refuses a bad nick and control characters in the text', () => {
    expect(errorOf('/msg b!b hi')).toMatch(/bad nickname/);
    expect(errorOf('/msg bob \u001b]52;c;aGk=\u0007')).toMatch(/control character \\x1b/);
    expect(parseCommand('/msg bob a\tb')).toEqual({ type: 'msg', nick: 'bob', text: 'a b' });
  });
});
