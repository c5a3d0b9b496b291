import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_NOTIFY_CONFIG, DEFAULT_RULES } from '../../cli/local-up-command.ts';
import { memoryObjectStore } from '../../functions/core/object-store.ts';
import { formatRuleTestReport, runRuleTestFile } from '../../functions/evaluate/rule-tests.ts';
import { deadLetterKey, deliveryKey, doneKey } from '../../functions/notify/delivery-store.ts';
import { routeAlert } from '../../functions/notify/routing.ts';
import { loadCompiledRules } from '../../functions/shared/rules/load-compiled-rules.ts';
import { countDeliveries, LOCAL_SECRET_IDS, localNotifyConfig, localSecrets } from '../../local/alerting.ts';

const ROOT = join(import.meta.dirname, '..', '..');

describe('rules/demo', () => {
  it('loads the three demo rules, each with summary, description and runbook', async () => {
    // Act
    const compiled = await loadCompiledRules(DEFAULT_RULES);

    // Assess
    expect(DEFAULT_RULES).toBe(join(ROOT, 'rules', 'demo'));
    expect(compiled.rules.map((r) => r.name).sort()).toEqual([
      'DemoErrorLogs',
      'DemoHighErrorRate',
      'DemoPaymentsSlow',
    ]);
    expect(compiled.rules.find((r) => r.name === 'DemoHighErrorRate')?.labels.severity).toBe('critical');
    for (const rule of compiled.rules) {
      expect(Object.keys(rule.annotations)).toEqual(expect.arrayContaining(['summary', 'description', 'runbook_url']));
    }
  });

  it('passes its rule tests (skein rules test rules/demo)', async () => {
    // Act
    const result = await runRuleTestFile(join(ROOT, 'rules', 'demo', 'services.test.yaml'));

    // Assess
    expect(formatRuleTestReport([result])).not.toContain('FAIL');
    expect(result.passed).toBe(true);
    expect(result.cases.length).toBeGreaterThanOrEqual(4);
  });
});

describe('config/notify.local.yaml', () => {
  const urls = { alertmanagerUrl: 'http://127.0.0.1:40001', pagerDutyUrl: 'http://127.0.0.1:40002/v2/enqueue' };

  it('fills in the local URLs and routes critical alerts to all three receivers, others to Alertmanager and Slack', async () => {
    // Prepare
    const text = await readFile(DEFAULT_NOTIFY_CONFIG, 'utf8');

    // Act
    const config = localNotifyConfig(text, urls, 'config/notify.local.yaml');
    const critical = routeAlert(config.route, { alertname: 'DemoHighErrorRate', severity: 'critical', service: 'x' });
    const warning = routeAlert(config.route, { alertname: 'DemoErrorLogs', severity: 'warning', service: 'x' });

    // Assess
    expect(config.receivers.get('alertmanager')?.alertmanager?.urls).toEqual([urls.alertmanagerUrl]);
    expect(config.receivers.get('oncall')?.pagerduty).toMatchObject({
      url: urls.pagerDutyUrl,
      routingKeySecret: LOCAL_SECRET_IDS.pagerDutyRoutingKey,
    });
    expect(config.receivers.get('team-slack')?.slack?.webhookUrlSecret).toBe(LOCAL_SECRET_IDS.slackWebhookUrl);
    expect(critical.map((r) => r.receiver)).toEqual(['alertmanager', 'oncall', 'team-slack']);
    expect(warning.map((r) => r.receiver)).toEqual(['alertmanager', 'team-slack']);
  });

  it('refuses an endpoint outside 127.0.0.1, naming the file and line', async () => {
    // Prepare
    const text = await readFile(DEFAULT_NOTIFY_CONFIG, 'utf8');

    // Act / Assess
    expect(() =>
      localNotifyConfig(text, { ...urls, pagerDutyUrl: 'http://pd.example.com/v2/enqueue' }, 'notify.local.yaml'),
    ).toThrow(/^notify\.local\.yaml:\d+:\d+: .*host pd\.example\.com/);
  });

  it('resolves the two local secrets and nothing else', async () => {
    // Prepare
    const secrets = localSecrets({ routingKey: 'k'.repeat(32), slackWebhookUrl: 'http://127.0.0.1:1/services/a' });

    // Act / Assess
    await expect(secrets.get(LOCAL_SECRET_IDS.pagerDutyRoutingKey)).resolves.toBe('k'.repeat(32));
    await expect(secrets.get(LOCAL_SECRET_IDS.slackWebhookUrl)).resolves.toBe('http://127.0.0.1:1/services/a');
    await expect(secrets.get('skein/pagerduty/routing-key')).rejects.toThrow(/not defined/);
  });
});

describe('countDeliveries', () => {
  it('counts the endpoints of finished transitions as delivered unless dead-lettered, and skips those in flight', async () => {
    // Prepare
    const store = memoryObjectStore();
    const put = (key: string) => store.put(key, new Uint8Array([123, 125]), 'application/json');
    const done = '2026-01-01T1200Z-0123456789abcdef-000001';
    const inFlight = '2026-01-01T1201Z-0123456789abcdef-000002';
    const unreadable = '2026-01-01T1202Z-fedcba9876543210-000001';
    for (const endpoint of ['alertmanager.alertmanager.0', 'oncall.pagerduty', 'team-slack.slack'])
      await put(deliveryKey(done, endpoint));
    await put(doneKey(done));
    await put(deadLetterKey(done, 'team-slack.slack'));
    await put(deliveryKey(inFlight, 'oncall.pagerduty'));
    await put(doneKey(unreadable));
    await put(deadLetterKey(unreadable, '_invalid'));

    // Act
    const counts = await countDeliveries(store);

    // Assess
    expect(counts).toEqual({ delivered: 2, dead: 2 });
  });
});
