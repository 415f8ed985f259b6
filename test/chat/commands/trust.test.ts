import { describe } from 'vitest';
import { itTakesANick } from './helpers.js';

describe('/trust', () => {
  itTakesANick('trust');
});
