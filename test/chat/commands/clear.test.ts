import { describe } from 'vitest';
import { itTakesNoArguments } from './helpers.js';

describe('/clear', () => {
  itTakesNoArguments('clear');
});
