#!/usr/bin/env node
/** srmudp-tui command line entry. The full-screen chat arrives with the TUI issue. */
console.log('srmudp-tui: the chat UI is not built yet; see readme.md');
