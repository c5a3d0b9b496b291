import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseSettingDuration as parseDuration } from '../../schemas/durations.ts';
import { endpointUrlProblem, parseNotifyConfig } from '../../schemas/notify-config.ts';

const base = (extra = '') =>
  `receivers:\n  - name: am\n    alertmanager:\n      urls: [https://am.example.com]\nroute:\n  receiver: am\n${extra}allowed_hosts: [am.example.com]\n`;

describe('notify config', () => {
  it('parses the shipped example with Alertmanager defaults for grouping and inherited settings', () => {
    // Prepare
    const text = readFileSync('config/notify.example.yaml', 'utf8');

    // Act
    const config = parseNotifyConfig(text, { source: 'config/notify.example.yaml' });

    // Assess
    expect([...config.receivers.keys()]).toEqual(['alertmanager', 'oncall', 'team-slack']);
    expect(config.route.routes.map((r) => [r.receiver, r.continue, r.groupWaitMs, r.groupIntervalMs])).toEqual([
      ['oncall', true, 30_000, 300_000],
      ['team-slack', false, 10_000, 300_000],
    ]);
    expect(config.route.routes[1]?.groupBy).toEqual(['alertname', 'service']);
    expect(config.delivery.resendIntervalMs).toBe(60_000);
    expect(config.receivers.get('oncall')?.pagerduty?.url).toBe('https://events.pagerduty.com/v2/enqueue');
  });

  it('defaults group_wait 30s, group_interval 5m, repeat_interval 4h and the delivery budget', () => {
    const config = parseNotifyConfig(base());

    expect([config.route.groupWaitMs, config.route.groupIntervalMs, config.route.repeatIntervalMs]).toEqual([
      30_000, 300_000, 14_400_000,
    ]);
    expect(config.delivery).toMatchObject({ timeoutMs: 5000, maxAttempts: 8, maxAgeMs: 3_600_000 });
    expect(config.allowLoopbackHttp).toBe(false);
  });

  it('names file, line and column of an unknown receiver in a nested route', () => {
    const text = base('  routes:\n    - matchers: [\'team="db"\']\n      receiver: nobody\n');

    expect(() => parseNotifyConfig(text, { source: 'notify.yaml' })).toThrow(
      "notify.yaml:9:17: route.routes.0.receiver: unknown receiver 'nobody'",
    );
  });

  it('rejects a matcher with an invalid regex at its line', () => {
    const text = base('  routes:\n    - matchers: [\'service=~"api("\']\n');

    expect(() => parseNotifyConfig(text, { source: 'n.yaml' })).toThrow(
      /^n\.yaml:8:18: route\.routes\.0\.matchers\.0: invalid regex/,
    );
  });

  it('rejects a bad duration and an unknown key with their positions', () => {
    expect(() => parseNotifyConfig(base('  group_wait: soon\n'), { source: 'n.yaml' })).toThrow(
      /^n\.yaml:7:15: route\.group_wait: expected a duration/,
    );
    expect(() => parseNotifyConfig(base('  grouping: 1\n'), { source: 'n.yaml' })).toThrow(/^n\.yaml:6:3: route: /);
  });

  it('reports YAML syntax errors with their line', () => {
    expect(() => parseNotifyConfig('receivers: [\n  - name: a\n', { source: 'bad.yaml' })).toThrow(
      /^bad\.yaml:\d+:\d+: /,
    );
  });

  it('allows http only to loopback and only with allowLoopbackHttp', () => {
    const text = base()
      .replace('https://am.example.com', 'http://127.0.0.1:9093')
      .replace('[am.example.com]', '[127.0.0.1]');

    expect(() => parseNotifyConfig(text, { source: 'n.yaml' })).toThrow(/n\.yaml:4:14: .*only https/);
    expect(parseNotifyConfig(text, { allowLoopbackHttp: true }).allowLoopbackHttp).toBe(true);
    expect(endpointUrlProblem('http://10.0.0.1/x', ['10.0.0.1'], true)).toMatch(/only https/);
  });

  it('refuses hosts outside allowed_hosts, matching *.suffix wildcards', () => {
    expect(endpointUrlProblem('https://a.b.example.com/x', ['*.example.com'], false)).toBeUndefined();
    expect(endpointUrlProblem('https://example.com/x', ['*.example.com'], false)).toMatch(/not in allowed_hosts/);
    expect(endpointUrlProblem('https://evil.com/x', ['*.example.com'], false)).toMatch(/host evil\.com is not in/);
    expect(endpointUrlProblem('https://u:p@a.example.com/', ['*.example.com'], false)).toMatch(/credentials/);
  });

  it('parses Prometheus-style durations', () => {
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('0s')).toBe(0);
    expect(parseDuration('5 minutes')).toBeUndefined();
  });

  it('reads its durations in the settings dialect: what it read before, and fractions and weeks now too', () => {
    // Prepare: 30s1m (units in any order) was always accepted here; 1.5m and 1w are new.
    const text = base('  group_wait: 30s1m\n  group_interval: 1.5m\n  repeat_interval: 1w\n');

    // Act
    const config = parseNotifyConfig(text);

    // Assess
    expect([config.route.groupWaitMs, config.route.groupIntervalMs, config.route.repeatIntervalMs]).toEqual([
      90_000, 90_000, 604_800_000,
    ]);
    expect(() => parseNotifyConfig(base('  group_wait: 5 minutes\n'), { source: 'n.yaml' })).toThrow(
      /^n\.yaml:7:\d+: .*expected a duration such as 30s, 5m, 4h or 1h30m/,
    );
  });
});
