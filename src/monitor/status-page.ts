/**
 * The status page, pure: a snapshot of the project (every service from the compose model and the
 * containers' labels, nothing to configure) and its rendering as one self-contained HTML page:
 * server-rendered (it shows the state without JavaScript, and to curl), no external assets,
 * light/dark by prefers-color-scheme, landmarks, a table with headers, state in words as well as
 * colour. Two views: public (service names and states only, built from a whitelist, never by
 * deleting fields from the admin data) and admin (replicas, containers, images, probes, deploys,
 * backups, open alerts, planned stops).
 */
import { barState, uptime, type Bar, type BarState, type ServiceHealth } from './history.js';
import type { ContainerRecord } from './state.js';

export interface ServiceRow {
  name: string;
  state: ServiceHealth;
  /** Words for the state: "up", "2 of 3 healthy", "down: 1 unhealthy", "planned stop: rollout app". */
  detail: string;
  desired: number | undefined;
  running: number;
  healthy: number;
  containers: Array<{ name: string; image: string; status: string; health: string; startedAt: number | null }>;
  probe?: { url: string; ok: boolean; ms: number; statusCode: number; error?: string };
  bars24h: Bar[];
  bars7d: Bar[];
}

export interface StatusSnapshot {
  project: string;
  title: string;
  generatedAt: number;
  services: ServiceRow[];
  alerts: Array<{ name: string; severity: string; summary: string; since: number; held: boolean }>;
  silences: Array<{ service: string | undefined; reason: string; user: string; since: number }>;
  deploys: Array<{ id: number; service: string; kind: string; user: string; result: string; startedAt: string; durationMs: number | null; image: string | null }>;
  backups: Array<{ target: string; at: string; id: string; sizeBytes: number | null; destination: string }>;
  /** Targets with no verified backup yet. */
  backupsMissing: string[];
  engine: { up: boolean; eventsStreamUp: boolean };
}

/** The public view's data: names and states, and nothing else. */
export interface PublicSnapshot {
  project: string;
  title: string;
  generatedAt: number;
  services: Array<{ name: string; state: ServiceHealth; bars24h: Bar[]; bars7d: Bar[] }>;
}

export function publicSnapshot(s: StatusSnapshot): PublicSnapshot {
  return {
    project: s.project,
    title: s.title,
    generatedAt: s.generatedAt,
    services: s.services.map((row) => ({ name: row.name, state: row.state, bars24h: row.bars24h, bars7d: row.bars7d })),
  };
}

/** Pure: a service's state from its containers, the desired replicas and whether a planned stop holds it. */
export function serviceHealth(desired: number | undefined, containers: ContainerRecord[], planned: string | undefined): { state: ServiceHealth; detail: string; running: number; healthy: number } {
  const running = containers.filter((c) => c.status === 'running');
  const healthy = running.filter((c) => c.health === 'healthy' || c.health === 'none').length;
  const unhealthy = running.filter((c) => c.health === 'unhealthy').length;
  const want = desired ?? Math.max(1, containers.length);
  let state: ServiceHealth;
  let detail: string;
  if (want === 0) [state, detail] = ['up', 'scaled to 0'];
  else if (healthy >= want && unhealthy === 0) [state, detail] = ['up', 'up'];
  else if (healthy === 0) [state, detail] = ['down', unhealthy ? `down: ${unhealthy} unhealthy` : running.length ? `down: ${running.length} starting` : 'down: not running'];
  else [state, detail] = ['degraded', `${healthy} of ${want} healthy${unhealthy ? `, ${unhealthy} unhealthy` : ''}`];
  if (state !== 'up' && planned) [state, detail] = ['planned', `planned stop: ${planned}`];
  return { state, detail, running: running.length, healthy };
}

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const STATE_WORDS: Record<ServiceHealth, string> = { up: 'Up', degraded: 'Degraded', down: 'Down', planned: 'Planned stop' };
const BAR_WORDS: Record<BarState, string> = { up: 'up', degraded: 'degraded', down: 'down', planned: 'planned stop', none: 'no data' };

function ago(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 90) return `${s}s ago`;
  if (s < 5400) return `${Math.round(s / 60)}m ago`;
  if (s < 172_800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86_400)}d ago`;
}

/** A history bar as one small SVG: runs of the same state merged into one rect (the page stays light). */
function historySvg(bars: Bar[], label: string): string {
  const runs: Array<{ from: number; to: number; state: BarState }> = [];
  bars.forEach((bar, i) => {
    const state = barState(bar);
    const last = runs[runs.length - 1];
    if (last && last.state === state) last.to = i + 1;
    else runs.push({ from: i, to: i + 1, state });
  });
  const up = uptime(bars);
  const outages = runs.filter((r) => r.state === 'down').length;
  const summary = `${label}: ${up === undefined ? 'no data' : `${(up * 100).toFixed(up === 1 ? 0 : 2)}% up`}${outages ? `, ${outages} outage${outages > 1 ? 's' : ''}` : ''}`;
  const rects = runs.map((r) => `<rect class="b-${r.state}" x="${r.from}" width="${r.to - r.from - (r.to < bars.length ? 0.15 : 0)}" height="1"><title>${esc(BAR_WORDS[r.state])}</title></rect>`).join('');
  return `<svg class="bar" viewBox="0 0 ${bars.length} 1" preserveAspectRatio="none" role="img" aria-label="${esc(summary)}">${rects}</svg><span class="up">${esc(summary.slice(label.length + 2))}</span>`;
}

function serviceRows(rows: Array<{ name: string; state: ServiceHealth; bars24h: Bar[]; bars7d: Bar[] } & Partial<ServiceRow>>, admin: boolean, now: number): string {
  return rows
    .map((r) => {
      const containers = admin && r.containers
        ? `<ul class="ctr">${r.containers.map((c) => `<li><span class="mono">${esc(c.name)}</span> ${esc(c.status)}${c.health !== 'none' ? `, ${esc(c.health)}` : ''}${c.startedAt ? `, up since ${esc(ago(c.startedAt * 1000, now))}` : ''}<br><span class="dim mono">${esc(c.image)}</span></li>`).join('')}</ul>`
        : '';
      const probe = admin && r.probe ? `<div class="dim">probe ${esc(r.probe.url)}: ${r.probe.ok ? `${esc(Math.round(r.probe.ms))} ms` : `failing (${esc(r.probe.error ?? `HTTP ${r.probe.statusCode}`)})`}</div>` : '';
      const replicas = admin ? `<td class="num">${esc(r.running ?? 0)}/${esc(r.desired ?? '?')}</td>` : '';
      const latency = admin ? `<td class="num">${r.probe ? (r.probe.ok ? `${esc(Math.round(r.probe.ms))} ms` : 'failing') : '<span class="dim">–</span>'}</td>` : '';
      return `<tr data-service="${esc(r.name)}" data-state="${r.state}"><th scope="row">${esc(r.name)}${containers}${probe}</th><td><span class="pill s-${r.state}">${esc(STATE_WORDS[r.state])}</span>${admin && r.detail && r.detail !== 'up' ? `<div class="dim">${esc(r.detail)}</div>` : ''}</td>${replicas}${latency}<td class="hist">${historySvg(r.bars24h, '24 hours')}</td><td class="hist">${historySvg(r.bars7d, '7 days')}</td></tr>`;
    })
    .join('');
}

/** The part of the page live updates replace (inside <main>). */
export function renderLive(snapshot: StatusSnapshot | PublicSnapshot, admin: boolean): string {
  const now = snapshot.generatedAt;
  const services = snapshot.services;
  const down = services.filter((s) => s.state === 'down').length;
  const degraded = services.filter((s) => s.state === 'degraded').length;
  const planned = services.filter((s) => s.state === 'planned').length;
  const overall = down ? 'down' : degraded ? 'degraded' : planned ? 'planned' : 'up';
  const overallText = down || degraded
    ? [down ? `${down} service${down > 1 ? 's' : ''} down` : '', degraded ? `${degraded} degraded` : ''].filter(Boolean).join(', ')
    : planned ? 'Planned maintenance in progress' : 'All services are up';
  const head = `<section aria-labelledby="overall" class="overall o-${overall}"><h2 id="overall">${esc(overallText)}</h2><p class="dim">Updated <time datetime="${new Date(now).toISOString()}">${esc(new Date(now).toISOString().replace('T', ' ').slice(0, 19))} UTC</time></p></section>`;
  const table = `<section aria-labelledby="svc-h"><h2 id="svc-h">Services</h2><div class="scroll"><table><caption class="sr">Services of ${esc(snapshot.project)}: state now and over the last 24 hours and 7 days</caption><thead><tr><th scope="col">Service</th><th scope="col">State</th>${admin ? '<th scope="col">Replicas</th><th scope="col">Probe</th>' : ''}<th scope="col">24 hours</th><th scope="col">7 days</th></tr></thead><tbody>${serviceRows(services, admin, now)}</tbody></table></div></section>`;
  if (!admin || !('alerts' in snapshot)) return head + table;
  const s = snapshot;
  const alerts = `<section aria-labelledby="al-h"><h2 id="al-h">Open alerts</h2>${s.alerts.length ? `<ul class="list">${s.alerts.map((a) => `<li data-alert="${esc(a.name)}"><span class="pill s-${a.severity === 'critical' ? 'down' : 'degraded'}">${esc(a.severity)}</span> <strong>${esc(a.name)}</strong>: ${esc(a.summary)} <span class="dim">since ${esc(ago(a.since, now))}${a.held ? ', during a planned stop' : ''}</span></li>`).join('')}</ul>` : '<p class="dim">None.</p>'}${s.silences.length ? `<h3>Planned stops</h3><ul class="list">${s.silences.map((x) => `<li>${esc(x.reason)} <span class="dim">by ${esc(x.user)}, ${esc(ago(x.since, now))}</span></li>`).join('')}</ul>` : ''}${s.engine.up ? '' : '<p class="pill s-down">The agent cannot reach the Docker engine</p>'}</section>`;
  const deploys = `<section aria-labelledby="dp-h"><h2 id="dp-h">Last deploys</h2>${s.deploys.length ? `<div class="scroll"><table><thead><tr><th scope="col">#</th><th scope="col">Service</th><th scope="col">What</th><th scope="col">Who</th><th scope="col">When</th><th scope="col">Result</th></tr></thead><tbody>${s.deploys.map((d) => `<tr data-deploy="${d.id}"><td class="num">${d.id}</td><td>${esc(d.service)}</td><td>${esc(d.kind)} <span class="mono dim">${esc(d.image ?? '')}</span></td><td>${esc(d.user)}</td><td><time datetime="${esc(d.startedAt)}">${esc(ago(Date.parse(d.startedAt), now))}</time></td><td><span class="pill s-${d.result === 'succeeded' ? 'up' : d.result === 'running' ? 'planned' : 'down'}">${esc(d.result)}</span></td></tr>`).join('')}</tbody></table></div>` : '<p class="dim">No deploys recorded.</p>'}</section>`;
  const backups = `<section aria-labelledby="bk-h"><h2 id="bk-h">Backups</h2>${s.backups.length || s.backupsMissing.length ? `<ul class="list">${s.backups.map((b) => `<li><strong>${esc(b.target)}</strong>: newest verified ${esc(ago(Date.parse(b.at), now))} <span class="dim mono">${esc(b.id)} → ${esc(b.destination)}</span></li>`).join('')}${s.backupsMissing.map((t) => `<li><strong>${esc(t)}</strong>: <span class="pill s-down">no verified backup</span></li>`).join('')}</ul>` : '<p class="dim">No backup targets.</p>'}</section>`;
  return head + table + alerts + deploys + backups;
}

const CSS = `:root{color-scheme:light dark;--bg:#fff;--fg:#1f2328;--dim:#59636e;--line:#d1d9e0;--card:#f6f8fa;--up:#1a7f37;--degraded:#9a6700;--down:#cf222e;--planned:#0969da;--none:#d1d9e0;--on:#fff}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--dim:#9198a1;--line:#3d444d;--card:#151b23;--up:#3fb950;--degraded:#d29922;--down:#f85149;--planned:#4493f8;--none:#3d444d;--on:#0d1117}}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif}
header,main,footer{max-width:68rem;margin:0 auto;padding:0 1rem}header{display:flex;flex-wrap:wrap;align-items:baseline;justify-content:space-between;gap:.5rem;padding-top:1rem}
h1{font-size:1.4rem;margin:.3rem 0}h2{font-size:1.15rem;margin:1.4rem 0 .5rem}h3{font-size:1rem}a{color:var(--planned)}a:focus-visible,button:focus-visible,input:focus-visible{outline:3px solid var(--planned);outline-offset:2px}
.skip{position:absolute;left:-9999px}.skip:focus{left:1rem;top:.5rem;background:var(--bg);padding:.3rem}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}.dim{color:var(--dim);font-size:.875rem}.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.8rem;word-break:break-all}
.overall{border:1px solid var(--line);border-left:6px solid var(--up);border-radius:6px;padding:.3rem 1rem;background:var(--card)}.overall h2{margin:.4rem 0 0}.o-down{border-left-color:var(--down)}.o-degraded{border-left-color:var(--degraded)}.o-planned{border-left-color:var(--planned)}
.scroll{overflow-x:auto}tbody th[scope=row]{min-width:13rem}table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:.5rem .4rem;border-bottom:1px solid var(--line)}thead th{font-size:.8rem;color:var(--dim);font-weight:600}.num{text-align:right;white-space:nowrap}
.pill{display:inline-block;border-radius:1rem;padding:0 .6rem;font-size:.8rem;font-weight:600;color:var(--on);white-space:nowrap}.s-up{background:var(--up)}.s-degraded{background:var(--degraded)}.s-down{background:var(--down)}.s-planned{background:var(--planned)}
.hist{min-width:9rem}.bar{display:block;width:100%;height:1.4rem}.b-up{fill:var(--up)}.b-degraded{fill:var(--degraded)}.b-down{fill:var(--down)}.b-planned{fill:var(--planned)}.b-none{fill:var(--none)}.up{font-size:.75rem;color:var(--dim)}
.ctr,.list{margin:.3rem 0;padding-left:1.1rem;font-weight:400}.ctr li{font-size:.85rem}.list li{margin:.3rem 0}
footer{margin-top:2rem;padding-bottom:2rem;font-size:.8rem;color:var(--dim)}#live-state{font-size:.8rem;color:var(--dim)}
@media (max-width:40rem){.hist{min-width:5rem}th,td{padding:.4rem .2rem}}`;

/** The live-update script: server-sent events replace <main>'s content with the server's rendering. */
const SCRIPT = `(function(){var m=document.getElementById('live'),s=document.getElementById('live-state');if(!window.EventSource||!m)return;var es=new EventSource(m.getAttribute('data-events'));es.onmessage=function(e){var d=JSON.parse(e.data);if(d.html!==undefined){m.innerHTML=d.html;}s.textContent='Live';};es.onerror=function(){s.textContent='Reconnecting…';};})();`;

export interface RenderOptions {
  admin: boolean;
  /** CSP nonce of the inline script. */
  nonce: string;
  eventsPath: string;
  /** Show a link to the admin sign-in (a token is configured). */
  canSignIn: boolean;
}

export function renderPage(snapshot: StatusSnapshot | PublicSnapshot, options: RenderOptions): string {
  const { admin } = options;
  const auth = admin
    ? '<form method="post" action="/status/logout"><button type="submit">Sign out</button></form>'
    : options.canSignIn ? '<a href="/status/login">Admin sign-in</a>' : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="color-scheme" content="light dark"><title>${esc(snapshot.title)} status</title><noscript><meta http-equiv="refresh" content="30"></noscript><style nonce="${esc(options.nonce)}">${CSS}</style></head><body><a class="skip" href="#live">Skip to the status</a><header><div><h1>${esc(snapshot.title)}</h1><span class="dim">${admin ? 'Admin view' : 'Status'} · <span id="live-state" role="status">Live updates need JavaScript; this page reloads every 30 s</span></span></div><nav aria-label="Account">${auth}</nav></header><main id="live" data-events="${esc(options.eventsPath)}" tabindex="-1">${renderLive(snapshot, admin)}</main><footer>Served by the berth agent. Health history: 15-minute buckets, kept 7 days.</footer><script nonce="${esc(options.nonce)}">${SCRIPT}</script></body></html>`;
}

export function renderLogin(error: string | undefined, nonce: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="color-scheme" content="light dark"><title>Sign in</title><style nonce="${esc(nonce)}">${CSS}</style></head><body><main><h1>Status page: admin sign-in</h1>${error ? `<p role="alert" class="pill s-down">${esc(error)}</p>` : ''}<form method="post" action="/status/login"><p><label for="token">Admin token</label><br><input id="token" name="token" type="password" autocomplete="current-password" required></p><p><button type="submit">Sign in</button></p></form><p><a href="/status">Back to the status</a></p></main></body></html>`;
}
