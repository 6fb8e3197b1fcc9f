const { loadProject } = await import('./dist/compose/load.js');
const { lintProject, allRules } = await import('./dist/check/run.js');
const p = await loadProject({ cwd: 'test/stacks/paperless', lenient: true });
for (let i = 0; i < 50; i++) lintProject(p, { images: new Map() });
const times = {};
for (const r of allRules) {
  const t = performance.now();
  for (let i = 0; i < 100; i++) lintProject(p, { images: new Map(), only: [r.id] });
  times[r.id] = (performance.now() - t) / 100;
}
console.log(Object.entries(times).sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, v]) => `${k} ${v.toFixed(2)}`).join('\n'));
