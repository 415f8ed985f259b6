import { describe } from 'vitest';
import { itTakesANick } from './helpers.js';

describe('/whois', () => {
  itTakesANick('whois');
});
