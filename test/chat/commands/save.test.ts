import { describe } from 'vitest';
import { itTakesAFile } from './helpers.js';

describe('/save', () => {
  itTakesAFile('save');
});
