import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../../source/chat/commands/index.js';
import { FP, INVITE } from './helpers.js';

/**
 * An invite code copied off the screen where the chat wrapped it: the
 * message pane's right border, a line end (a space, in a bracketed paste),
 * the left border and the indent of the continuation row, then the rest.
 */
function copiedOffScreen(code: string, cut: number): string {
  return `${code.slice(0, cut)} │ │                               ${code.slice(cut)}`;
}

describe('/join', () => {
  it('takes one code', () => {
    expect(parseCommand(`/join ${INVITE}`)).toEqual({ type: 'join', code: INVITE });
  });

  it('takes a code copied off the screen in two rows, borders and indent included', () => {
    for (const cut of [9, 20, INVITE.length - 1]) {
      expect(parseCommand(`/join ${copiedOffScreen(INVITE, cut)}`)).toEqual({
        type: 'join',
        code: INVITE,
      });
    }
  });

  it('a code that stays broken after joining its pieces is refused, not guessed', () => {
    expect(parseCommand(`/join ${INVITE.slice(0, 20)} │ xyz`)).toMatchObject({ type: 'error' });
  });
});

describe('/add with a code copied off the screen', () => {
  it('joins the pieces of the code, and leaves a fingerprint after a whole code alone', () => {
    expect(parseCommand(`/add bob ${copiedOffScreen(INVITE, 30)}`)).toEqual({
      type: 'add',
      nick: 'bob',
      address: INVITE,
    });
    expect(parseCommand(`/add bob ${INVITE} ${FP}`)).toMatchObject({
      type: 'add',
      nick: 'bob',
      address: INVITE,
      fingerprint: FP,
    });
  });
});
