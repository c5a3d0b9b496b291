import { describe, expect, it } from 'vitest';
import { routeAlert } from '../../functions/notify/routing.ts';
import { parseNotifyConfig } from '../../schemas/notify-config.ts';

const receivers = ['default', 'db', 'db-critical', 'pager', 'web', 'audit']
  .map((n) => `  - name: ${n}\n    alertmanager:\n      urls: [https://${n}.example.com]`)
  .join('\n');

const config = parseNotifyConfig(`receivers:
${receivers}
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      continue: true
    - matchers: ['team="db"']
      receiver: db
      group_wait: 1m
      routes:
        - matchers: ['severity=~"critical|error"']
          receiver: db-critical
    - matchers: ['service=~"api|web"', 'env!="dev"']
      receiver: web
    - matchers: ['service!~"a.*"']
      receiver: audit
allowed_hosts: ['*.example.com']
`);

const route = (labels: Record<string, string>) => routeAlert(config.route, labels).map((r) => r.receiver);

describe('routeAlert', () => {
  it('stops at the first matching child', () => {
    expect(route({ team: 'db', service: 'api' })).toEqual(['db']);
  });

  it('goes on past a child with continue: true', () => {
    expect(route({ severity: 'critical', service: 'web' })).toEqual(['pager', 'web']);
  });

  it('descends into nested routes and inherits grouping from the parent', () => {
    const matches = routeAlert(config.route, { team: 'db', severity: 'error' });

    expect(matches.map((m) => m.receiver)).toEqual(['db-critical']);
    expect(matches[0]?.groupWaitMs).toBe(60_000);
    expect(matches[0]?.groupBy).toEqual(['alertname']);
    expect(matches[0]?.path).toBe('0.1.0');
  });

  it('uses the parent itself when none of its children match', () => {
    expect(route({ team: 'db', severity: 'warning' })).toEqual(['db']);
  });

  it('anchors regexes at both ends', () => {
    expect(route({ service: 'apiserver' })).toEqual(['default']);
    expect(route({ service: 'api' })).toEqual(['web']);
  });

  it('treats a missing label as empty for != and !~', () => {
    expect(route({ service: 'api', env: 'dev' })).toEqual(['default']);
    expect(route({ service: 'billing' })).toEqual(['audit']);
    expect(route({})).toEqual(['audit']);
  });

  it('falls back to the root receiver when nothing below matches', () => {
    expect(route({ service: 'auth' })).toEqual(['default']);
  });
});
