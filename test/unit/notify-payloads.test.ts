import { describe, expect, it } from 'vitest';
import { createRedactor } from '../../functions/core/redact.ts';
import { TRUNCATION_MARKER } from '../../functions/notify/alert-text.ts';
import { alertmanagerAlert } from '../../functions/notify/alertmanager-payload.ts';
import { PAGERDUTY_SUMMARY_MAX, pagerDutyEvent, pagerDutySeverity } from '../../functions/notify/pagerduty-payload.ts';
import { SLACK_LIMITS, slackMessage } from '../../functions/notify/slack-payload.ts';
import { aTransition, NOTIFY_T0 } from '../builders/notify.ts';

const redactor = createRedactor();
const TEMPLATE = 'https://skein.example.com/q?fp={{fingerprint}}&trace={{trace_id}}&svc={{labels.service}}';

describe('alertmanagerAlert', () => {
  it('sends a firing alert with its labels, startsAt, endsAt four re-send intervals ahead and the query link', () => {
    // Prepare
    const t = aTransition({
      labels: { alertname: 'HighErrorRate', service: 'api', severity: 'critical', trace_id: 'ab12' },
    });

    // Act
    const alert = alertmanagerAlert(t, {
      nowMs: NOTIFY_T0,
      resendIntervalMs: 60_000,
      queryUrlTemplate: TEMPLATE,
      redactor,
    });

    // Assess
    expect(alert.labels).toEqual(t.labels);
    expect(alert.startsAt).toBe(t.starts_at);
    expect(alert.endsAt).toBe(new Date(NOTIFY_T0 + 240_000).toISOString());
    expect(alert.generatorURL).toBe(`https://skein.example.com/q?fp=${t.fingerprint}&trace=ab12&svc=api`);
    expect(alert.annotations.summary).toBe('Error rate above 5% on api');
  });

  it('ends a resolved alert now and leaves out empty label values', () => {
    const t = aTransition({ status: 'resolved', labels: { alertname: 'X', empty: '' } });

    const alert = alertmanagerAlert(t, { nowMs: NOTIFY_T0 + 5000, resendIntervalMs: 60_000, redactor });

    expect(alert.endsAt).toBe(new Date(NOTIFY_T0 + 5000).toISOString());
    expect(alert.labels).toEqual({ alertname: 'X' });
    expect(alert).not.toHaveProperty('generatorURL');
  });

  it('carries annotations as a bounded, redacted excerpt', () => {
    const t = aTransition({ annotations: { description: `token=abc123secret ${'x'.repeat(5000)}` } });

    const alert = alertmanagerAlert(t, { nowMs: NOTIFY_T0, resendIntervalMs: 60_000, redactor });

    expect(alert.annotations.description).not.toContain('abc123secret');
    expect(alert.annotations.description?.length).toBe(1024);
    expect(alert.annotations.description?.endsWith(TRUNCATION_MARKER)).toBe(true);
  });
});

describe('pagerDutyEvent', () => {
  it('triggers with dedup_key = fingerprint and every payload field', () => {
    const t = aTransition();

    const event = pagerDutyEvent(t, {
      routingKey: 'R0UTINGKEY',
      severityMap: {},
      queryUrlTemplate: TEMPLATE,
      redactor,
    });

    expect(event).toMatchObject({
      routing_key: 'R0UTINGKEY',
      event_action: 'trigger',
      dedup_key: t.fingerprint,
      payload: {
        summary: 'Error rate above 5% on api',
        source: 'api',
        severity: 'critical',
        timestamp: t.starts_at,
        component: 'api',
        group: 'api-slo',
        class: 'HighErrorRate',
        custom_details: { labels: t.labels, value: 0.075, expr: t.expr },
      },
    });
    expect(event.links?.[0]?.href).toContain(t.fingerprint);
  });

  it('cuts the summary to 1024 characters with a marker', () => {
    const t = aTransition({ annotations: { summary: 's'.repeat(3000) } });

    const event = pagerDutyEvent(t, { routingKey: 'k', severityMap: {}, redactor });

    expect(event.payload?.summary.length).toBe(PAGERDUTY_SUMMARY_MAX);
    expect(event.payload?.summary.endsWith(TRUNCATION_MARKER)).toBe(true);
  });

  it('resolves with the same dedup_key and nothing else', () => {
    const t = aTransition({ status: 'resolved' });

    expect(pagerDutyEvent(t, { routingKey: 'k', severityMap: {}, redactor })).toEqual({
      routing_key: 'k',
      event_action: 'resolve',
      dedup_key: t.fingerprint,
    });
  });

  it('maps severities: the configured map first, then the built-in names, else warning', () => {
    expect(pagerDutySeverity('p1', { p1: 'critical' })).toBe('critical');
    expect(pagerDutySeverity('error', {})).toBe('error');
    expect(pagerDutySeverity('info', {})).toBe('info');
    expect(pagerDutySeverity('weird', {})).toBe('warning');
    expect(pagerDutySeverity(undefined, {})).toBe('warning');
  });
});

describe('slackMessage', () => {
  it('colours a firing message by its most severe alert and gives a plain-text fallback', () => {
    const warn = aTransition({ labels: { alertname: 'Slow', severity: 'warning' } });
    const crit = aTransition({ labels: { alertname: 'Down', severity: 'critical' } });

    const message = slackMessage([warn, crit], { channel: '#alerts', queryUrlTemplate: TEMPLATE, redactor });

    expect(message.channel).toBe('#alerts');
    expect(message.attachments[0]?.color).toBe('#E01E5A');
    expect(message.text).toContain('[FIRING:2] Slow, Down');
    expect(message.text).toContain('FIRING: Error rate above 5% on api');
    const sections = message.attachments[0]?.blocks.filter((b) => b.type === 'section') ?? [];
    expect(sections).toHaveLength(2);
    expect(JSON.stringify(sections[1])).toContain(':red_circle:');
    expect(JSON.stringify(sections[1])).toContain('|Query in Skein>');
  });

  it('sends resolved messages in green with a check mark', () => {
    const message = slackMessage([aTransition({ status: 'resolved' })], { redactor });

    expect(message.attachments[0]?.color).toBe('#2EB67D');
    expect(message.text).toMatch(/^:white_check_mark: \[RESOLVED:1\]/);
  });

  it('keeps to 50 blocks and counts the alerts left out', () => {
    const many = Array.from({ length: 80 }, (_, i) =>
      aTransition({ labels: { alertname: `A${i}`, severity: 'info' } }),
    );

    const blocks = slackMessage(many, { redactor }).attachments[0]?.blocks ?? [];

    expect(blocks).toHaveLength(SLACK_LIMITS.blocks);
    expect(blocks.at(-1)).toEqual({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: `… and 32 more alerts ${TRUNCATION_MARKER}` }],
    });
  });

  it('uses all 50 blocks for exactly 49 alerts without a marker', () => {
    const many = Array.from({ length: 49 }, (_, i) => aTransition({ labels: { alertname: `A${i}` } }));

    const blocks = slackMessage(many, { redactor }).attachments[0]?.blocks ?? [];

    expect(blocks).toHaveLength(50);
    expect(blocks.every((b) => b.type !== 'context')).toBe(true);
  });

  it('cuts a section to 3000 characters with the truncation marker and escapes mrkdwn', () => {
    const t = aTransition({ annotations: { summary: '<b>&', description: 'd'.repeat(900) } });
    const long = aTransition({
      annotations: { summary: 'long', description: 'y'.repeat(1000) },
      labels: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`label_${i}`, 'v'.repeat(20)])),
    });

    const blocks = slackMessage([t, long], { redactor }).attachments[0]?.blocks ?? [];

    const texts = blocks.flatMap((b) => (b.type === 'section' ? [b.text.text] : []));
    expect(texts[0]).toContain('*&lt;b&gt;&amp;*');
    expect(texts[1]?.length).toBe(SLACK_LIMITS.sectionChars);
    expect(texts[1]?.endsWith(TRUNCATION_MARKER)).toBe(true);
  });
});
