/**
 * Imported first by cli.tsx, before anything loads Ink. Ink decides once, when
 * it is loaded, that a process with CI set is non-interactive and then draws
 * nothing until exit. A person at a real terminal (stdin and stdout both TTYs)
 * gets the interactive screen whatever the environment says, so we clear the
 * CI markers for this process in that case only.
 */
import process from 'node:process';

if (process.stdin.isTTY === true && process.stdout.isTTY === true) {
  delete process.env.CI;
  delete process.env.CONTINUOUS_INTEGRATION;
}
