import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../../source/chat/commands/index.js';
import { errorOf } from './helpers.js';

describe('/invite', () => {
  it('/invite shows the code with our addresses; /invite key a key-only code', () => {
    expect(parseCommand('/invite')).toEqual({ type: 'invite' });
    expect(parseCommand('/invite key')).toEqual({ type: 'invite', keyOnly: true });
    expect(parseCommand('/invite  key ')).toEqual({ type: 'invite', keyOnly: true });
    expect(errorOf('/invite me')).toBe('usage: /invite [key]');
  });
});
