import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { loadNotifyFunctionConfig } from '../../functions/notify/config.ts';
import { awsSecretProvider, SECRET_CACHE_MS, staticSecretProvider } from '../../functions/notify/secrets.ts';
import { ConfigError } from '../../schemas/errors.ts';
import { NOTIFY_T0, notifyYaml } from '../builders/notify.ts';

const sm = mockClient(SecretsManagerClient);

afterEach(() => {
  sm.reset();
});

describe('awsSecretProvider', () => {
  it('reads a secret once per five minutes', async () => {
    // Prepare
    sm.on(GetSecretValueCommand, { SecretId: 'pd' }).resolves({ SecretString: 'R0UTING' });
    let now = NOTIFY_T0;
    const secrets = awsSecretProvider(new SecretsManagerClient({ region: 'us-east-1' }), () => now);

    // Act
    const first = await secrets.get('pd');
    now += SECRET_CACHE_MS - 1;
    await secrets.get('pd');
    now += 2;
    await secrets.get('pd');

    // Assess
    expect(first).toBe('R0UTING');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('unwraps a key/value secret with a single field', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: '{"webhook_url":"https://hooks.slack.com/services/X"}' });

    const value = await awsSecretProvider(new SecretsManagerClient({ region: 'us-east-1' }), () => 0).get('s');

    expect(value).toBe('https://hooks.slack.com/services/X');
  });

  it('names the secret id, never a value, when reading fails', async () => {
    sm.on(GetSecretValueCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));

    await expect(
      awsSecretProvider(new SecretsManagerClient({ region: 'us-east-1' }), () => 0).get('pd'),
    ).rejects.toThrow('reading secret pd failed: AccessDeniedException');
  });

  it('fails clearly for an unknown static secret', async () => {
    await expect(staticSecretProvider({}).get('nope')).rejects.toThrow('secret nope is not defined');
  });
});

describe('loadNotifyFunctionConfig', () => {
  it('reads the YAML file named by SKEIN_NOTIFY_CONFIG_FILE and never allows loopback http on AWS', () => {
    const yaml = notifyYaml({ am: ['http://127.0.0.1:9093'] });

    expect(() =>
      loadNotifyFunctionConfig({ SKEIN_BUCKET: 'bucket', SKEIN_NOTIFY_CONFIG_FILE: '/x/notify.yaml' }, () => yaml),
    ).toThrow(/^\/x\/notify\.yaml:\d+:\d+: receivers\.0\.alertmanager\.urls\.0: .*only https/);
  });

  it('names a missing bucket variable', () => {
    expect(() => loadNotifyFunctionConfig({}, () => '')).toThrow(ConfigError);
  });
});
