/** The console page's script parses (a syntax error would leave every tab blank), without a browser. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONSOLE_PAGE } from './console-page.js';

test('the console page holds one script that parses', () => {
  const scripts = CONSOLE_PAGE.split('<script>').slice(1).map((part) => part.slice(0, part.indexOf('</script>')));
  assert.equal(scripts.length, 1);
  assert.doesNotThrow(() => new Function(scripts[0]));
});
