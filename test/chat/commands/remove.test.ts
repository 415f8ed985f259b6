import { describe } from 'vitest';
import { itTakesANick } from './helpers.js';

describe('/remove', () => {
  itTakesANick('remove');
});
