import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../../source/chat/commands/index.js';
import { itTakesNoArguments } from './helpers.js';

describe('/quit', () => {
  itTakesNoArguments('quit');

  it('/exit is /quit', () => {
    expect(parseCommand('/exit')).toEqual({ type: 'quit' });
  });
});
