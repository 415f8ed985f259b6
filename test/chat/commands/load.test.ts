import { describe } from 'vitest';
import { itTakesAFile } from './helpers.js';

describe('/load', () => {
  itTakesAFile('load');
});
