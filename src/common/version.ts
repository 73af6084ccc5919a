import { createRequire } from 'node:module';

/** endsight's version, from package.json (dist/src/common/version.js -> ../../../package.json). */
export const VERSION: string = (createRequire(import.meta.url)('../../../package.json') as { version: string }).version;
