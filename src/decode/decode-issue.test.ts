import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IssueCounter } from '../common/issue-counter.js';
import { DECODE_ISSUES, DecodeIssue, isDecodeIssue } from './decode-issue.js';

describe('DecodeIssue', () => {
  it('lists every code once, in snake_case', () => {
    assert.equal(new Set(DECODE_ISSUES).size, DECODE_ISSUES.length);
    assert.deepEqual([...DECODE_ISSUES].sort(), Object.values(DecodeIssue).sort());
    for (const code of DECODE_ISSUES) assert.match(code, /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
  });

  it('recognises its own codes only', () => {
    assert.equal(isDecodeIssue('truncated_ipv4'), true);
    assert.equal(isDecodeIssue('caplen_exceeds_limit'), false);
  });

  it('counts in an IssueCounter by code', () => {
    const issues = new IssueCounter();
    for (const code of DECODE_ISSUES) issues.add(code);
    assert.equal(issues.total(), DECODE_ISSUES.length);
    assert.equal(issues.get(DecodeIssue.NON_IP), 1);
  });
});
