/**
 * Imported first by cli.tsx, before anything loads Ink or React.
 *
 * Ink decides once, when it is loaded, that a process with CI set is
 * non-interactive and then draws nothing until exit. A person at a real
 * terminal (stdin and stdout both TTYs) gets the interactive screen whatever
 * the environment says, so we clear the CI markers for this process in that
 * case only.
 *
 * React picks its build when it is loaded, from NODE_ENV: unset means the
 * development build, several times slower per render (checks, warnings, dev
 * stacks) — measured in bench/tui.ts, it took keystroke → screen under load
 * past 50 ms. The chat is a program, not a development server: unless the
 * user asked for another mode, it runs React's production build.
 */
import process from 'node:process';

if (process.stdin.isTTY === true && process.stdout.isTTY === true) {
  delete process.env.CI;
  delete process.env.CONTINUOUS_INTEGRATION;
}

process.env.NODE_ENV ??= 'production';
