import assert from 'node:assert/strict';
import { test } from 'node:test';
import { verdict } from './canary.js';

const stats = (requests: number, errors: number, p95: number | null) => ({ requests, errors, errorRate: requests ? errors / requests : 0, p50Ms: p95, p95Ms: p95, p99Ms: p95, byClass: { '2xx': requests - errors, '3xx': 0, '4xx': 0, '5xx': errors, failed: 0 } });
const cc = { maxErrorRate: 0.05, maxLatencyRatio: 2, latencyFloorMs: 50, minRequests: 20 };

test('canary verdict: no judgement before min_requests; error rate; latency needs both the ratio and the floor', () => {
  assert.equal(verdict(stats(10, 10, 5), stats(100, 0, 5), cc), undefined);
  assert.match(verdict(stats(100, 10, 5), stats(100, 0, 5), cc)!, /error rate 10\.0% > max_error_rate 5\.0%/);
  assert.equal(verdict(stats(100, 5, 5), stats(100, 0, 5), cc), undefined, '5% is not above 5%');
  assert.equal(verdict(stats(100, 0, 26), stats(100, 0, 4.7), cc), undefined, '5.5× but only 21 ms slower');
  assert.match(verdict(stats(100, 0, 300), stats(100, 0, 100), cc)!, /p95 latency 300\.0 ms is 3\.00× stable's 100\.0 ms/);
  assert.equal(verdict(stats(100, 0, 180), stats(100, 0, 100), cc), undefined, '1.8× is under the ratio');
});
