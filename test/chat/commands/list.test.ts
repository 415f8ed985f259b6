import { describe } from 'vitest';
import { itTakesNoArguments } from './helpers.js';

describe('/list', () => {
  itTakesNoArguments('list');
});
