import { describe, expect, it } from 'vitest';
import {
  parseCommand,
  WAIT_DEFAULT_SECONDS,
  WAIT_MAX_SECONDS,
} from '../../../source/chat/commands/index.js';
import { errorOf } from './helpers.js';

describe('/wait', () => {
  it('/wait <nick> [seconds]', () => {
    expect(parseCommand('/wait bob')).toEqual({
      type: 'wait',
      nick: 'bob',
      seconds: WAIT_DEFAULT_SECONDS,
    });
    expect(parseCommand('/wait bob 10')).toEqual({ type: 'wait', nick: 'bob', seconds: 10 });
    expect(parseCommand('/wait bob 0.5')).toEqual({ type: 'wait', nick: 'bob', seconds: 0.5 });
    expect(errorOf('/wait')).toBe('usage: /wait <nick> [seconds]');
    expect(errorOf('/wait bob 1 2')).toBe('usage: /wait <nick> [seconds]');
    for (const bad of ['0', '-1', 'ten', '1e3', `${WAIT_MAX_SECONDS + 1}`]) {
      expect(errorOf(`/wait bob ${bad}`)).toMatch(/^bad number of seconds/);
    }
    expect(errorOf('/wait b@d')).toMatch(/^bad nickname/);
  });
});
