/**
 * Test helpers (not shipped code): real receivers for the agent's notifications. An HTTP
 * receiver (a webhook endpoint, or an ntfy-compatible publish endpoint answering as ntfy does),
 * and an SMTP server in a container built from the local Debian image (images/smtp-sink:
 * Debian's python3-aiosmtpd) that prints every message it accepts.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Engine } from '../engine/client.js';
import { TEST_LABEL } from '../testing/engine.js';

export interface ReceivedRequest {
  at: number;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface HttpReceiver {
  /** http://127.0.0.1:PORT + path */
  url(path?: string): string;
  requests: ReceivedRequest[];
  /** The status it answers; a function decides per request. */
  status: number | ((r: ReceivedRequest) => number);
  close(): Promise<void>;
}

/** An HTTP receiver on 127.0.0.1 (ephemeral port). With `ntfy`, it answers a publish as ntfy does (JSON with id, topic, title, message). */
export async function startHttpReceiver(options: { status?: number; ntfy?: boolean } = {}): Promise<HttpReceiver> {
  const requests: ReceivedRequest[] = [];
  const receiver: HttpReceiver = {
    url: (path = '/') => `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`,
    requests,
    status: options.status ?? 200,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const r: ReceivedRequest = { at: Date.now(), method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
      requests.push(r);
      const status = typeof receiver.status === 'function' ? receiver.status(r) : receiver.status;
      if (options.ntfy && status === 200) {
        // ntfy's publish answer: the message as stored.
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: String(requests.length), time: Math.floor(r.at / 1000), event: 'message', topic: r.path.slice(1), title: req.headers.title, message: body, priority: Number(req.headers.priority ?? 3) }));
        return;
      }
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status >= 400 ? 'receiver says no\n' : 'ok\n');
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return receiver;
}

export interface SmtpMessage {
  from: string;
  to: string[];
  login: string | null;
  data: string;
}

export interface SmtpSink {
  port: number;
  messages(): Promise<SmtpMessage[]>;
  close(): Promise<void>;
}

/** The SMTP sink container (local/smtp-sink), published on 127.0.0.1 with an ephemeral port. */
export async function startSmtpSink(engine: Engine, labelValue: string, password: string): Promise<SmtpSink> {
  const container = await engine.docker.createContainer({
    Image: 'local/smtp-sink:latest',
    Env: [`SMTP_PASSWORD=${password}`],
    Labels: { [TEST_LABEL]: labelValue },
    ExposedPorts: { '2525/tcp': {} },
    HostConfig: { PortBindings: { '2525/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
  });
  await container.start();
  const info = await container.inspect();
  const port = Number(info.NetworkSettings.Ports['2525/tcp']?.[0]?.HostPort);
  const lines = async () => {
    const buffer = (await container.logs({ stdout: true, stderr: false, follow: false })) as unknown as Buffer;
    // Multiplexed stream: 8-byte frame headers before each chunk.
    let text = '';
    for (let i = 0; i + 8 <= buffer.length; ) {
      const size = buffer.readUInt32BE(i + 4);
      text += buffer.subarray(i + 8, i + 8 + size).toString('utf8');
      i += 8 + size;
    }
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  };
  const deadline = Date.now() + 20_000;
  while (!(await lines()).some((l) => l.listening)) {
    if (Date.now() > deadline) throw new Error('the SMTP sink did not start');
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    port,
    messages: async () => (await lines()).filter((l) => 'data' in l) as unknown as SmtpMessage[],
    close: () => container.remove({ force: true }).then(() => undefined, () => undefined),
  };
}
