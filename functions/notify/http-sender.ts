import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { SkeinError } from '../../schemas/errors.ts';

export interface HttpRequest {
  readonly url: string;
  readonly method: 'POST' | 'GET';
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly timeoutMs: number;
}

export interface HttpResponse {
  readonly status: number;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  /** At most {@link MAX_RESPONSE_BYTES} of the body, as text. */
  readonly body: string;
}

/** The port every notification goes through: node:http(s) on AWS and locally, fakes in unit tests. */
export interface HttpSender {
  /** The response, whatever its status. @throws HttpSendError on timeout or a connection failure. */
  send(request: HttpRequest): Promise<HttpResponse>;
}

export type HttpFailureKind = 'timeout' | 'connection';

/** No response: the call timed out or the connection failed (refused, reset, DNS). Never holds the URL. */
export class HttpSendError extends SkeinError {
  readonly kind: HttpFailureKind;
  constructor(kind: HttpFailureKind, message: string, options?: { cause?: unknown }) {
    super(kind === 'timeout' ? 'http_timeout' : 'http_connection', message, options);
    this.kind = kind;
  }
}

/** Responses are read for status and error text only: more is not kept. */
export const MAX_RESPONSE_BYTES = 16 * 1024;

/**
 * An `HttpSender` over node:http and node:https with a hard timeout on the whole exchange (connect, send, response
 * body) through an `AbortSignal`. Error messages name the failure (`ECONNRESET`, timeout after 5000 ms), not the URL,
 * since a Slack webhook URL is a credential.
 */
export function nodeHttpSender(): HttpSender {
  return {
    send(req) {
      return new Promise<HttpResponse>((resolve, reject) => {
        const url = new URL(req.url);
        const signal = AbortSignal.timeout(req.timeoutMs);
        const requestFn = url.protocol === 'https:' ? httpsRequest : httpRequest;
        const body = req.body === undefined ? undefined : Buffer.from(req.body, 'utf8');
        const fail = (error: unknown) => {
          if (signal.aborted) reject(new HttpSendError('timeout', `no response within ${req.timeoutMs} ms`));
          else {
            const code = (error as { code?: unknown } | undefined)?.code;
            reject(new HttpSendError('connection', `connection failed: ${typeof code === 'string' ? code : 'error'}`));
          }
        };
        const r = requestFn(
          url,
          {
            method: req.method,
            headers: { ...req.headers, ...(body ? { 'content-length': String(body.length) } : {}) },
            signal,
          },
          (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on('data', (chunk: Buffer) => {
              if (size < MAX_RESPONSE_BYTES) chunks.push(chunk);
              size += chunk.length;
            });
            res.on('error', fail);
            res.on('end', () => {
              const headers: Record<string, string> = {};
              for (const [k, v] of Object.entries(res.headers)) {
                if (typeof v === 'string') headers[k] = v;
                else if (Array.isArray(v)) headers[k] = v.join(', ');
              }
              const text = Buffer.concat(chunks).subarray(0, MAX_RESPONSE_BYTES).toString('utf8');
              resolve({ status: res.statusCode ?? 0, headers, body: text });
            });
          },
        );
        r.on('error', fail);
        r.end(body);
      });
    },
  };
}
