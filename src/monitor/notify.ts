/**
 * Notification channels of the agent's built-in alerting (x-berth monitor.notify): a webhook
 * (JSON body, documented in src/monitor/README.md), ntfy (its HTTP publish API) and email
 * (nodemailer over SMTP). One message shape for all; each delivery is retried with backoff and
 * every failed attempt is logged.
 */
import { readFileSync } from 'node:fs';
import type { NotifierConfig } from '../compose/types.js';
import { errorMessage } from '../lib/errors.js';
import type { AlertInstance } from './evaluate.js';

/** The webhook body (version 1). Other channels render the same message as text. */
export interface Notification {
  version: 1;
  /** alerts: firing/resolved alerts of one group; test: `berth monitor test`; notifier-down / notifier-up: a channel's own state. */
  kind: 'alerts' | 'test' | 'notifier-down' | 'notifier-up';
  /** The group: the compose project, or the host for host-wide alerts. */
  group: string;
  host: string;
  /** firing when any alert in it fires (or a channel is down); else resolved. */
  status: 'firing' | 'resolved';
  /** One line (email subject, ntfy title). */
  title: string;
  /** Plain text, one line per alert. */
  text: string;
  alerts: NotifiedAlert[];
  /** For notifier-down/up: the channel concerned. */
  channel?: { name: string; type: string; error?: string };
  /** ms since the epoch, as ISO 8601. */
  sentAt: string;
}

export interface NotifiedAlert {
  name: string;
  status: 'firing' | 'resolved';
  severity: string;
  labels: Record<string, string>;
  summary: string;
  description: string;
  startsAt: string;
  endsAt: string | null;
  fingerprint: string;
  /** true for a repeat of a firing alert already notified (repeat_interval). */
  repeat: boolean;
}

export function notifiedAlert(alert: AlertInstance, status: 'firing' | 'resolved', at: number, repeat = false): NotifiedAlert {
  return {
    name: alert.name,
    status,
    severity: alert.severity,
    labels: alert.labels,
    summary: alert.summary,
    description: alert.description,
    startsAt: new Date(alert.firedAt ?? alert.activeSince).toISOString(),
    endsAt: status === 'resolved' ? new Date(at).toISOString() : null,
    fingerprint: alert.fingerprint,
    repeat,
  };
}

/** Pure: one notification for a group's alert changes. */
export function alertsNotification(group: string, host: string, alerts: NotifiedAlert[], at: number): Notification {
  const firing = alerts.filter((a) => a.status === 'firing');
  const resolved = alerts.filter((a) => a.status === 'resolved');
  const status = firing.length > 0 ? 'firing' : 'resolved';
  const parts = [firing.length ? `${firing.length} firing` : '', resolved.length ? `${resolved.length} resolved` : ''].filter(Boolean).join(', ');
  const first = (firing[0] ?? resolved[0])!;
  const title = `[${status.toUpperCase()}] ${group}: ${alerts.length === 1 ? `${first.name}: ${first.summary}` : parts}`;
  const text = alerts.map((a) => `${a.status === 'firing' ? (a.repeat ? 'STILL FIRING' : 'FIRING') : 'RESOLVED'} ${a.severity} ${a.name}: ${a.summary}${a.status === 'resolved' ? ` (since ${a.startsAt})` : ''}`).join('\n');
  return { version: 1, kind: 'alerts', group, host, status, title, text, alerts, sentAt: new Date(at).toISOString() };
}

/** Pure: the message that says a channel stays down, for the other channels. */
export function channelNotification(kind: 'notifier-down' | 'notifier-up', group: string, host: string, channel: { name: string; type: string; error?: string }, at: number): Notification {
  const title = kind === 'notifier-down' ? `[FIRING] ${group}: notification channel ${channel.name} (${channel.type}) is down` : `[RESOLVED] ${group}: notification channel ${channel.name} (${channel.type}) delivers again`;
  const text = kind === 'notifier-down' ? `Alerts could not be delivered to ${channel.name} after every retry: ${channel.error ?? 'unknown error'}` : `${channel.name} accepted a notification again.`;
  return { version: 1, kind, group, host, status: kind === 'notifier-down' ? 'firing' : 'resolved', title, text, alerts: [], channel, sentAt: new Date(at).toISOString() };
}

export function testNotification(group: string, host: string, at: number): Notification {
  return { version: 1, kind: 'test', group, host, status: 'resolved', title: `[TEST] ${group}: berth monitor test`, text: `A test notification from berth on ${host}: this channel works.`, alerts: [], sentAt: new Date(at).toISOString() };
}

export interface Channel {
  name: string;
  type: NotifierConfig['type'];
  /** Where it goes, without secrets (logs, `berth monitor test`). */
  target: string;
  send(notification: Notification): Promise<void>;
}

const TIMEOUT_MS = 10_000;

/** fetch's own message is "fetch failed": the cause says what (ECONNREFUSED, ENOTFOUND, a timeout). */
export function fetchErrorMessage(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  const message = errorMessage(error);
  return cause && message === 'fetch failed' ? `${message}: ${cause.code ?? cause.message}` : message;
}

async function post(url: string, body: string | Uint8Array, headers: Record<string, string>): Promise<void> {
  const response = await fetch(url, { method: 'POST', body, headers, signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'manual' }).catch((error: unknown) => {
    throw new Error(fetchErrorMessage(error));
  });
  const text = await response.text().catch(() => '');
  if (response.status < 200 || response.status >= 300) throw new Error(`HTTP ${response.status}${text.trim() ? `: ${text.trim().slice(0, 200)}` : ''}`);
}

/** Secrets are read when sent, so a rotated file needs no restart. */
function readSecret(path: string): string {
  return readFileSync(path, 'utf8').trim();
}

/** A URL without its userinfo and query (which may hold tokens). */
function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return url;
  }
}

export function createChannel(config: NotifierConfig): Channel {
  switch (config.type) {
    case 'webhook':
      return {
        name: config.name, type: 'webhook', target: redact(config.url),
        send: (n) => post(config.url, JSON.stringify(n), { 'content-type': 'application/json', 'user-agent': 'berth-agent', ...config.headers }),
      };
    case 'ntfy':
      return {
        name: config.name, type: 'ntfy', target: redact(config.url),
        send: (n) => {
          // ntfy's publish API: the body is the message, headers carry title, priority and tags (ASCII only in headers).
          const critical = n.alerts.some((a) => a.status === 'firing' && a.severity === 'critical') || n.kind === 'notifier-down';
          const headers: Record<string, string> = {
            'content-type': 'text/plain; charset=utf-8',
            title: n.title.replace(/[^\x20-\x7e]/g, '?'),
            priority: String(config.priority ?? (n.status === 'firing' ? (critical ? 5 : 4) : 3)),
            tags: n.kind === 'test' ? 'test_tube' : n.status === 'firing' ? 'rotating_light' : 'white_check_mark',
          };
          if (config.tokenFile) headers.authorization = `Bearer ${readSecret(config.tokenFile)}`;
          return post(config.url, n.text, headers);
        },
      };
    case 'email': {
      const url = new URL(config.smtp);
      let transport: { sendMail(m: Record<string, unknown>): Promise<unknown>; close(): void } | undefined;
      return {
        name: config.name, type: 'email', target: `${redact(config.smtp)} to ${config.to.join(', ')}`,
        send: async (n) => {
          const { createTransport } = await import('nodemailer');
          const user = config.user ?? (decodeURIComponent(url.username) || undefined);
          const pass = config.passwordFile ? readSecret(config.passwordFile) : decodeURIComponent(url.password) || undefined;
          // A transport per message: a password file rotated between alerts is read again.
          transport = createTransport({
            host: url.hostname,
            port: Number(url.port) || (url.protocol === 'smtps:' ? 465 : 587),
            secure: url.protocol === 'smtps:',
            auth: user ? { user, pass } : undefined,
            connectionTimeout: TIMEOUT_MS,
            greetingTimeout: TIMEOUT_MS,
            socketTimeout: TIMEOUT_MS,
          }) as unknown as typeof transport;
          try {
            await transport!.sendMail({ from: config.from, to: config.to, subject: n.title, text: `${n.text}\n\n-- berth agent on ${n.host} (${n.sentAt})\n`, headers: { 'X-Berth-Kind': n.kind, 'X-Berth-Status': n.status } });
          } finally {
            transport!.close();
          }
        },
      };
    }
  }
}

export interface DeliveryOptions {
  /** Waits between attempts (their count + 1 is the number of attempts). Default 1 s, 5 s, 30 s. */
  retryDelaysMs?: number[];
  log?: (line: Record<string, unknown>) => void;
  sleep?: (ms: number) => Promise<void>;
}

export const DEFAULT_RETRY_DELAYS_MS = [1000, 5000, 30_000];

/** Sends with retries and backoff; every failed attempt is logged. Resolves to the final error, or undefined when delivered. */
export async function deliver(channel: Channel, notification: Notification, options: DeliveryOptions = {}): Promise<{ attempts: number; error?: string }> {
  const delays = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let lastError = '';
  for (let attempt = 1; attempt <= delays.length + 1; attempt++) {
    try {
      await channel.send(notification);
      if (attempt > 1) options.log?.({ event: 'notify-delivered', channel: channel.name, attempt, kind: notification.kind, title: notification.title });
      return { attempts: attempt };
    } catch (error) {
      lastError = errorMessage(error);
      const next = delays[attempt - 1];
      options.log?.({ event: 'notify-failed', channel: channel.name, type: channel.type, target: channel.target, attempt, error: lastError, retryInMs: next ?? null, kind: notification.kind, title: notification.title });
      if (next === undefined) break;
      await sleep(next);
    }
  }
  return { attempts: delays.length + 1, error: lastError };
}
