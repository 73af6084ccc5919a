#!/usr/bin/env node
// Thin launcher: the CLI is compiled from src/cli to dist/cli (npm run build).
import('../dist/src/cli/main.js').catch((error) => {
  if (error && error.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/src/cli/main.js')) {
    console.error('endsight: not built yet: run `npm run build` first');
  } else {
    console.error(error);
  }
  process.exit(2);
});
