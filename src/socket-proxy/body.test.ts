import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_BODY_RULES, foldKey, judgeBody, judgeQuery, parseForm, parseGoJson, hostPathVerdict, registryOf } from './body.js';

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

test('round 2: every HostConfig field that widens the container is judged', () => {
  const hc = (h: Record<string, unknown>, rules = DEFAULT_BODY_RULES) => judge('container-create', { Image: 'x', HostConfig: h }, rules);
  const cases: [Record<string, unknown>, string][] = [
    [{ DeviceRequests: [{ Count: -1, Capabilities: [['gpu']] }] }, 'body:devices'],
    [{ CgroupParent: '/' }, 'body:cgroup-parent'],
    [{ Cgroup: 'container:abc' }, 'body:container-namespace'],
    [{ Runtime: 'io.containerd.runtime.v1.linux' }, 'body:runtime'],
    [{ Sysctls: { 'net.ipv4.ip_forward': '1' } }, 'body:sysctls'],
    [{ Sysctls: { 'net/ipv4/ip_forward': '1' } }, 'body:sysctls'],
    [{ Capabilities: ['CAP_SYS_ADMIN'] }, 'body:cap-add'],
    [{ Capabilities: ['ALL'] }, 'body:cap-add'],
    [{ Ulimits: [{ Name: 'rtprio', Soft: 99, Hard: 99 }] }, 'body:ulimits'],
    [{ Ulimits: [{ Name: 'memlock', Soft: -1, Hard: -1 }] }, 'body:ulimits'],
    [{ OomKillDisable: true }, 'body:resources'],
    [{ PidsLimit: -1 }, 'body:resources'],
    [{ CpuRealtimeRuntime: 950000 }, 'body:resources'],
    [{ OomScoreAdj: -1000 }, 'body:resources'],
    [{ ShmSize: 64 * 1024 ** 3 }, 'body:shm-size'],
    [{ MaskedPaths: [] }, 'body:security-opt'],
    [{ ReadonlyPaths: [] }, 'body:security-opt'],
    [{ InitPath: '/tmp/evil' }, 'body:init'],
    [{ Isolation: 'process' }, 'body:isolation'],
    [{ UsernsMode: 'host' }, 'body:host-namespace'],
    [{ CgroupnsMode: 'host' }, 'body:host-namespace'],
    [{ Tmpfs: { '/x': 'rw,dev' } }, 'body:tmpfs'],
    [{ Tmpfs: { '/x': 'suid,exec' } }, 'body:tmpfs'],
    [{ Mounts: [{ Type: 'tmpfs', Target: '/x', TmpfsOptions: { Options: [['suid']] } }] }, 'body:tmpfs'],
    [{ Binds: ['/srv/a:/a:rw,rshared'] }, 'body:mount-propagation'],
    [{ Mounts: [{ Type: 'bind', Source: '/srv/a', Target: '/a', BindOptions: { Propagation: 'shared' } }] }, 'body:mount-propagation'],
    [{ VolumeDriver: 'rexray' }, 'body:volume-driver'],
    [{ Mounts: [{ Type: 'volume', Source: 'v', Target: '/v', VolumeOptions: { DriverConfig: { Name: 'sshfs' } } }] }, 'body:volume-driver'],
    [{ Mounts: [{ Type: 'cluster', Source: 'v', Target: '/v' }] }, 'body:mount'],
    [{ LogConfig: { Type: 'gelf', Config: { 'gelf-address': 'udp://10.0.0.1:12201' } } }, 'body:log-driver'],
    [{ Annotations: { 'run.oci.keep_original_groups': '1' } }, 'body:annotations'],
  ];
  const rules = { ...DEFAULT_BODY_RULES, allowedBindRoots: ['/srv'] };
  for (const [h, rule] of cases) denied(hc(h, rules), rule);
  assert.equal(hc({ PidsLimit: 0 }).allow, true, 'the docker CLI sends 0 when no limit is asked for');
  // Also at the deprecated top level and in an update.
  denied(judge('container-create', { Image: 'x', CgroupParent: '/' }), 'body:cgroup-parent');
  denied(judge('container-update', { PidsLimit: -1 }), 'body:resources');
  // Allowed on purpose: narrowing settings and the defaults' spellings.
  const fine = { Binds: ['/srv/a:/a:ro,rprivate'], CapDrop: ['ALL'], Capabilities: ['CHOWN', 'CAP_KILL'], Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 2048 }], PidsLimit: 200, ShmSize: 64 * 1024 ** 2, Runtime: 'runc', Isolation: 'default', LogConfig: { Type: 'json-file', Config: { 'max-size': '10m' } }, Tmpfs: { '/run': 'rw,noexec,nosuid,nodev,size=1m' }, Mounts: [{ Type: 'image', Source: 'busybox', Target: '/img' }], OomScoreAdj: 500, Init: true, CpuRealtimeRuntime: 0, OomKillDisable: false, Memory: 1 << 28, ReadonlyRootfs: true, Dns: ['1.1.1.1'], ExtraHosts: ['a:1.2.3.4'] };
  assert.deepEqual(hc(fine, rules), { allow: true });
  // Each relaxation has its switch.
  assert.equal(hc({ Sysctls: { 'net.ipv4.ip_forward': '1' } }, { ...rules, allowedSysctls: ['net.ipv4.*'] }).allow, true);
  assert.equal(hc({ Runtime: 'runsc' }, { ...rules, allowedRuntimes: ['runc', 'runsc'] }).allow, true);
  assert.equal(hc({ OomKillDisable: true }, { ...rules, allowResourceRelaxations: true }).allow, true);
  assert.equal(hc({ CgroupParent: '/app' }, { ...rules, allowCgroupParent: true }).allow, true);
  assert.equal(hc({ DeviceRequests: [{ Count: -1 }] }, { ...rules, allowDevices: true }).allow, true);
});

test('round 2: network endpoints (create, connect, services): aliases, static addresses, driver options', () => {
  const connect = (ep: Record<string, unknown>, rules = DEFAULT_BODY_RULES) => judge('network-connect', { Container: 'c', EndpointConfig: ep }, rules);
  denied(connect({ Aliases: ['db'] }), 'body:network-alias');
  denied(connect({ IPAMConfig: { IPv4Address: '172.18.0.5' } }), 'body:static-address');
  denied(connect({ IPAMConfig: { LinkLocalIPs: ['169.254.0.9'] } }), 'body:static-address');
  denied(connect({ MacAddress: '02:42:ac:11:00:02' }), 'body:static-address');
  denied(connect({ DriverOpts: { 'com.docker.network.endpoint.sysctls': 'net.ipv4.conf.IFNAME.forwarding=1' } }), 'body:driver-opts');
  assert.equal(connect({ Links: ['other:alias'] }).allow, true, 'links change only this container\'s own view');
  assert.equal(connect({ Aliases: ['db'] }, { ...DEFAULT_BODY_RULES, allowNetworkAliases: true }).allow, true);
  assert.equal(judge('network-connect', { Container: 'c' }).allow, true);
  denied(judge('container-create', { Image: 'x', NetworkingConfig: { EndpointsConfig: { net: { Aliases: ['db'] } } } }), 'body:network-alias');
  denied(judge('container-create', { Image: 'x', MacAddress: '02:42:ac:11:00:02' }), 'body:static-address');
  denied(judge('service', { TaskTemplate: { ContainerSpec: { Image: 'x' }, Networks: [{ Target: 'n', Aliases: ['db'] }] } }), 'body:network-alias');
  denied(judge('service', { TaskTemplate: { ContainerSpec: { Image: 'x', Sysctls: { 'net.ipv4.ip_forward': '1' } } } }), 'body:sysctls');
  denied(judge('service', { TaskTemplate: { ContainerSpec: { Image: 'x', Ulimits: [{ Name: 'rtprio', Soft: 1, Hard: 1 }] } } }), 'body:ulimits');
});

test('round 2: exec create (Privileged; User root when the policy says so) and volume drivers', () => {
  const strictExec = { ...DEFAULT_BODY_RULES, denyExecAsRoot: true };
  assert.equal(judge('exec-create', { Cmd: ['sh'] }).allow, true, 'default policy: exec as the default user');
  for (const User of [undefined, '', 'root', '0', '0:0', 'root:wheel', '000']) denied(judge('exec-create', { Cmd: ['sh'], User }, strictExec), 'body:exec-user');
  assert.equal(judge('exec-create', { Cmd: ['sh'], User: '1000:1000' }, strictExec).allow, true);
  assert.equal(judge('exec-create', { Cmd: ['sh'], User: 'app' }, strictExec).allow, true);
  denied(judge('exec-create', { Cmd: ['sh'], Privileged: true, User: 'app' }, strictExec), 'body:privileged');
  denied(judge('volume-create', { Name: 'v', Driver: 'sshfs', DriverOpts: { sshcmd: 'u@h:/' } }), 'body:volume-driver');
  assert.equal(judge('volume-create', { Name: 'v', Driver: 'sshfs' }, { ...DEFAULT_BODY_RULES, allowedVolumeDrivers: ['local', 'sshfs'] }).allow, true);
  assert.equal(judge('volume-create', { Name: 'v' }).allow, true);
});

test('round 2: query rules: fromSrc, remote, registries, build settings; form bodies and duplicates', () => {
  const q = (kind: 'image-create' | 'build' | 'registry-name', query: string, rules = DEFAULT_BODY_RULES, route = '/images/create') => judgeQuery(kind, parseForm(query), route, rules);
  denied(q('image-create', 'fromSrc=http%3A%2F%2F10.0.0.1%2Fx.tar&repo=x'), 'query:from-src');
  denied(q('image-create', 'fromSrc=-&fromSrc=http://x'), 'query:from-src');
  denied(q('image-create', 'from%53rc=http://x'), 'query:from-src');
  denied(q('image-create', 'fromImage=x;fromSrc=http://x'), 'query:from-src');
  denied(q('image-create', 'FROMSRC=http://x'), 'query:from-src');
  denied(q('image-create', 'fromSrc=%zz'), 'query:malformed');
  assert.equal(q('image-create', 'fromSrc=-&repo=x').allow, true, 'an upload is not a fetch');
  assert.equal(q('image-create', 'fromSrc=http://x', { ...DEFAULT_BODY_RULES, allowImportFromUrl: true }).allow, true);
  const registries = { ...DEFAULT_BODY_RULES, allowedRegistries: ['docker.io', 'ghcr.io'] };
  assert.equal(q('image-create', 'fromImage=busybox&tag=latest', registries).allow, true);
  assert.equal(q('image-create', 'fromImage=library/busybox', registries).allow, true);
  assert.equal(q('image-create', 'fromImage=index.docker.io/library/busybox', registries).allow, true);
  assert.equal(q('image-create', 'fromImage=ghcr.io/o/i', registries).allow, true);
  denied(q('image-create', 'fromImage=evil.example/i', registries), 'query:registry');
  denied(q('image-create', 'fromImage=localhost/i', registries), 'query:registry');
  denied(q('image-create', 'fromImage=busybox&fromImage=evil.example:5000/i', registries), 'query:registry');
  denied(q('registry-name', '', registries, '/images/evil.example/x/push'), 'query:registry');
  assert.equal(q('registry-name', '', registries, '/images/ghcr.io/o/x/push').allow, true);
  denied(q('registry-name', '', registries, '/distribution/evil.example/x/json'), 'query:registry');
  assert.equal(registryOf('Evil/x'), 'evil', 'an upper-case first part is a registry host, as the reference library reads it');
  denied(q('build', 'remote=https://github.com/x/y.git'), 'query:remote');
  denied(q('build', 't=x&remote=http%3A%2F%2F169.254.169.254%2F'), 'query:remote');
  assert.equal(q('build', 'remote=client-session&t=x').allow, true);
  assert.equal(q('build', 'remote=https://x', { ...DEFAULT_BODY_RULES, allowRemoteBuild: true }).allow, true);
  denied(q('build', 'networkmode=host'), 'body:host-namespace');
  denied(q('build', 'networkmode=container:abc'), 'body:container-namespace');
  denied(q('build', 'cgroupparent=%2F'), 'body:cgroup-parent');
  denied(q('build', 'ulimits=%5B%7B%22Name%22%3A%22rtprio%22%2C%22Soft%22%3A1%2C%22Hard%22%3A1%7D%5D'), 'body:ulimits');
  denied(q('build', `shmsize=${64 * 1024 ** 3}`), 'body:shm-size');
  assert.equal(q('build', 't=app%3A1&networkmode=default&buildargs=%7B%7D').allow, true);
});
