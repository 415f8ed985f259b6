#!/usr/bin/env node
/**
 * srmudp-tui command line entry. The body is source/app/main.ts; this file
 * only makes sure source/ui/interactive.ts runs before Ink or React load.
 */
// Must stay the first import: see the module.
import './source/ui/interactive.js';
import process from 'node:process';
import { runCli } from './source/app/main.js';

runCli(process.argv.slice(2));
