import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_BODY_RULES, foldKey, judgeBody, parseGoJson, hostPathVerdict } from './body.js';

const judge = (kind: Parameters<typeof judgeBody>[0], body: unknown, rules = DEFAULT_BODY_RULES) =>
  judgeBody(kind, Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), rules);
const denied = (v: ReturnType<typeof judgeBody>, rule?: string) => {
  assert.equal(v.allow, false);
  if (rule && !v.allow) assert.equal(v.rule, rule);
};

test('Go key folding: ASCII case, long s and Kelvin sign', () => {
  assert.equal(foldKey('Privileged'), 'privileged');
  assert.equal(foldKey('PRIVILEGED'), 'privileged');
  assert.equal(foldKey('Devi\u017Fes'), 'devises');
  assert.equal(foldKey('\u212Aey'), 'key');
  // Dotless i is not a Go fold of i, but we fold it too (wider is safe: it only finds more).
  assert.equal(foldKey('Privıleged'), 'privileged');
});

test('duplicate keys after folding are rejected (Go takes the last one)', () => {
  denied(judge('container-create', '{"HostConfig":{"Privileged":false,"privileged":true}}'), 'body:json');
  denied(judge('container-create', '{"HostConfig":{"Privileged":false,"Privileged":true}}'), 'body:json');
  denied(judge('container-create', '{"HostConfig":{"Devices":[],"Device\u017F":[{"PathOnHost":"/dev/sda"}]}}'), 'body:json');
  denied(judge('container-create', '{"HostConfig":{"Privileged":false},"hostconfig":{"Privileged":true}}'), 'body:json');
  assert.throws(() => parseGoJson(Buffer.from('{"a":1,"A":2}')));
  assert.throws(() => parseGoJson(Buffer.from('{"a":1} {"b":2}')));
  assert.throws(() => parseGoJson(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])));
});

test('Unicode-folded field names are seen as the daemon sees them', () => {
  denied(judge('container-create', '{"HostConfig":{"Privıleged":true}}'), 'body:privileged');
  denied(judge('container-create', '{"HostConfig":{"CapAdd":["SYS_ADMIN"]}}'.replace('CapAdd', 'CapAdd')), 'body:cap-add');
  denied(judge('container-create', '{"HostConfig":{"Binds":["/:/host"]}}'.replace('Binds', 'Bind\u017F')), 'body:docker-socket');
  denied(judge('container-create', '{"hostconfig":{"\\u0050rivileged":true}}'), 'body:privileged');
  denied(judge('container-create', '{"HostConfig":{"NetworkMode":"host"}}'.replace('NetworkMode', 'Networ\u212AMode')), 'body:host-namespace');
});

test('container create: privileged, binds, socket, caps, namespaces, devices, security options', () => {
  assert.equal(judge('container-create', { Image: 'x', HostConfig: { Binds: ['data:/data'], NetworkMode: 'bridge' } }).allow, true);
  assert.equal(judge('container-create', '').allow, true);
  denied(judge('container-create', { HostConfig: { Privileged: true } }), 'body:privileged');
  denied(judge('container-create', { Privileged: true }), 'body:privileged'); // 20.10's deprecated top-level HostConfig
  denied(judge('container-create', { HostConfig: { Binds: ['/etc:/x'] } }), 'body:bind');
  denied(judge('container-create', { HostConfig: { Binds: ['/var/run/docker.sock:/var/run/docker.sock'] } }), 'body:docker-socket');
  denied(judge('container-create', { HostConfig: { Binds: ['/var/run:/r'] } }), 'body:docker-socket');
  denied(judge('container-create', { HostConfig: { Binds: ['/srv/../var/run/docker.sock:/s'] } }, { ...DEFAULT_BODY_RULES, allowedBindRoots: ['/srv'] }));
  assert.equal(judge('container-create', { HostConfig: { Binds: ['/srv/app:/app:ro'] } }, { ...DEFAULT_BODY_RULES, allowedBindRoots: ['/srv'] }).allow, true);
  denied(judge('container-create', { HostConfig: { Mounts: [{ Type: 'bind', Source: '/', Target: '/h' }] } }), 'body:docker-socket');
  denied(judge('container-create', { HostConfig: { Mounts: [{ Type: 'volume', Target: '/h', VolumeOptions: { DriverConfig: { Options: { type: 'none', o: 'bind', device: '/etc' } } } }] } }), 'body:volume-bind');
  denied(judge('container-create', { HostConfig: { VolumesFrom: ['other'] } }), 'body:volumes-from');
  denied(judge('container-create', { HostConfig: { CapAdd: ['NET_ADMIN'] } }), 'body:cap-add');
  assert.equal(judge('container-create', { HostConfig: { CapAdd: ['NET_ADMIN'] } }, { ...DEFAULT_BODY_RULES, allowedCapabilities: ['NET_ADMIN'] }).allow, true);
  for (const f of ['NetworkMode', 'PidMode', 'IpcMode', 'UsernsMode', 'UTSMode']) denied(judge('container-create', { HostConfig: { [f]: 'host' } }), 'body:host-namespace');
  denied(judge('container-create', { HostConfig: { NetworkMode: 'container:abc' } }), 'body:container-namespace');
  denied(judge('container-create', { HostConfig: { PidMode: 'container:abc' } }), 'body:container-namespace');
  assert.equal(judge('container-create', { HostConfig: { NetworkMode: 'container:abc' } }, { ...DEFAULT_BODY_RULES, allowContainerNamespaces: true }).allow, true);
  denied(judge('container-create', { HostConfig: { Devices: [{ PathOnHost: '/dev/sda', PathInContainer: '/dev/sda' }] } }), 'body:devices');
  for (const o of ['seccomp=unconfined', 'seccomp:unconfined', 'apparmor=unconfined', 'label=disable', 'label:disable', 'no-new-privileges=false', 'no-new-privileges:false']) {
    denied(judge('container-create', { HostConfig: { SecurityOpt: [o] } }), 'body:security-opt');
  }
  assert.equal(judge('container-create', { HostConfig: { SecurityOpt: ['no-new-privileges:true'] } }).allow, true);
});

test('exec, update, volumes, services, plugins, swarm join', () => {
  denied(judge('exec-create', { Cmd: ['sh'], Privileged: true }), 'body:privileged');
  assert.equal(judge('exec-create', { Cmd: ['sh'] }).allow, true);
  denied(judge('container-update', { Devices: [{ PathOnHost: '/dev/mem' }] }), 'body:devices');
  denied(judge('volume-create', { Name: 'v', Driver: 'local', DriverOpts: { type: 'none', o: 'bind', device: '/etc' } }), 'body:volume-bind');
  assert.equal(judge('volume-create', { Name: 'v', DriverOpts: { type: 'nfs', o: 'addr=10.0.0.1', device: ':/export' } }).allow, true);
  denied(judge('service', { TaskTemplate: { ContainerSpec: { Mounts: [{ Type: 'bind', Source: '/var/run/docker.sock', Target: '/s' }] } } }), 'body:docker-socket');
  denied(judge('service', { TaskTemplate: { ContainerSpec: { CapabilityAdd: ['SYS_ADMIN'] } } }), 'body:cap-add');
  denied(judge('service', { TaskTemplate: { ContainerSpec: { Image: 'x' }, Networks: [{ Target: 'host' }] } }), 'body:host-namespace');
  assert.equal(judge('service', { TaskTemplate: { ContainerSpec: { Image: 'x', Mounts: [{ Type: 'volume', Source: 'data', Target: '/d' }] }, Networks: [{ Target: 'backend' }] } }).allow, true);
  denied(judge('plugin-privileges', [{ Name: 'mount', Value: ['/'] }]), 'body:plugin');
  denied(judge('swarm-join', { RemoteAddrs: ['1.2.3.4:2377'] }), 'body:swarm-join');
});

test('host path checks', () => {
  assert.equal(hostPathVerdict('/', { ...DEFAULT_BODY_RULES, allowedBindRoots: ['/'] }).allow, false);
  assert.equal(hostPathVerdict('/srv//x', { ...DEFAULT_BODY_RULES, allowedBindRoots: ['/srv'] }).allow, false);
  assert.equal(hostPathVerdict('/srvx', { ...DEFAULT_BODY_RULES, allowedBindRoots: ['/srv'] }).allow, false);
});
